"""RotNet: K-way classification of the rotation applied to an image (Gidaris et al. 2018).

Any angle set is a valid K-class problem: seed 003's four sets ({0, 90, 180, 270}, every 45°,
{0, 180}, {90, 270}), sets without 0, and angles that are not multiples of 90 (every angle,
0° included, through the same band-limited resampling: docs/rotation.md). The field-of-view
crop is applied after the rotation to every class alike, so no class is told by its black
corners (seed 003 attributes part of the 8-rotation drop to such
artifacts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from trainables.augment import augment
from trainables.config import PretextConfig
from trainables.config.angles import Angles, format_angles
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult
from trainables.pretext.rotation_params import RotationParams
from trainables.rotation import FieldOfView, apply_fov, rotate_each, rotate_grid


@dataclass(frozen=True)
class RotNetParams(RotationParams):
    """``pretext.params`` of ``rotnet``.

    Attributes:
        angles: the K classes in degrees, label i = ``angles[i]`` (seed 003: {0, 90, 180,
            270}, every 45°, {0, 180}, {90, 270}); any set of at least two works, also
            without 0 or with angles that are not multiples of 90 (interpolated, then cropped
            by ``pretext.crop``).
        all_rotations_in_batch: every rotation of each image in the same batch (seed 003)
            rather than one random rotation per image (seed 002's shuffled 4n images).
    """

    task: ClassVar[str] = "rotnet"
    angles: Angles = (0.0, 90.0, 180.0, 270.0)
    all_rotations_in_batch: bool = True

    def __post_init__(self) -> None:
        if len(self.angles) < 2:
            raise ValueError(f"angles: rotnet classifies among the angles and "
                             f"needs at least two, got {list(self.angles)}")

    def describe(self) -> str:
        return f"rotnet {format_angles(self.angles)}"


def rotation_batch(images: torch.Tensor, angles: tuple[float, ...], all_in_batch: bool,
                   g: torch.Generator, crop: FieldOfView = "none"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs and labels of one RotNet step.

    Args:
        images: ``(N, C, H, W)``.
        angles: the K classes, in degrees; label i means "rotated by ``angles[i]``".
        all_in_batch: seed 003: every image in all K rotations (a batch of K·N, image-major:
            rows ``i·K … i·K + K − 1`` are image i at ``angles[0] … angles[K − 1]``);
            otherwise one rotation per image drawn uniformly (a batch of N).
        g: generator for the draws.
        crop: field of view applied after rotating.

    Returns:
        ``(rotated, labels)``: ``(M, C, H, W)`` and ``(M,)`` int64 with M = K·N or N.
    """
    n, k = images.shape[0], len(angles)
    if all_in_batch:  # one resampling per distinct angle mod 90°, then exact quarter turns
        labels = torch.arange(k).repeat(n)
        turned = rotate_grid(images, angles).flatten(0, 1)
    else:
        labels = torch.randint(k, (n,), generator=g, device=g.device).cpu()
        turned = rotate_each(images, torch.tensor(angles, dtype=torch.float64)[labels])
    return apply_fov(turned, crop), labels.to(images.device)


class RotNet(Pretext):
    """Predict which of ``params.angles`` an image was rotated by, with a linear head on the
    pooled embedding (the NIN of seed 003 ends the same way: global pooling, then a linear
    classifier).

    Args:
        encoder: the backbone.
        cfg: ``pretext.*``: ``augment`` (applied once per image, before its rotations) and
            ``crop``.
        params: :class:`RotNetParams`: ``angles`` (the classes) and
            ``all_rotations_in_batch`` (seed 003: true).
    """

    params: RotNetParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: RotNetParams | None = None) -> None:
        p = params or RotNetParams()
        super().__init__(encoder, cfg, p)
        self.head = nn.Linear(encoder.embed_dim, len(p.angles))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Rotation logits ``(N, K)`` of already-rotated inputs."""
        return self.head(self.encoder(x))

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        views = augment(images, self.cfg.augment, g)
        x, y = rotation_batch(views, self.params.angles, self.params.all_rotations_in_batch,
                              g, self.cfg.crop)
        logits = self.logits(x)  # M x K
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean().item()
        return StepResult(loss=loss, accuracy=acc)

