"""Batched view augmentations, run on the tensors' device with an explicit generator.

Every random draw comes from the generator ``g`` (on ``g.device``), so the same seed gives the
same views. Images are ``(N, 3, H, W)`` in [0, 1]; each image gets its own draws. A preset is a
function of (images, draws), so applying one call's output to both views of a pair is the
``shared`` pairing of :func:`trainables.pretext.pairs.rotation_pair`: every draw made once.

Presets (``pretext.augment``):
- ``paper`` (seed 000): random horizontal and vertical flips, an affine translation (±10 % of
  the side), a Gaussian blur (σ in [0.1, 2] px, half the images) and a small rotation (uniform
  in ±10°), applied last, through the same band-limited resampling as every rotation, then
  clipped to [0, 1]: the contrastive pairs fold it into their own rotation by θ, so a view is
  resampled once (:func:`augment_unrotated`). Seed 000 lists these augmentations without an
  order. Seed 000's "resizing" is the data adapter's resize to ``data.image_size``.
- ``mocov2`` (Chen et al. 2020, MoCo v2 "aug+", facebookresearch/moco ``main_moco.py``): random
  resized crop (scale [0.2, 1], aspect [3/4, 4/3]), colour jitter (brightness, contrast,
  saturation 0.4, hue 0.1, in random order; p = 0.8), grayscale (p = 0.2), Gaussian blur
  (σ in [0.1, 2] px at 224 px, scaled with the image side; p = 0.5), horizontal flip (p = 0.5).
- ``rotnet`` (seed 003's CIFAR loader, gidariss/FeatureLearningRotNet): a random crop with
  zero padding of 1/8 of the side (4 px at 32 px), i.e. a whole-pixel shift, and a horizontal
  flip (p = 0.5). No vertical flip: it would mix the 0° and 180° classes.
- ``none``: identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from trainables.rotation import rotate_each

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma as torchvision rounds it


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device
             ) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=g.device).to(device)


def _coin(n: int, p: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` Bernoulli(p) draws as a bool tensor on ``device``."""
    return (torch.rand(n, generator=g, device=g.device) < p).to(device)


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask[:, None, None, None], a, b)


def random_flips(x: torch.Tensor, g: torch.Generator, vertical: bool = True) -> torch.Tensor:
    """Flip each image left-right, and (``vertical``) up-down, with probability 1/2 each."""
    n = x.shape[0]
    h, v = _coin(n, 0.5, g, x.device), _coin(n, 0.5, g, x.device)
    x = _where(h, x.flip(-1), x)
    return _where(v, x.flip(-2), x) if vertical else x


def _affine(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Sample output pixel p of image i at ``scale[i] * p + shift[i]`` (normalised [-1, 1]
    coordinates, x then y; bilinear, zeros outside)."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = scale[:, 0].to(x.dtype), scale[:, 1].to(x.dtype)
    theta[:, :, 2] = shift.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_translate(x: torch.Tensor, g: torch.Generator, fraction: float = 0.1) -> torch.Tensor:
    """Shift each image by up to ``fraction`` of its side (bilinear, zero padding)."""
    n = x.shape[0]
    shift = torch.stack([_uniform(n, -fraction, fraction, g, x.device) for _ in range(2)], 1) * 2
    return _affine(x, torch.ones(n, 2, device=x.device), shift)


def random_shift(x: torch.Tensor, g: torch.Generator, max_px: int) -> torch.Tensor:
    """Shift each image by whole pixels, uniformly in [−max_px, max_px] per axis, filling with
    zeros: torchvision's ``RandomCrop(S, padding=max_px)``."""
    n, _, h, w = x.shape
    px = torch.randint(-max_px, max_px + 1, (n, 2), generator=g, device=g.device).to(x.device)
    shift = px.to(x.dtype) * 2 / torch.tensor([w, h], device=x.device, dtype=x.dtype)
    return _affine(x, torch.ones(n, 2, device=x.device), shift)


def random_resized_crop(x: torch.Tensor, g: torch.Generator,
                        scale: tuple[float, float] = (0.2, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), tries: int = 10
                        ) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop`` resized back to the input size, batched.

    Per image: up to ``tries`` draws of an area share in ``scale`` and a log-uniform aspect
    ratio in ``ratio``; the first box that fits is placed uniformly (continuous position) and
    resampled bilinearly to ``H × W``; when none fits, the whole image is kept (torchvision's
    fallback for in-range aspect ratios).
    """
    n, _, h, w = x.shape
    area = _uniform(n * tries, *scale, g, x.device).reshape(n, tries)
    log_r = _uniform(n * tries, math.log(ratio[0]), math.log(ratio[1]), g, x.device)
    aspect = log_r.exp().reshape(n, tries)
    # box sides as shares of W and H for a box of area share × H·W and aspect w/h
    bw = (area * aspect * h / w).sqrt()
    bh = (area / aspect * w / h).sqrt()
    fits = (bw <= 1) & (bh <= 1)
    first = fits.float().argmax(dim=1)  # the first box that fits (0 when none does)
    ok = fits.any(dim=1)
    rows = torch.arange(n, device=x.device)
    one = torch.ones(n, device=x.device)
    bw, bh = torch.where(ok, bw[rows, first], one), torch.where(ok, bh[rows, first], one)
    # centre uniform such that the box stays inside: in normalised units, |c| <= 1 - size
    cx = (1 - bw) * (2 * _uniform(n, 0, 1, g, x.device) - 1)
    cy = (1 - bh) * (2 * _uniform(n, 0, 1, g, x.device) - 1)
    return _affine(x, torch.stack([bw, bh], 1), torch.stack([cx, cy], 1))


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma ``(N, 1, H, W)`` of RGB images."""
    wts = torch.tensor(GRAY_WEIGHTS, device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x * wts).sum(dim=1, keepdim=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 1] → HSV, every channel in [0, 1] (hue in turns)."""
    r, gr, b = x.unbind(1)
    v, _ = x.max(dim=1)
    c = v - x.min(dim=1).values  # chroma
    safe_c = torch.where(c > 0, c, torch.ones_like(c))
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    h = torch.where(v == r, ((gr - b) / safe_c) % 6,
                    torch.where(v == gr, (b - r) / safe_c + 2, (r - gr) / safe_c + 4))
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    return torch.stack([h, s, v], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`: channel n ∈ {5, 3, 1} (R, G, B) is
    ``v − v·s·clamp(min(k, 4 − k), 0, 1)`` with ``k = (n + 6h) mod 6``."""
    h, s, v = x.unbind(1)
    out = []
    for n in (5.0, 3.0, 1.0):
        k = (n + 6 * h) % 6
        out.append(v - v * s * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(out, dim=1)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    # factor · a + (1 − factor) · b, clamped: torchvision's adjust_* on float images
    f = factor[:, None, None, None].to(a.dtype)
    return (f * a + (1 - f) * b).clamp(0, 1)


def adjust_brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), f)


def adjust_contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), f)


def adjust_saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, grayscale(x).expand_as(x), f)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by ``shift[i]`` turns (in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(x)
    hue = (hsv[:, 0] + shift[:, None, None].to(x.dtype)) % 1.0
    return hsv_to_rgb(torch.stack([hue, hsv[:, 1], hsv[:, 2]], dim=1))


def color_jitter(x: torch.Tensor, g: torch.Generator, strength: float = 0.4, hue: float = 0.1,
                 p: float = 0.8) -> torch.Tensor:
    """torchvision's ``RandomApply([ColorJitter(s, s, s, hue)], p)``, batched: each chosen
    image gets brightness, contrast and saturation factors in [1 − s, 1 + s] and a hue shift
    in [−hue, hue], applied in its own random order."""
    n, dev = x.shape[0], x.device
    chosen = _coin(n, p, g, dev)
    factors = [_uniform(n, 1 - strength, 1 + strength, g, dev) for _ in range(3)]
    factors.append(_uniform(n, -hue, hue, g, dev))
    ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    order = torch.rand(n, 4, generator=g, device=g.device).argsort(dim=1).to(dev)
    for stage in range(4):
        for k, op in enumerate(ops):
            idx = (chosen & (order[:, stage] == k)).nonzero().reshape(-1)
            if idx.numel():
                x = x.index_copy(0, idx, op(x[idx], factors[k][idx]))
    return x


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur image i with its own ``sigma[i]`` (pixels) by a separable kernel of radius 3σ_max."""
    radius = max(1, int(3 * float(sigma.max())))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-(t[None, :] ** 2) / (2 * sigma[:, None].to(x.dtype) ** 2))
    k = k / k.sum(dim=1, keepdim=True)  # N x (2r+1)
    n, c, h, w = x.shape
    y = x.reshape(1, n * c, h, w)
    kh = k.repeat_interleave(c, 0)[:, None, None, :]  # (N*C) x 1 x 1 x (2r+1)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), kh, groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"),
                 kh.transpose(-1, -2), groups=n * c)
    return y.reshape(n, c, h, w)


def random_blur(x: torch.Tensor, g: torch.Generator, sigma: tuple[float, float], p: float
                ) -> torch.Tensor:
    """Blur a share ``p`` of the images, each with σ uniform in ``sigma`` (pixels)."""
    s = _uniform(x.shape[0], *sigma, g, x.device)
    return _where(_coin(x.shape[0], p, g, x.device), gaussian_blur(x, s), x)


def paper_unrotated(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed 000's positive-pair augmentations with their rotation left to apply last:
    ``(flipped, translated and blurred images, the ±10° rotation in degrees (CPU float64))``."""
    x = random_flips(x, g)
    jitter = _uniform(x.shape[0], -10, 10, g, torch.device("cpu")).double()  # continuous
    x = random_translate(x, g)
    return random_blur(x, g, (0.1, 2.0), 0.5), jitter


def paper(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Seed 000's positive-pair augmentations (see the module docstring)."""
    x, jitter = paper_unrotated(x, g)
    return rotate_each(x, jitter).clamp(0, 1)


def mocov2(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """MoCo v2's augmentations (see the module docstring)."""
    x = random_resized_crop(x, g)
    x = color_jitter(x, g)
    x = _where(_coin(x.shape[0], 0.2, g, x.device), grayscale(x).expand_as(x), x)
    side = x.shape[-1] / 224  # MoCo's σ range is in pixels of a 224 px crop
    x = random_blur(x, g, (0.1 * side, 2.0 * side), 0.5)
    return random_flips(x, g, vertical=False)


def rotnet(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Seed 003's CIFAR augmentations (see the module docstring)."""
    x = random_shift(x, g, max(1, round(x.shape[-1] / 8)))
    return random_flips(x, g, vertical=False)


PRESETS = {"mocov2": mocov2, "paper": paper, "rotnet": rotnet}


def augment(x: torch.Tensor, preset: str, g: torch.Generator) -> torch.Tensor:
    """Apply the ``preset`` augmentation (``paper``, ``mocov2``, ``rotnet`` or ``none``) to a
    batch ``(N, C, H, W)`` in [0, 1].

    Raises:
        ValueError: an unknown preset, naming the choices.
    """
    if preset == "none":
        return x
    if preset not in PRESETS:
        raise ValueError(f"pretext.augment: unknown preset {preset!r}; expected one of "
                         f"{sorted([*PRESETS, 'none'])}")
    return PRESETS[preset](x, g)


def augment_unrotated(x: torch.Tensor, preset: str, g: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`augment` with the preset's own rotation (``paper``'s ±10°) left to the caller,
    who can fold it into a rotation of its own and resample once.

    Returns:
        ``(images, degrees)``: the same draws as :func:`augment` from the same generator, and
        ``augment(x) == rotate_each(images, degrees).clamp(0, 1)``; ``degrees`` is None (and
        ``images`` is ``augment(x)``) for a preset that does not rotate.
    """
    if preset == "paper":
        return paper_unrotated(x, g)
    return augment(x, preset, g), None
