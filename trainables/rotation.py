"""Rotation and the common field of view: the scientific primitive of every rotsweep study.

Rules (DESIGN.md): a multiple of 90° is exact (``torch.rot90``); other angles interpolate,
bilinear for images and nearest for masks. Every angle, 0° included, sees the same field of view
(the inscribed disk or square), so no angle can be told apart by its corners or borders.

Convention: a positive angle rotates the picture counter-clockwise as displayed (rows down,
columns right), the same as ``torch.rot90(x, 1, dims=(-2, -1))`` and ``numpy.rot90``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

Interpolation = Literal["bilinear", "nearest"]
FieldOfView = Literal["disk", "square", "none"]


def rotate(x: torch.Tensor, angle: float, mode: Interpolation = "bilinear") -> torch.Tensor:
    """Rotate images or masks about their centre by ``angle`` degrees, counter-clockwise.

    Args:
        x: ``(..., H, W)`` tensor; float for ``bilinear``, any dtype for ``nearest``.
        angle: degrees; multiples of 90 use ``torch.rot90`` and are exact.
        mode: ``bilinear`` for images, ``nearest`` for masks.

    Returns:
        A tensor of the same shape and dtype; pixels that come from outside the frame are 0.
    """
    a = float(angle) % 360.0
    if a % 90.0 == 0.0:
        return torch.rot90(x, k=int(a // 90.0), dims=(-2, -1))
    return _rotate_sampled(x, a, mode)


def _rotate_sampled(x: torch.Tensor, angle: float, mode: Interpolation) -> torch.Tensor:
    shape = x.shape
    h, w = shape[-2:]
    flat = x.reshape(-1, 1, h, w)
    dtype = flat.dtype
    work = flat if flat.is_floating_point() else flat.float()
    grid = _grid(angle, h, w, work.device, work.dtype).expand(work.shape[0], h, w, 2)
    out = F.grid_sample(work, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if not flat.is_floating_point():
        out = out.round().to(dtype)
    return out.reshape(shape)


def _grid(angle: float, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Output pixel p samples the input at R(-angle) p, in pixel units about the centre.
    # In (x right, y down) coordinates a counter-clockwise display rotation by t maps
    # (x, y) -> (x cos t + y sin t, -x sin t + y cos t); its inverse uses -t.
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    ys = torch.arange(h, device=device, dtype=torch.float64) - (h - 1) / 2
    xs = torch.arange(w, device=device, dtype=torch.float64) - (w - 1) / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    src_x = xx * c - yy * s
    src_y = xx * s + yy * c
    # normalise to [-1, 1] with align_corners=False: pixel i has centre (2i + 1)/n - 1
    gx = (src_x + (w - 1) / 2) * 2 / w + 1 / w - 1
    gy = (src_y + (h - 1) / 2) * 2 / h + 1 / h - 1
    return torch.stack([gx, gy], dim=-1).to(dtype).unsqueeze(0)


def rotate_each(x: torch.Tensor, angles: torch.Tensor | list[int],
                mode: Interpolation = "bilinear") -> torch.Tensor:
    """Rotate each item of a batch by its own angle: ``out[i] = rotate(x[i], angles[i])``.

    One ``rotate`` call per distinct angle, so a batch of A angles costs A kernel launches
    however many items it holds; multiples of 90° stay exact.

    Args:
        x: ``(B, ..., H, W)``.
        angles: ``B`` angles in degrees.
    """
    angles_t = torch.as_tensor(angles, device="cpu").reshape(-1)
    if angles_t.numel() != x.shape[0]:
        raise ValueError(f"rotate_each: {angles_t.numel()} angles for a batch of {x.shape[0]}")
    out = torch.empty_like(x)
    for a in torch.unique(angles_t).tolist():
        idx = (angles_t == a).nonzero().reshape(-1).to(x.device)
        out[idx] = rotate(x[idx], a, mode)
    return out


def fov_mask(size: int, kind: FieldOfView = "disk", device: torch.device | str = "cpu"
             ) -> torch.Tensor:
    """The common field of view of a ``size`` × ``size`` image as a boolean ``(H, W)`` mask.

    ``disk``: pixels whose centre lies inside the inscribed circle, shrunk by one pixel so that
    bilinear rotation never reaches outside the frame for a kept pixel (invariant under every
    rotation, up to the rim). ``square``: the axis-aligned square inscribed in that circle
    (side ≈ ``size / √2``). ``none``: every pixel.
    """
    if kind == "none":
        return torch.ones(size, size, dtype=torch.bool, device=device)
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    radius = size / 2 - 1
    if kind == "disk":
        return (xx**2 + yy**2) <= radius**2
    if kind == "square":
        half = radius / math.sqrt(2)
        return (xx.abs() <= half) & (yy.abs() <= half)
    raise ValueError(f"unknown field of view {kind!r}; expected 'disk', 'square' or 'none'")


def apply_fov(x: torch.Tensor, kind: FieldOfView = "disk") -> torch.Tensor:
    """Zero everything outside the field of view of ``(..., H, W)`` images (H == W)."""
    if kind == "none":
        return x
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"field of view needs square images, got {tuple(x.shape[-2:])}")
    return x * fov_mask(x.shape[-1], kind, x.device).to(x.dtype)
