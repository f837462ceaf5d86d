"""Rotation and the common field of view: the scientific primitive of every rotsweep study.

Rules (docs/rotation.md):

- **Images** (``mode="band_limited"``, the default) go through one resampling at every angle,
  0° and the multiples of 90° included, so no angle can be told apart by blur: the image is
  limited to an isotropic band (a radial raised-cosine low-pass, 1 up to 0.30 and 0 from 0.45
  cycles per pixel) and then rotated exactly, by three shears whose fractional shifts are done
  in the Fourier domain (:mod:`trainables.band_limited`). Every angle shows the same
  band-limited image, turned, with no blur or aliasing added by the rotation. Any angle is
  first split into ``k`` quarter turns and a remainder in [−45°, 45°); the remainder is
  resampled (0 is resampled too) and the quarter turns are ``torch.rot90``, so
  ``rotate(x, a + 90) == rot90(rotate(x, a))`` bit for bit.
- **Masks** (``mode="nearest"``) take the nearest source pixel; multiples of 90° are exact.
- ``mode="bilinear"`` is the old rule (exact ``rot90`` at multiples of 90°, bilinear elsewhere),
  kept for tests and benchmarks only: its blur tells 45° from 0° (HoG-SVM 1.0 on white noise).

Every angle, 0° included, sees the same field of view (a disk :data:`FOV_MARGIN` pixels inside
the inscribed one, or the square inscribed in that disk), so no angle can be told apart by its
corners, borders or rim: the margin keeps the band-limit's reach into the padding (which lies
along the frame's axes) out of the field of view (issue 19; docs/rotation.md, "Rule 3").

Convention: a positive angle rotates the picture counter-clockwise as displayed (rows down,
columns right), the same as ``torch.rot90(x, 1, dims=(-2, -1))`` and ``numpy.rot90``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from trainables.band_limited import band_limited_rotation, grouped

Interpolation = Literal["band_limited", "bilinear", "nearest"]
FieldOfView = Literal["disk", "square", "none"]

ANGLE_TOLERANCE = 5e-7  # degrees: a remainder below this is a multiple of 90° (config: 1e-6)
# pixels between the frame and the disk field of view: within ~3 px of the frame the band-limit
# mixes in the mirrored padding, whose statistics differ at the axis points (white noise's
# variance 0.78x the interior's in the outermost ring at 0°), a rim cue that turns with θ;
# 4 px leaves every ring within 1 % at every angle (bench/rotation.py, "frame_cue")
FOV_MARGIN = 4


def rotate(x: torch.Tensor, angle: float, mode: Interpolation = "band_limited"
           ) -> torch.Tensor:
    """Rotate images or masks about their centre by ``angle`` degrees, counter-clockwise.

    Args:
        x: ``(..., S, S)`` tensor; float for ``band_limited`` and ``bilinear``, any dtype for
            ``nearest``.
        angle: degrees, any float (taken mod 360; multiples of 90 within
            :data:`ANGLE_TOLERANCE` are quarter turns).
        mode: ``band_limited`` for images (the default), ``nearest`` for masks, ``bilinear``
            the old rule (tests and benchmarks only).

    Returns:
        A tensor of the same shape and dtype; pixels whose source lies outside the frame are 0.
    """
    return rotate_each(x.unsqueeze(0), [float(angle)], mode).squeeze(0)


def rotate_each(x: torch.Tensor, angles: torch.Tensor | Sequence[float],
                mode: Interpolation = "band_limited") -> torch.Tensor:
    """Rotate each item of a batch by its own angle: ``out[i] = rotate(x[i], angles[i])``.

    One batched resampling whatever the angles (``band_limited``: per-item shear phases), then
    the quarter turns grouped by their count; differentiable with respect to ``x``.

    Args:
        x: ``(B, ..., S, S)``.
        angles: ``B`` angles in degrees (a list or a tensor on any device; floats or ints).
        mode: see :func:`rotate`.

    Raises:
        ValueError: a wrong number of angles, non-square images (``band_limited``), an
            unknown mode or a non-float image for an interpolating mode.
    """
    degrees = torch.as_tensor(angles, dtype=torch.float64).cpu().reshape(-1)
    if degrees.numel() != x.shape[0]:
        raise ValueError(f"rotate_each: {degrees.numel()} angles for a batch of {x.shape[0]}")
    if mode not in ("band_limited", "bilinear", "nearest"):
        raise ValueError(f"rotate: unknown mode {mode!r}; expected 'band_limited', 'bilinear' "
                         f"or 'nearest'")
    if mode != "nearest" and not x.is_floating_point():
        raise ValueError(f"rotate: mode {mode!r} needs float images, got {x.dtype} (masks: "
                         f"mode='nearest')")
    quarters, rest = split_angles(degrees)
    turned = (band_limited_rotation(x, rest) if mode == "band_limited"
              else _sampled(x, rest, mode))
    return quarter_turns(turned, quarters)


def rotate_grid(x: torch.Tensor, angles: Sequence[float], mode: Interpolation = "band_limited"
                ) -> torch.Tensor:
    """Every item at every angle: ``out[i, j] = rotate(x[i], angles[j])``, ``(B, A, ...)``.

    One resampling per distinct remainder mod 90° (the rest are exact quarter turns of it), so
    seed 003's {0, 90, 180, 270} costs one band-limit of the batch, not four.
    """
    quarters, rest = split_angles(torch.as_tensor(angles, dtype=torch.float64).reshape(-1))
    done: dict[float, torch.Tensor] = {}
    out = []
    for q, r in zip(quarters.tolist(), rest.tolist(), strict=True):
        if r not in done:
            done[r] = rotate_each(x, [r] * x.shape[0], mode)
        out.append(torch.rot90(done[r], q, dims=(-2, -1)))
    return torch.stack(out, dim=1)


def quarter_turns(x: torch.Tensor, quarters: torch.Tensor) -> torch.Tensor:
    """Item i turned by ``quarters[i]`` exact quarter turns (``torch.rot90``)."""
    return grouped(x, quarters.long().cpu() % 4,
                   lambda part, k: torch.rot90(part, k, dims=(-2, -1)))


def split_angles(degrees: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``degrees = 90 · quarters + rest`` with ``quarters`` in {0, 1, 2, 3} and ``rest`` in
    [−45°, 45°); a ``rest`` within :data:`ANGLE_TOLERANCE` of 0 is exactly 0.

    >>> split_angles(torch.tensor([0.0, 90.0, 359.9, 134.0, -90.0]))[0].tolist()
    [0, 1, 0, 1, 3]
    """
    a = degrees.double() % 360.0
    quarters = torch.floor(a / 90.0 + 0.5)
    rest = a - 90.0 * quarters
    rest = torch.where(rest.abs() < ANGLE_TOLERANCE, torch.zeros_like(rest), rest)
    return quarters.long() % 4, rest


# ---- sampled rotation: nearest for masks, the old bilinear rule -------------------------------

def _sampled(x: torch.Tensor, rest: torch.Tensor, mode: Interpolation) -> torch.Tensor:
    """``grid_sample`` of item i at ``rest[i]``; items at 0 are returned as they are."""
    if not bool((rest != 0).any()):
        return x
    shape = x.shape
    h, w = shape[-2:]
    flat = x.reshape(x.shape[0], -1, h, w)
    work = flat if flat.is_floating_point() else flat.float()
    grid = _grid(rest, h, w).to(device=work.device, dtype=work.dtype)
    out = F.grid_sample(work, grid, mode="bilinear" if mode == "bilinear" else "nearest",
                        padding_mode="zeros", align_corners=False)
    if not flat.is_floating_point():
        out = out.round().to(flat.dtype)
    still = (rest == 0).to(out.device)[:, None, None, None]
    return torch.where(still, flat, out).reshape(shape)


def _grid(rest: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``grid_sample`` coordinates ``(B, H, W, 2)`` of the rotation by ``rest`` (degrees)."""
    t = torch.deg2rad(rest.double())[:, None, None]
    c, s = torch.cos(t), torch.sin(t)
    ys = torch.arange(h, dtype=torch.float64) - (h - 1) / 2
    xs = torch.arange(w, dtype=torch.float64) - (w - 1) / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    src_x, src_y = xx * c - yy * s, xx * s + yy * c
    # normalise to [-1, 1] with align_corners=False: pixel i has centre (2i + 1)/n - 1
    gx = (src_x + (w - 1) / 2) * 2 / w + 1 / w - 1
    gy = (src_y + (h - 1) / 2) * 2 / h + 1 / h - 1
    return torch.stack([gx, gy], dim=-1)


# ---- the field of view ------------------------------------------------------------------------

def fov_mask(size: int, kind: FieldOfView = "disk", device: torch.device | str = "cpu"
             ) -> torch.Tensor:
    """The common field of view of a ``size`` × ``size`` image as a boolean ``(H, W)`` mask.

    ``disk``: pixels whose centre lies inside the inscribed circle shrunk by
    :data:`FOV_MARGIN` pixels (radius ``size / 2 − 4``): invariant under every rotation up to
    the pixel staircase of its rim, and far enough from the frame that no pixel in it is
    made from the padding. ``square``: the axis-aligned square inscribed in that circle
    (side ≈ ``(size − 8) / √2``). ``none``: every pixel.

    Raises:
        ValueError: an unknown kind, or a disk or square of ``size ≤ 2 · FOV_MARGIN``.
    """
    if kind == "none":
        return torch.ones(size, size, dtype=torch.bool, device=device)
    r = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    radius = size / 2 - FOV_MARGIN
    if radius <= 0:
        raise ValueError(f"field of view {kind!r} of a {size}-pixel image: needs more than "
                         f"{2 * FOV_MARGIN} pixels (its margin is {FOV_MARGIN} on each side)")
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
