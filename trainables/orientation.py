"""The data's gradient-orientation histogram: the direct test of the "orientation shortcut".

Seed 000 hypothesises that a network can tell an image rotated by θ from the original by the
distribution of gradient directions, when that distribution is not symmetric under θ. This
module measures that distribution: for every pixel inside the common field of view, the Sobel
gradient's orientation mod 180° (an edge and its reverse are the same edge), weighted by the
gradient magnitude, binned, normalised per image and averaged over images.

Convention (the one of :mod:`trainables.rotation`): the orientation is measured in degrees
counter-clockwise from the image's x axis as displayed (columns right, rows up on screen), so
rotating an image by θ with :func:`trainables.rotation.rotate` shifts its histogram by +θ.

Nothing here rotates: the histogram is a property of the data, measured on its pixels as they
are (the default). ``resample=True`` measures the images as every angle of a study sees them,
through the rotation's resampling at 0° (band-limited, docs/rotation.md); then the histogram of
the images rotated by θ is this one shifted by θ, with no resampling blur between them. The
raw pixels are the default because the band-limit's mirrored border bends gradients within a
few pixels of the frame (a ramp's histogram loses ~3 % of its weight there).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainables.rotation import FieldOfView, fov_mask, rotate

# Sobel kernels as cross-correlations (conv2d): x grows to the right, rows grow downwards.
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_DOWN = _SOBEL_X.T.contiguous()
MIN_MAGNITUDE = 1e-6  # Sobel magnitudes of [0, 1] images reach ~5.7; below this is rounding


def gradients(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel gradients of ``(N, H, W)`` images at interior pixels.

    Returns:
        ``(gx, gy)``, each ``(N, H − 2, W − 2)``: ``gx`` towards the right, ``gy`` towards the
        top of the displayed image (so ``atan2(gy, gx)`` is counter-clockwise as displayed).
    """
    x = gray.float().unsqueeze(1)  # N x 1 x H x W
    kernels = torch.stack([_SOBEL_X, _SOBEL_DOWN]).unsqueeze(1).to(x.device)  # 2 x 1 x 3 x 3
    g = F.conv2d(x, kernels)  # N x 2 x (H-2) x (W-2)
    return g[:, 0], -g[:, 1]


def interior_region(size: int, crop: FieldOfView) -> torch.Tensor:
    """``(size − 2, size − 2)`` bool: pixels whose whole 3×3 neighbourhood is inside the field
    of view, so the edge that cropping creates at the rim never counts as image structure."""
    fov = fov_mask(size, crop).float()[None, None]
    return (-F.max_pool2d(-fov, kernel_size=3, stride=1))[0, 0] > 0.5


def orientation_histograms(images: torch.Tensor, n_bins: int = 180,
                           crop: FieldOfView = "disk", resample: bool = False) -> np.ndarray:
    """Each image's magnitude-weighted histogram of gradient orientation mod 180°.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)``, square; channels are averaged (grayscale).
        n_bins: bins over [0°, 180°); bin k is centred on ``k · 180 / n_bins`` degrees and a
            gradient's magnitude is split linearly between the two nearest centres (as HoG
            votes, Dalal & Triggs 2005), so the histogram does not alias at bin edges.
        crop: the study's field of view (``pretext.crop``): only pixels inside it count.
        resample: measure the images as rotated by 0° (the study's resampling) rather than
            their raw pixels.

    Returns:
        ``(N, n_bins)`` float64; each row sums to 1 (a blank image's row is all zeros).

    Raises:
        ValueError: non-square images or ``n_bins < 2``.
    """
    if n_bins < 2:
        raise ValueError(f"orientation_histograms: n_bins must be >= 2, got {n_bins}")
    gray = images.float().mean(dim=1) if images.dim() == 4 else images.float()
    n, h, w = gray.shape
    if h != w:
        raise ValueError(f"orientation_histograms needs square images, got {h}x{w}")
    if resample:
        gray = rotate(gray, 0.0)
    gx, gy = gradients(gray)
    keep = interior_region(h, crop).to(gx.device)
    mag = torch.hypot(gx, gy)[:, keep].double().cpu().numpy()  # N x P
    # float rounding leaves ~1e-8 "gradients" on flat regions; they are not structure
    mag[mag < MIN_MAGNITUDE] = 0.0
    theta = torch.rad2deg(torch.atan2(gy, gx))[:, keep].double().cpu().numpy() % 180.0
    pos = theta / (180.0 / n_bins)  # in bin units; centre k at k
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    rows = np.repeat(np.arange(n), mag.shape[1]).reshape(n, -1)
    hist = np.zeros((n, n_bins))
    np.add.at(hist, (rows, lo % n_bins), mag * (1.0 - frac))
    np.add.at(hist, (rows, (lo + 1) % n_bins), mag * frac)
    total = hist.sum(axis=1, keepdims=True)
    return np.divide(hist, total, out=np.zeros_like(hist), where=total > 0)


def orientation_rows(images: torch.Tensor, n_bins: int = 180, crop: FieldOfView = "disk"
                     ) -> list[dict[str, object]]:
    """Rows of the ``orientation`` table (without study/dataset): the mean of the images'
    histograms (each image counts once, as each counts once in the per-angle Dice mean).

    Args:
        images: ``(N, C, S, S)`` in [0, 1], the size the network sees.
        n_bins: bins over [0°, 180°); must divide 180 so centres are whole degrees.
        crop: the field of view.

    Raises:
        ValueError: ``n_bins`` does not divide 180.
    """
    if 180 % n_bins:
        raise ValueError(f"orientation: n_bins must divide 180 (whole-degree centres), got "
                         f"{n_bins}")
    hist = orientation_histograms(images, n_bins, crop)
    mean = hist.mean(axis=0)
    width = 180 // n_bins
    common = {"n_images": int(hist.shape[0]), "n_bins": n_bins,
              "image_size": int(images.shape[-1]), "crop": crop}
    return [{"orientation": k * width, "weight": float(mean[k]), **common}
            for k in range(n_bins)]
