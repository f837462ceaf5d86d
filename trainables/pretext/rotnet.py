"""RotNet: K-way classification of the rotation applied to an image (Gidaris et al. 2018).

Any angle set is a valid K-class problem: seed 003's four sets ({0, 90, 180, 270}, every 45°,
{0, 180}, {90, 270}), sets without 0, and angles that are not multiples of 90 (interpolated
bilinearly). The field-of-view crop is applied after the rotation to every class alike, so
no class is told by its black corners (seed 003 attributes part of the 8-rotation drop to such
artifacts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.augment import augment
from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult
from trainables.rotation import FieldOfView, apply_fov, rotate_each


def rotation_batch(images: torch.Tensor, angles: tuple[int, ...], all_in_batch: bool,
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
    if all_in_batch:
        labels = torch.arange(k).repeat(n)
        batch = images.repeat_interleave(k, dim=0)
    else:
        labels = torch.randint(k, (n,), generator=g, device=g.device).cpu()
        batch = images
    degrees = torch.tensor(angles)[labels]
    return apply_fov(rotate_each(batch, degrees), crop), labels.to(images.device)


class RotNet(Pretext):
    """Predict which of ``cfg.angles`` an image was rotated by, with a linear head on the
    pooled embedding (the NIN of seed 003 ends the same way: global pooling, then a linear
    classifier).

    Args:
        encoder: the backbone.
        cfg: ``pretext.*``: ``angles`` (the classes), ``all_rotations_in_batch`` (seed 003:
            true), ``augment`` (applied once per image, before its rotations) and ``crop``.
    """

    def __init__(self, encoder: Backbone, cfg: PretextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.head = nn.Linear(encoder.embed_dim, len(cfg.angles))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Rotation logits ``(N, K)`` of already-rotated inputs."""
        return self.head(self.encoder(x))

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        views = augment(images, self.cfg.augment, g)
        x, y = rotation_batch(views, self.cfg.angles, self.cfg.all_rotations_in_batch, g,
                              self.cfg.crop)
        logits = self.logits(x)  # M x K
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean().item()
        return StepResult(loss=loss, accuracy=acc)


def build_rotnet(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The ``rotnet`` entry of ``PRETEXTS``."""
    return RotNet(encoder, cfg)
