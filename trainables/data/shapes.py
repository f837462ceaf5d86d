"""Geometric shapes with known gradient orientations, drawn with antialiased edges.

Every shape is a signed distance ``d`` (pixels, negative inside); the image takes a blurred
step of ``d`` (:func:`coverage`) and the mask ``d <= 0``. The blur matters: on a hard or
one-pixel staircase edge, finite differences pull a disc's gradient orientations towards 0°,
45° and 90°, which would blur the known answers (a disc's orientations must be uniform).

Sizes and positions are drawn as in the walking skeleton: centre uniform in the centred square
of side ``size / 4``, half-sizes i.i.d. uniform in [size / 10, size / 4.5], so the distribution
is invariant under 90° rotations and flips. Discs, a negative control, place their centre
uniformly in the centred disc of radius ``size / 8`` instead, so their distribution is
invariant under every rotation: a square of centres turned by 45° is a diamond, a real cue
that lets a classifier tell 45° from 0° with up to 59 % accuracy (0.5 + half the 17 % of the
square outside its 45° turn).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import erfc

EDGE_SIGMA = 0.7  # pixels; with 0.7 a disc's orientation histogram is flat within ~15%

Shape = Callable[[int, np.random.Generator], np.ndarray]


def centred_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(yy, xx)``, each ``(size, size)``, origin at the centre."""
    r = np.arange(size) - (size - 1) / 2
    return np.meshgrid(r, r, indexing="ij")


def coverage(d: np.ndarray) -> np.ndarray:
    """The edge profile at a pixel whose centre is ``d`` pixels outside an edge: a step blurred
    by a Gaussian of :data:`EDGE_SIGMA` pixels (a camera's point spread), 0.5 on the edge."""
    return 0.5 * erfc(d / (np.sqrt(2.0) * EDGE_SIGMA))


def _placement(size: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    cx, cy = rng.uniform(-size / 8, size / 8, size=2)
    a, b = rng.uniform(size / 10, size / 4.5, size=2)
    return cx, cy, a, b


def rectangle(size: int, rng: np.random.Generator) -> np.ndarray:
    """An axis-aligned rectangle: edge gradients at 0° and 90°."""
    yy, xx = centred_grid(size)
    cx, cy, a, b = _placement(size, rng)
    qx, qy = np.abs(xx - cx) - a, np.abs(yy - cy) - b
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def diamond(size: int, rng: np.random.Generator) -> np.ndarray:
    """A square turned by 45°: edge gradients at 45° and 135°."""
    yy, xx = centred_grid(size)
    cx, cy, a, b = _placement(size, rng)
    half = min(a, b) * 1.2
    return (np.abs(xx - cx) + np.abs(yy - cy) - half) / np.sqrt(2.0)


def disc(size: int, rng: np.random.Generator) -> np.ndarray:
    """A disc: edge gradients at every orientation equally, its centre uniform in a centred
    disc (no place is more likely at one angle than at another)."""
    yy, xx = centred_grid(size)
    area, turn = rng.uniform(0.0, 1.0, size=2)  # as many draws as _placement's centre
    a, _ = rng.uniform(size / 10, size / 4.5, size=2)
    radius, phi = size / 8 * np.sqrt(area), 2 * np.pi * turn
    return np.hypot(xx - radius * np.cos(phi), yy - radius * np.sin(phi)) - a


def ellipse_distance(yy: np.ndarray, xx: np.ndarray, cx: float, cy: float, a: float, b: float,
                     angle: float) -> np.ndarray:
    """Approximate signed distance to an ellipse with semi-axes ``a`` (along ``angle``, radians
    from the x axis) and ``b``: the level set value over its gradient's length, exact on the
    edge, which is all the antialiasing needs."""
    c, s = np.cos(angle), np.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    f = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / np.maximum(f, 1e-9)
    return (f - 1.0) / np.maximum(grad, 1e-9)


def ellipse(size: int, rng: np.random.Generator) -> np.ndarray:
    """An ellipse at a uniformly random angle: every orientation, in expectation equally."""
    yy, xx = centred_grid(size)
    cx, cy, a, b = _placement(size, rng)
    return ellipse_distance(yy, xx, cx, cy, a, b, rng.uniform(0.0, np.pi))


SHAPES: dict[str, Shape] = {
    "rectangles": rectangle,
    "diamonds": diamond,
    "discs": disc,
    "ellipses": ellipse,
}
