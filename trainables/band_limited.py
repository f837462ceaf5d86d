"""The band-limited rotation: one resampling, the same at every angle (docs/rotation.md).

An image is limited to an isotropic band (a radial raised-cosine low-pass on its 2-D spectrum:
1 up to :data:`PASS_BAND`, 0 from :data:`STOP_BAND` cycles per pixel), then turned by a
remainder angle in [−45°, 45°] exactly, as three shears R(t) = Sx(−tan t/2) Sy(sin t)
Sx(−tan t/2) whose fractional shifts are phase ramps in the Fourier domain (Unser et al. 1995,
"Convolution-based interpolation for fast, high-quality rotation of images"; Larkin et al.
1997, "Fast Fourier method for the accurate rotation of sampled images"). Each shear stretches
the band by at most √(1 + tan² 22.5°) = 1.08, and 1.08 × 0.45 < 0.5, so the spectrum stays
inside the grid's Nyquist square: the shears neither blur nor alias, and every angle shows the
same band-limited image, turned.

Before the band-limit the image gets a mirrored border of :data:`REFLECT` pixels (zeros would
darken the rim where the frame cuts the image, and that rim turns with the angle); the FFTs
then pad it with zeros to :func:`padded_size`, room for the shears. :mod:`trainables.rotation`
adds the quarter turns and is the module to call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

PASS_BAND = 0.30  # cycles/pixel: the band-limit keeps every frequency below this untouched
STOP_BAND = 0.45  # cycles/pixel: and removes everything above (three shears stay exact ≤ 0.46)
REFLECT = 8  # pixels of mirrored border the band-limit sees (its kernel's 95 % radius)


def grouped(x: torch.Tensor, keys: torch.Tensor, fn: Callable[[torch.Tensor, int], torch.Tensor]
            ) -> torch.Tensor:
    """``fn(x[keys == k], k)`` for every distinct integer key, reassembled in the batch's order
    (without in-place writes, so autograd follows)."""
    if bool((keys == keys[0]).all()):
        return fn(x, int(keys[0]))
    parts, order = [], []
    for k in torch.unique(keys).tolist():
        idx = (keys == k).nonzero().reshape(-1)
        parts.append(fn(x[idx.to(x.device)], k))
        order.append(idx)
    inverse = torch.empty_like(keys)
    inverse[torch.cat(order)] = torch.arange(len(keys))
    return torch.cat(parts)[inverse.to(x.device)]


def band_limited_rotation(x: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """Band-limit every item and rotate item i by ``rest[i]`` exactly.

    Args:
        x: ``(B, ..., S, S)`` float images.
        rest: ``(B,)`` float64 degrees in [−45°, 45°], counter-clockwise as displayed; items
            at 0 skip the shears (they would multiply by phase factors of 1).

    Returns:
        ``x``'s shape and dtype (half precision is computed in float32); pixels whose source
        lies outside the frame are 0.

    Raises:
        ValueError: non-square images.
    """
    s = x.shape[-1]
    if x.shape[-2] != s:
        raise ValueError(f"rotate: band-limited rotation needs square images, got "
                         f"{tuple(x.shape[-2:])}")
    flat = x.reshape(x.shape[0], -1, s, s)
    work = flat if flat.dtype in (torch.float32, torch.float64) else flat.float()
    m = min(REFLECT, s - 1)
    # the mirrored image sits at the top left of a periodic N x N domain (the FFTs pad it with
    # zeros); coordinates are taken about its centre and wrapped into [-N/2, N/2)
    y = F.pad(work, (m,) * 4, mode="reflect") if m else work  # B x C x E x E, E = S + 2m
    moving = rest != 0
    turned = rest[moving]

    def resample(part: torch.Tensor, k: int) -> torch.Tensor:
        return _sheared(part, turned, s, m) if k else _still(part, s, m)

    return grouped(y, moving.long(), resample).to(x.dtype).reshape(x.shape)


def _still(y: torch.Tensor, s: int, m: int) -> torch.Tensor:
    """The band-limit alone of mirrored images ``(B, C, E, E)`` → ``(B, C, S, S)``."""
    n = padded_size(s)
    # rfft2/irfft2 on the N x N domain, with the row transforms done only on the E rows that
    # hold the image and the S rows that are kept (the same numbers, a third less work)
    rows = torch.fft.rfft(y, n=n, dim=-1)  # B x C x E x (N/2 + 1)
    spec = torch.fft.fft(rows, n=n, dim=-2) * band_limit(n, y.device, rows.dtype)
    rows = torch.fft.ifft(spec, dim=-2)[..., m:m + s, :]
    return torch.fft.irfft(rows, n=n, dim=-1)[..., m:m + s]


def _sheared(y: torch.Tensor, rest: torch.Tensor, s: int, m: int) -> torch.Tensor:
    """Band-limit mirrored images ``(B, C, E, E)`` and turn item i by ``rest[i]`` (non-zero)
    by three shears → ``(B, C, S, S)``."""
    n = padded_size(s)
    centre = (s + 2 * m - 1) / 2
    if bool((rest == rest[0]).all()):  # one angle: one set of shifts for the whole batch
        rest = rest[:1]
    t = torch.deg2rad(rest)
    alpha, beta = -torch.tan(t / 2), torch.sin(t)  # R(t) = Sx(α) Sy(β) Sx(α)
    every, out = _coordinates(0, n, centre, n), _coordinates(m, s, centre, n)
    rows = torch.fft.rfft(y, n=n, dim=-1)  # B x C x E x (N/2 + 1)
    spec = torch.fft.fft(rows, n=n, dim=-2) * band_limit(n, y.device, rows.dtype)
    rows = torch.fft.ifft(spec, dim=-2) * _phase(alpha, every, n, y.device, rows.dtype)
    y = torch.fft.irfft(rows, n=n, dim=-1)  # B x C x N x N, after the first shear
    cols = torch.fft.rfft(y, dim=-2) * _phase(beta, every, n, y.device,
                                              rows.dtype).transpose(-1, -2)
    y = torch.fft.irfft(cols, n=n, dim=-2)[..., m:m + s, :]  # the S output rows
    rows = torch.fft.rfft(y, dim=-1) * _phase(alpha, out, n, y.device, rows.dtype)
    y = torch.fft.irfft(rows, n=n, dim=-1)[..., m:m + s]
    return y * _inside_frame(rest, s, y.device, y.dtype)


def padded_size(s: int, room: float = 1.6) -> int:
    """The FFT side for ``s``-pixel images: room for the mirrored border and for the shears to
    move content without it wrapping round into the frame (checked against a side of 4·s in
    the tests), rounded up to a product of 2, 3 and 5. ``room`` (× ``s``) below 1.6 lets the
    shears wrap: 1.45 is off by 2e-4, 1.3 by 6e-3 of the range (bench/rotation.py)."""
    n = math.ceil(room * s) + 2 * min(REFLECT, s - 1) + 8
    while True:
        r = n
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return n
        n += 1


def _coordinates(start: int, count: int, centre: float, n: int) -> torch.Tensor:
    """Positions ``start … start + count − 1`` of a periodic axis of ``n`` about ``centre``,
    wrapped into [−n/2, n/2] (float64)."""
    c = torch.arange(start, start + count, dtype=torch.float64) - centre
    return c - n * torch.round(c / n)


def band_limit(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The isotropic low-pass on an ``n × n`` ``rfft2`` grid ``(n, n//2 + 1)``: 1 below
    :data:`PASS_BAND`, a raised cosine to 0 at :data:`STOP_BAND` cycles/pixel, 0 above."""
    fy = torch.fft.fftfreq(n, device=device, dtype=torch.float64)
    fx = torch.fft.rfftfreq(n, device=device, dtype=torch.float64)
    rho = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    ramp = ((rho - PASS_BAND) / (STOP_BAND - PASS_BAND)).clamp(0.0, 1.0)
    return (0.5 * (1.0 + torch.cos(math.pi * ramp))).to(dtype)


def _phase(amount: torch.Tensor, coords: torch.Tensor, n: int, device: torch.device,
           dtype: torch.dtype) -> torch.Tensor:
    """Per-item row-shift factors ``(B, 1, len(coords), n//2 + 1)``: the row at coordinate r is
    shifted by ``amount · r`` pixels, ``out(X) = in(X + amount · r)``; the Nyquist bin is
    dropped (its shift is ambiguous and the band-limit left it empty)."""
    k = torch.fft.rfftfreq(n, dtype=torch.float64, device=device)  # cycles/pixel
    turns = (amount.to(device, torch.float64)[:, None, None]
             * coords.to(device)[None, :, None] * k)  # B x R x K, cycles (on the device)
    turns = (turns - torch.round(turns)).float()  # in [-½, ½]
    ph = torch.polar(torch.ones_like(turns), 2 * math.pi * turns)
    if n % 2 == 0:
        ph[..., -1] = 0
    return ph.unsqueeze(1).to(dtype)


def _inside_frame(rest: torch.Tensor, s: int, device: torch.device, dtype: torch.dtype
                  ) -> torch.Tensor:
    """``(B, 1, S, S)``: 1 where the output pixel's source lies inside the frame (the old
    rule's "zeros outside"); all ones at multiples of 90°."""
    src_x, src_y = _sources(rest, s, device)
    half = s / 2
    keep = (src_x.abs() <= half) & (src_y.abs() <= half)
    return keep.unsqueeze(1).to(dtype)


def _sources(rest: torch.Tensor, s: int, device: torch.device
             ) -> tuple[torch.Tensor, torch.Tensor]:
    # Output pixel p samples the input at R(-angle) p, in pixel units about the centre.
    # In (x right, y down) coordinates a counter-clockwise display rotation by t maps
    # (x, y) -> (x cos t + y sin t, -x sin t + y cos t); its inverse uses -t.
    t = torch.deg2rad(rest.to(device, torch.float64))[:, None, None]
    c, si = torch.cos(t), torch.sin(t)
    r = torch.arange(s, dtype=torch.float64, device=device) - (s - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return xx * c - yy * si, xx * si + yy * c  # B x S x S each
