"""Known-answer data for the pretext tasks: images made so that each task can be solved, and
solved only by learning what the task is about (tests/trainables/test_pretext_tasks*.py).

Every generator is deterministic given its ``torch.Generator`` and returns ``(N, 3, S, S)``
images in [0, 1]. :data:`KNOWN_ANSWER_DATA` names the data each registered task learns on; a
task registered without an entry there fails the parametrised test with a message saying to
add one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ImageMaker = Callable[[int, int, torch.Generator], torch.Tensor]

# a palette whose lightness rises with t while its hue turns (navy → crimson → orange → pale
# yellow): the colour of a pixel is a function of its lightness, and not a constant one
PALETTE = torch.tensor([[0.05, 0.05, 0.35], [0.65, 0.05, 0.20], [0.95, 0.55, 0.05],
                        [1.00, 0.95, 0.70]])


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    return torch.meshgrid(c, c, indexing="ij")  # rows (y), columns (x)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _colours(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and background colours ``(N, 3)`` that differ in every channel by ≥ 0.3."""
    bg = _uniform(n * 3, 0.05, 0.35, g).reshape(n, 3)
    fg = _uniform(n * 3, 0.65, 0.95, g).reshape(n, 3)
    swap = torch.rand(n, 1, generator=g) < 0.5
    return torch.where(swap, bg, fg), torch.where(swap, fg, bg)


def _noisy(x: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0.0, 1.0)


def disc_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """One large disc per image near the centre, random colours: every tile or patch shows a
    part of its rim whose direction says where the tile lies (jigsaw, context)."""
    yy, xx = _grid(size)
    cy, cx = _uniform(n, -0.15, 0.15, g), _uniform(n, -0.15, 0.15, g)
    r = _uniform(n, 0.45, 0.65, g)
    inside = ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2
              <= r[:, None, None] ** 2).float()[:, None]  # N x 1 x S x S
    fg, bg = _colours(n, g)
    img = inside * fg[:, :, None, None] + (1 - inside) * bg[:, :, None, None]
    return _noisy(img, 0.03, g)


def square_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """One large filled square per image, centred, its edges about 0.7 of the half-side from
    the centre: where the outer patches of a 3×3 layout sit, so each of the 8 neighbours of
    the central patch shows its own piece (an edge with the square on one side, or a corner)
    and the pair tells the neighbour's position (context)."""
    yy, xx = _grid(size)
    c = _uniform(n, -0.05, 0.05, g)[:, None, None]
    half = _uniform(n, 0.6, 0.8, g)[:, None, None]
    inside = (((yy - c).abs() <= half) & ((xx - c).abs() <= half)).float()[:, None]
    fg, bg = _colours(n, g)
    img = inside * fg[:, :, None, None] + (1 - inside) * bg[:, :, None, None]
    return _noisy(img, 0.03, g)


def upright_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """A bright band along the top and a dark square in the lower left, on a random colour:
    upright, so every rotation by 90° is told apart (rotation tasks)."""
    yy, xx = _grid(size)
    band = (yy < -0.5).float()
    square = ((yy > 0.2) & (yy < 0.7) & (xx > -0.7) & (xx < -0.2)).float()
    base = _uniform(n * 3, 0.3, 0.6, g).reshape(n, 3, 1, 1)
    img = base + 0.4 * band - 0.25 * square
    return _noisy(img, 0.03, g)


def blob_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """One to six soft bright blobs at random places on a dark background (counting: the
    number of blobs adds up over tiles)."""
    yy, xx = _grid(size)
    img = torch.zeros(n, 3, size, size)
    count = torch.randint(1, 7, (n,), generator=g)
    for k in range(6):
        cy, cx = _uniform(n, -0.85, 0.85, g), _uniform(n, -0.85, 0.85, g)
        colour = _uniform(n * 3, 0.5, 1.0, g).reshape(n, 3, 1, 1)
        blob = torch.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)
                         / (2 * 0.12**2))[:, None]
        img = img + (k < count).float()[:, None, None, None] * colour * blob
    return _noisy(img.clamp(0.0, 1.0), 0.02, g)


def palette_colour(t: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` values in [0, 1] → ``(N, 3, H, W)`` colours of :data:`PALETTE`,
    piecewise linear."""
    pos = t.clamp(0.0, 1.0) * (len(PALETTE) - 1)
    lo = pos.floor().long().clamp(max=len(PALETTE) - 2)
    frac = (pos - lo)[..., None]
    rgb = PALETTE[lo] * (1 - frac) + PALETTE[lo + 1] * frac  # N x H x W x 3
    return rgb.permute(0, 3, 1, 2).contiguous()


def lightness_coloured_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Smooth random patterns painted with :data:`PALETTE`: a pixel's colour is a function of
    its lightness (colorization's known answer), its lightness a sum of a few slow waves."""
    yy, xx = _grid(size)
    t = torch.zeros(n, size, size)
    for _ in range(3):
        fy, fx = _uniform(n, -2.5, 2.5, g), _uniform(n, -2.5, 2.5, g)
        phase = _uniform(n, 0.0, 6.283, g)
        t = t + torch.sin(fy[:, None, None] * yy + fx[:, None, None] * xx + phase[:, None, None])
    return palette_colour(0.5 + t / 6.0)


KNOWN_ANSWER_DATA: dict[str, ImageMaker] = {
    "colorization": lightness_coloured_images,
    "context": square_images,
    "counting": blob_images,
    "jigsaw": disc_images,
    "moco_rotation": upright_images,
    "rotnet": upright_images,
    "simclr_rotation": upright_images,
}


def build_small_task(name: str, params: dict | None = None, size: int = 48, width: int = 8,
                     blocks: int = 3, seed: int = 0, **pretext: object):
    """Task ``name`` around a small CNN (``width``, ``blocks``) for ``size``-px images, no
    augmentation or crop, built through the same validation as a study's trial."""
    from trainables.spec import parse_trial
    from trainables.trial import build_task

    cfg = parse_trial({"data": {"image_size": size},
                       "model": {"backbone": "small_cnn",
                                 "params": {"width": width, "blocks": blocks}},
                       "pretext": {"name": name, "crop": "none", "augment": "none",
                                   "params": params or {}, **pretext}})
    torch.manual_seed(seed)
    return build_task(cfg, torch.device("cpu"))


def train_steps(task: torch.nn.Module, images: torch.Tensor, steps: int, batch: int,
                lr: float, seed: int = 0) -> list[float]:
    """Adam on random batches of ``images``; the loss of every step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in task.parameters() if p.requires_grad], lr=lr)
    task.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=g)
        out = task.step(images[idx], g)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        task.after_optimizer_step()
        losses.append(out.loss.item())
    return losses


# small settings for a few fast steps of every registered task (the parametrised test)
FEW_STEP_PARAMS: dict[str, dict] = {
    "moco_rotation": {"queue_size": 16, "proj_dim": 16},  # the queue is full after one step
    "simclr_rotation": {"proj_dim": 16},
    "jigsaw": {"permutations": 24},
    "counting": {"features": 64},
    "context": {"dropout": 0.0},
}
