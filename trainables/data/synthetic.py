"""Deterministic synthetic datasets with masks and known gradient-orientation statistics.

Every image is drawn from its own generator seeded by (dataset seed, index), so item i is the
same whatever else is read. Shapes are placed and sized by distributions invariant under 90°
rotations and flips (centre uniform in a centred square, width and height i.i.d.), so only the
orientation of edges, never an object's position, can give a rotation away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.base import Sample

Kind = Literal["rectangles", "diamonds", "discs"]


@dataclass(frozen=True)
class SyntheticParams:
    """``data.params`` of the ``synthetic`` dataset.

    Attributes:
        kind: ``rectangles`` (axis-aligned: gradients at 0° and 90°), ``diamonds`` (squares
            rotated 45°: gradients at 45° and 135°), ``discs`` (ellipses with axes along x/y:
            every orientation).
        n_images: items in the dataset.
        seed: generator seed of the whole set.
        noise: std of the additive background texture, in [0, 1] intensity units.
    """

    kind: Kind = "rectangles"
    n_images: int = field(default=320, metadata={"ge": 2})
    seed: int = 0
    noise: float = field(default=0.05, metadata={"ge": 0.0, "le": 0.5})


def _draw_mask(kind: Kind, size: int, rng: np.random.Generator) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    # centre within the central square of side size/4; half-sizes i.i.d. (swap-invariant)
    cx, cy = rng.uniform(-size / 8, size / 8, size=2)
    a, b = rng.uniform(size / 10, size / 4.5, size=2)
    dx, dy = xx - cx, yy - cy
    if kind == "rectangles":
        return (np.abs(dx) <= a) & (np.abs(dy) <= b)
    if kind == "diamonds":
        half = min(a, b) * 1.2
        return (np.abs(dx) + np.abs(dy)) <= half
    return (dx / a) ** 2 + (dy / b) ** 2 <= 1.0


class SyntheticShapes(torch.utils.data.Dataset):
    """One bright shape on a dim textured background per image, with its exact mask."""

    def __init__(self, size: int, params: SyntheticParams) -> None:
        self.size = size
        self.params = params
        self.ids = [f"{params.kind}_{i:05d}" for i in range(params.n_images)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        p = self.params
        rng = np.random.default_rng([p.seed, index])
        mask = _draw_mask(p.kind, self.size, rng)
        fg, bg = rng.uniform(0.6, 0.9), rng.uniform(0.1, 0.3)
        texture = rng.normal(0.0, p.noise, size=(self.size, self.size))
        gray = np.clip(np.where(mask, fg, bg) + texture, 0.0, 1.0).astype(np.float32)
        image = torch.from_numpy(gray).expand(3, -1, -1).clone()
        return {"image": image, "mask": torch.from_numpy(mask), "image_id": self.ids[index]}


def build_synthetic(cfg: DataConfig) -> SyntheticShapes:
    """The ``synthetic`` adapter; ``cfg.params`` is validated as :class:`SyntheticParams`."""
    params = build(SyntheticParams, cfg.params, "data.params")
    return SyntheticShapes(cfg.image_size, params)


