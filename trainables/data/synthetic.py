"""Deterministic synthetic datasets with masks: known gradient orientations, and phantoms.

Kinds: ``rectangles`` (edge gradients at 0° and 90°), ``diamonds`` (45° and 135°), ``discs``
and ``ellipses`` (every orientation) — see :mod:`trainables.data.shapes` — the phantoms
``brain_phantom``, ``chest_phantom``, ``polyp_phantom`` that resemble the seeds' data
(:mod:`trainables.data.phantoms`), and ``noise``: isotropic white noise (grey 0.5 plus the
``noise`` parameter's Gaussian noise, i.i.d. per pixel) with a centred disc of radius S/4 as its
mask, the same for every item.

``noise`` and ``discs`` are the negative controls (docs/rotation.md): nothing in their
distribution changes under any rotation, so every rotation-by-θ measurement (HoG-SVM "rotated
or not", RotNet accuracy, an angle pattern of saliency Dice) must stay at chance on them; a
pattern there is the pipeline's, not the data's. Use them like any dataset, e.g.
``data: {name: synthetic, params: {kind: noise, noise: 0.1}, label: noise}``.

Every item is drawn from its own generator seeded by (dataset seed, index), so item i is the
same whatever else is read. With ``orientation: random`` (the default) each item is then moved
by a uniformly random symmetry of the square (one of 4 rotations × 2 flips), which makes the
dataset's distribution invariant under 90° rotations and flips by construction: only the
orientation of edges, never an object's position or the anatomy's upright pose, can give a
rotation away. ``orientation: upright`` keeps the drawn pose (phantoms then have an up, like
the real datasets: a control for that shortcut).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.base import Sample
from trainables.data.phantoms import PHANTOMS
from trainables.data.shapes import SHAPES, centred_grid, coverage

Kind = Literal["rectangles", "diamonds", "discs", "ellipses", "noise", "brain_phantom",
               "chest_phantom", "polyp_phantom"]
NOISE_LEVEL = 0.5  # the grey of the ``noise`` kind, far from the [0, 1] clip for σ ≤ 0.15


@dataclass(frozen=True)
class SyntheticParams:
    """``data.params`` of the ``synthetic`` dataset.

    Attributes:
        kind: the generator; see the module docstring.
        n_images: items in the dataset.
        seed: generator seed of the whole set.
        noise: std of additive white noise, in [0, 1] intensity units (a textured background;
            0 gives clean edges for known-answer tests; for ``kind: noise`` it is the whole
            image, so 0 gives flat grey).
        orientation: ``random`` (a random symmetry of the square per item, the default) or
            ``upright`` (as drawn).
    """

    kind: Kind = "rectangles"
    n_images: int = field(default=320, metadata={"ge": 2})
    seed: int = 0
    noise: float = field(default=0.05, metadata={"ge": 0.0, "le": 0.5})
    orientation: Literal["random", "upright"] = "random"


def _draw(kind: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An upright image ``(S, S)`` or ``(S, S, 3)`` in [0, 1] and its mask ``(S, S)``."""
    if kind in PHANTOMS:
        return PHANTOMS[kind](size, rng)
    if kind == "noise":  # the texture is the additive noise; the mask has no orientation
        yy, xx = centred_grid(size)
        return np.full((size, size), NOISE_LEVEL), np.hypot(yy, xx) <= size / 4
    d = SHAPES[kind](size, rng)
    fg, bg = rng.uniform(0.6, 0.9), rng.uniform(0.1, 0.3)
    return bg + (fg - bg) * coverage(d), d <= 0


def symmetry(x: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """``x`` (rows and columns first) turned by ``k`` quarter turns, then mirrored left-right."""
    y = np.rot90(x, k, axes=(0, 1))
    return y[:, ::-1] if flip else y


class SyntheticShapes(torch.utils.data.Dataset):
    """One object (a shape or a phantom) per image, with its exact mask."""

    def __init__(self, size: int, params: SyntheticParams) -> None:
        self.size = size
        self.params = params
        self.ids = [f"{params.kind}_{i:05d}" for i in range(params.n_images)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        p = self.params
        rng = np.random.default_rng([p.seed, index])
        image, mask = _draw(p.kind, self.size, rng)
        if p.orientation == "random":
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            image, mask = symmetry(image, k, flip), symmetry(mask, k, flip)
        image = np.clip(image + rng.normal(0.0, p.noise, size=image.shape), 0.0, 1.0)
        t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        t = t.expand(3, -1, -1).clone() if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
        return {"image": t, "mask": torch.from_numpy(np.ascontiguousarray(mask)),
                "image_id": self.ids[index]}


def build_synthetic(cfg: DataConfig) -> SyntheticShapes:
    """The ``synthetic`` adapter; ``cfg.params`` is validated as :class:`SyntheticParams`."""
    params = build(SyntheticParams, cfg.params, "data.params")
    return SyntheticShapes(cfg.image_size, params)
