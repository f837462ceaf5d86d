"""Batched view augmentations, run on the tensors' device with an explicit generator.

Presets (``pretext.augment``):
- ``paper`` (seed 000): random horizontal and vertical flips, a small rotation (±10°), an affine
  translation (±10 % of the side) and a Gaussian blur (σ in [0.1, 2] px, half the images).
- ``none``: identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainables.rotation import rotate_each


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device
             ) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=g.device).to(device)


def random_flips(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip each image left-right and up-down with probability 1/2 each. ``x``: (N, C, H, W)."""
    n = x.shape[0]
    h = (torch.rand(n, generator=g, device=g.device) < 0.5).to(x.device)
    v = (torch.rand(n, generator=g, device=g.device) < 0.5).to(x.device)
    x = torch.where(h[:, None, None, None], x.flip(-1), x)
    return torch.where(v[:, None, None, None], x.flip(-2), x)


def random_translate(x: torch.Tensor, g: torch.Generator, fraction: float = 0.1) -> torch.Tensor:
    """Shift each image by up to ``fraction`` of its side (bilinear, zero padding)."""
    n = x.shape[0]
    shift = torch.stack([_uniform(n, -fraction, fraction, g, x.device) for _ in range(2)], 1) * 2
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


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


def augment(x: torch.Tensor, preset: str, g: torch.Generator) -> torch.Tensor:
    """Apply the ``preset`` augmentation to a batch ``(N, C, H, W)`` in [0, 1]."""
    if preset == "none":
        return x
    if preset == "paper":
        x = random_flips(x, g)
        x = rotate_each(x, _uniform(x.shape[0], -10, 10, g, torch.device("cpu")).round().int())
        x = random_translate(x, g)
        sigma = _uniform(x.shape[0], 0.1, 2.0, g, x.device)
        blur = (torch.rand(x.shape[0], generator=g, device=g.device) < 0.5).to(x.device)
        return torch.where(blur[:, None, None, None], gaussian_blur(x, sigma), x)
    raise ValueError(f"pretext.augment: unknown preset {preset!r}; expected 'paper' or 'none'")
