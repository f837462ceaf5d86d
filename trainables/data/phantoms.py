"""Phantoms that resemble the seeds' data, each with its exact mask.

``brain_phantom``: a skull-stripped FLAIR-like axial slice (textured brain, dark ventricles, a
bright irregular tumour with its oedema; mask = whole tumour, BraTS's label > 0).
``chest_phantom``: a frontal chest X-ray (body, spine and mediastinum, ribs, two dark lung
fields; mask = both lungs, as the Lung Mask dataset). ``polyp_phantom``: a colonoscopy frame
(reddish textured mucosa with folds and vignetting, a lighter, shaded polyp with specular
glints; mask = polyp, as Kvasir-SEG).

Each is drawn upright, in coordinates where the image spans [-1, 1]; ``trainables.data.synthetic``
then moves it by a random symmetry of the square unless ``orientation: upright`` is asked.
Lengths below are in those units (1 = half the image side).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter

from trainables.data.shapes import centred_grid, coverage, ellipse_distance

# (image (S, S) or (S, S, 3) float in [0, 1], mask (S, S) bool)
Phantom = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = centred_grid(size)
    return yy / (size / 2), xx / (size / 2)


def smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Isotropic texture: white noise blurred over ``scale`` (units), unit standard deviation."""
    field = gaussian_filter(rng.normal(size=(size, size)), sigma=max(scale * size / 2, 0.5),
                            mode="wrap")
    return field / max(float(field.std()), 1e-9)


def blob_distance(yy: np.ndarray, xx: np.ndarray, cx: float, cy: float, radius: float,
                  rng: np.random.Generator, roughness: float = 0.12) -> np.ndarray:
    """Approximate signed distance to an irregular blob: a circle whose radius varies with the
    polar angle by harmonics 2–4 of random phase and amplitude up to ``roughness``."""
    theta = np.arctan2(yy - cy, xx - cx)
    wobble = np.zeros_like(theta)
    for k in (2, 3, 4):
        wobble += rng.uniform(0, roughness) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.hypot(xx - cx, yy - cy) - radius * (1.0 + wobble)


def _soft(d: np.ndarray, size: int) -> np.ndarray:
    return coverage(d * size / 2)  # unit distances -> pixels


def brain(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A FLAIR-like slice with a tumour; see the module docstring."""
    yy, xx = _grid(size)
    a, b = rng.uniform(0.55, 0.65), rng.uniform(0.72, 0.82)
    d_brain = ellipse_distance(yy, xx, 0.0, 0.0, a, b, 0.0)
    tissue = (0.45 + 0.05 * smooth_noise(rng, size, 0.03) + 0.04 * smooth_noise(rng, size, 0.12))
    image = _soft(d_brain, size) * tissue
    for side in (-1.0, 1.0):  # lateral ventricles, a dark butterfly near the centre
        d = ellipse_distance(yy, xx, side * 0.12 * a, -0.05, 0.07, 0.22 * b, side * 0.35)
        image = image + (0.12 - image) * _soft(d, size)
    rho, phi = np.sqrt(rng.uniform(0.0, 0.3)), rng.uniform(0.0, 2 * np.pi)
    cx, cy, r0 = rho * a * np.cos(phi), rho * b * np.sin(phi), rng.uniform(0.1, 0.2)
    d_oedema = np.maximum(blob_distance(yy, xx, cx, cy, 1.5 * r0, rng), d_brain)
    d_core = np.maximum(blob_distance(yy, xx, cx, cy, r0, rng), d_brain)
    image = image + (0.68 - image) * _soft(d_oedema, size)
    image = image + (0.88 - image) * _soft(d_core, size)
    return np.clip(image, 0.0, 1.0), (d_oedema <= 0) | (d_core <= 0)


def _ribs(yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Faint rib shadows: bands curving down laterally, one set per side."""
    out = np.zeros_like(yy)
    for y0 in np.arange(-0.65, 0.55, 0.2) + rng.uniform(-0.04, 0.04):
        curve = yy - (y0 + 0.35 * xx**2)
        out += _soft(np.abs(curve) - 0.025, size) * (np.abs(xx) > 0.1)
    return out


def chest(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A frontal chest X-ray with two lung fields; see the module docstring."""
    yy, xx = _grid(size)
    body = _soft(ellipse_distance(yy, xx, 0.0, 0.05, 0.92, 1.05, 0.0), size)
    image = 0.05 + body * (0.5 + 0.04 * smooth_noise(rng, size, 0.08))
    image = image + 0.2 * _soft(np.abs(xx) - rng.uniform(0.07, 0.1), size) * body  # spine
    mask = np.zeros(yy.shape, dtype=bool)
    for side in (-1.0, 1.0):
        cx, cy = side * rng.uniform(0.33, 0.4), rng.uniform(-0.12, -0.02)
        a, b = rng.uniform(0.2, 0.25), rng.uniform(0.45, 0.55)
        d = ellipse_distance(yy, xx, cx, cy, a, b, side * rng.uniform(0.0, 0.15))
        d = np.maximum(d, 0.1 - np.abs(xx))  # the lungs stop at the mediastinum
        image = image + (0.2 + 0.03 * smooth_noise(rng, size, 0.05) - image) * _soft(d, size)
        mask |= d <= 0
    image = image + 0.1 * _ribs(yy, xx, rng, size) * body
    return np.clip(image, 0.0, 1.0), mask


def polyp(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An RGB colonoscopy-like frame with one polyp; see the module docstring."""
    yy, xx = _grid(size)
    shade = 1.0 + 0.15 * smooth_noise(rng, size, 0.1) + 0.05 * smooth_noise(rng, size, 0.02)
    shade *= 1.0 - 0.35 * (xx**2 + yy**2) / 2  # vignetting, rotation-invariant
    for _ in range(rng.integers(2, 5)):  # mucosal folds: arcs of circles centred outside
        psi, radius = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.4)
        cx, cy = (radius + rng.uniform(-0.3, 0.3)) * np.cos(psi), radius * np.sin(psi)
        shade *= 1.0 - 0.25 * _soft(np.abs(np.hypot(xx - cx, yy - cy) - radius) - 0.012, size)
    image = shade[..., None] * np.array([0.78, 0.42, 0.36])
    rho, phi = np.sqrt(rng.uniform(0.0, 0.2)), rng.uniform(0.0, 2 * np.pi)
    cx, cy, r0 = rho * np.cos(phi), rho * np.sin(phi), rng.uniform(0.14, 0.3)
    d = blob_distance(yy, xx, cx, cy, r0, rng, roughness=0.08)
    light = rng.uniform(0.0, 2 * np.pi)  # lit from a random direction
    lit = 1.0 + 0.25 * ((xx - cx) * np.cos(light) + (yy - cy) * np.sin(light)) / r0
    body = lit[..., None] * np.array([0.92, 0.62, 0.52])
    image = image + (body - image) * _soft(d, size)[..., None]
    for _ in range(rng.integers(2, 5)):  # specular glints on the polyp
        gx, gy = cx + rng.uniform(-0.5, 0.5) * r0, cy + rng.uniform(-0.5, 0.5) * r0
        image = image + 0.6 * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / 0.0006)[..., None]
    return np.clip(image, 0.0, 1.0), d <= 0


PHANTOMS: dict[str, Phantom] = {
    "brain_phantom": brain,
    "chest_phantom": chest,
    "polyp_phantom": polyp,
}
