"""Saliency at every evaluation angle: the batched engine and its methods.

The engine evaluates N images × A angles × S noisy copies in batches of at most ``max_batch``,
rotating on the device, with the model in ``eval()`` and its weights frozen, so each input's
gradient is independent of the others in its batch and one backward pass serves the batch.

Noise is common to all angles: copy s of image i gets the same standard-normal draw at every
angle (seeded by the image's index), so differences between angles are not noise differences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from trainables.config import SaliencyConfig
from trainables.rotation import FieldOfView, apply_fov, fov_mask, rotate_each

# (x (B, C, H, W), image index (B,), angle (B,)) -> scalar score per input (B,)
ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """How noisy gradients are combined into one map.

    Attributes:
        smooth: average over ``n_samples`` noisy copies (else one noiseless pass).
        square: average squared gradients (SmoothGrad-SQ).
        times_input: multiply the gradient by the input before reducing channels.
    """

    smooth: bool
    square: bool = False
    times_input: bool = False


SALIENCY_METHODS: dict[str, Method] = {
    "gradient": Method(smooth=False),
    "smoothgrad": Method(smooth=True),
    "smoothgrad_sq": Method(smooth=True, square=True),
    "grad_x_input": Method(smooth=False, times_input=True),
}


def get_method(name: str) -> Method:
    """The method registered as ``name``.

    Raises:
        KeyError: naming ``name`` and the registered methods.
    """
    try:
        return SALIENCY_METHODS[name]
    except KeyError:
        raise KeyError(
            f"saliency.method: unknown method {name!r}; expected one of "
            f"{sorted(SALIENCY_METHODS)}"
        ) from None


def reduce_channels(g: torch.Tensor, how: str) -> torch.Tensor:
    """``(B, C, H, W)`` gradients → ``(B, H, W)`` maps: ``max_abs``, ``mean_abs`` or ``l2``."""
    if how == "max_abs":
        return g.abs().amax(dim=1)
    if how == "mean_abs":
        return g.abs().mean(dim=1)
    if how == "l2":
        return g.pow(2).sum(dim=1).sqrt()
    raise ValueError(f"saliency.reduction: unknown reduction {how!r}")


def noise_for(image_index: int, n: int, shape: tuple[int, ...], seed: int,
              device: torch.device) -> torch.Tensor:
    """Standard-normal noise ``(n, *shape)`` for one image, the same at every angle and batch."""
    g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + image_index)
    return torch.randn((n, *shape), generator=g, device=device)


def saliency_maps(
    score: ScoreFn,
    images: torch.Tensor,
    angles: list[int],
    cfg: SaliencyConfig,
    *,
    crop: FieldOfView = "disk",
    seed: int = 0,
) -> torch.Tensor:
    """Saliency maps of ``images`` at every angle, in the rotated frame.

    Args:
        score: the differentiated scalar per input (see :data:`ScoreFn`); the model behind it
            must be in ``eval()`` with ``requires_grad_(False)`` weights.
        images: ``(N, C, H, W)`` unrotated images on the compute device.
        angles: A angles in degrees.
        cfg: ``saliency.*`` (method, n_samples, noise_level, reduction, max_batch).
        crop: the common field of view applied after rotation and noise.
        seed: noise seed.

    Returns:
        ``(N, A, H, W)`` float32 maps, not normalised; map [i, j] belongs to image i rotated by
        ``angles[j]`` (compare it with the mask rotated by the same angle).
    """
    method = get_method(cfg.method)
    n, c, h, w = images.shape
    a = len(angles)
    s = cfg.n_samples if method.smooth else 1
    dev = images.device
    ranges = (apply_fov(images, crop).flatten(1).amax(1) - apply_fov(images, crop).flatten(1)
              .amin(1))
    sigma = cfg.noise_level * ranges if method.smooth else torch.zeros_like(ranges)
    out = torch.zeros(n, a, h, w, device=dev)
    total = n * a * s
    jobs = torch.arange(total, device="cpu")
    angle_t = torch.tensor(angles, dtype=torch.long)
    cache: dict[int, torch.Tensor] = {}
    for start in range(0, total, cfg.max_batch):
        idx = jobs[start:start + cfg.max_batch]
        img_i, ang_j, smp = idx // (a * s), (idx // s) % a, idx % s
        for i in torch.unique(img_i).tolist():
            if i not in cache:
                cache[i] = noise_for(i, s, (c, h, w), seed, dev)
        for old in [k for k in cache if k < int(img_i.min())]:
            del cache[old]
        eps = torch.stack([cache[int(i)][int(k)] for i, k in zip(img_i, smp, strict=True)])
        img_dev, ang_dev = img_i.to(dev), ang_j.to(dev)
        x = rotate_each(images[img_dev], angle_t[ang_j])
        x = apply_fov(x + sigma[img_dev, None, None, None] * eps, crop)
        x = x.detach().requires_grad_(True)
        value = score(x, img_dev, angle_t[ang_j].to(dev))
        (grad,) = torch.autograd.grad(value.sum(), x)
        if method.times_input:
            grad = grad * x.detach()
        if method.square:
            grad = grad * grad
        maps = reduce_channels(grad.float(), cfg.reduction) / s
        out.index_put_((img_dev, ang_dev), maps, accumulate=True)
    return out


def region_mask(size: int, crop: FieldOfView, device: torch.device | str = "cpu"
                ) -> torch.Tensor:
    """The pixels every angle sees (the field of view), where metrics are computed."""
    return fov_mask(size, crop, device)
