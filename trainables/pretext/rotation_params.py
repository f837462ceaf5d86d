"""What the rotation tasks' ``pretext.params`` share: the angle set, and for the contrastive
ones the pair and the projection head.

The train angle set is a setting of the rotation tasks only (``moco_rotation``,
``simclr_rotation``, ``rotnet``), written as any angle set (a number, a list, a range
``{start: 0, stop: 360, step: 15}``; normalised mod 360, see :mod:`trainables.config.angles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from trainables.config import PretextConfig
from trainables.config.angles import Angles, format_angle, format_angles
from trainables.pretext.base import PretextParams
from trainables.pretext.pairs import Pairing, rotation_pair


@dataclass(frozen=True)
class RotationParams(PretextParams):
    """A task that trains on rotations by ``angles``.

    Attributes:
        angles: the train angles in degrees (the ``train_angles`` column).
    """

    task: ClassVar[str] = "rotation"
    angles: Angles = (90.0,)

    def train_angles(self) -> tuple[float, ...]:
        return self.angles


@dataclass(frozen=True)
class ContrastiveRotationParams(RotationParams):
    """A contrastive task whose positive pair is (a view of x, a view of x rotated by θ).

    Attributes:
        angles: θ candidates, one drawn uniformly per image (seed 000: one θ per trial).
        pairing: how the two views' random augmentations relate. ``shared``: every random
            draw (flips, jitter angle, translation, blur, crop) is made once per image and
            applied to both views, so the views differ by exactly R_θ and "train angle θ"
            means what a study says (issue 11: with independent draws only 26 % of θ = 0 pairs
            were related by the identity, and θ and θ + 180° gave the same pairs).
            ``independent``: each view draws its own augmentation (seed 000's reading of its
            pipeline).
        proj_dim: output size of the projection head (MoCo v2: 128).
        proj_hidden: hidden size of the projection MLP (MoCo v2 and SimCLR); ``None`` = the
            backbone's embedding size (MoCo v2 on ResNet-50: 2048).
        temperature: InfoNCE / NT-Xent temperature τ (MoCo v2: 0.2; SimCLR on CIFAR-10: 0.5).
        symmetric: also use (rotated, original) as (query, key) and average the two losses.
    """

    pairing: Pairing = "shared"
    proj_dim: int = field(default=128, metadata={"ge": 1})
    proj_hidden: int | None = field(default=None, metadata={"ge": 1})
    temperature: float = field(default=0.2, metadata={"gt": 0.0})
    symmetric: bool = False

    def describe(self) -> str:
        theta = (f"θ={format_angle(self.angles[0])}°" if len(self.angles) == 1
                 else f"θ∈{format_angles(self.angles)}°")
        pairing = "" if self.pairing == "shared" else f" {self.pairing}"
        return f"{self.task} {theta}{pairing}"


def contrastive_views(images: torch.Tensor, cfg: PretextConfig,
                      params: ContrastiveRotationParams, g: torch.Generator
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The positive pairs of a batch: ``(view, rotated_view, theta)`` from
    :func:`~trainables.pretext.pairs.rotation_pair` with the task's angles, ``pairing``, and
    the trial's ``augment`` preset and ``crop``."""
    return rotation_pair(images, params.angles, cfg.augment, cfg.crop, g,
                         pairing=params.pairing)
