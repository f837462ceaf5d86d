"""SimCLR on (view of x, view of x rotated by θ) pairs: the NT-Xent counterpart of
:mod:`trainables.pretext.moco` (Chen et al. 2020; seed 000's authors ran both).

No queue and no momentum encoder: the other 2N − 2 views of the batch are the negatives, so
the batch size sets their number. Both views go through the encoder in one batch (BatchNorm
over all 2N views, as SimCLR's global BN on one device).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult, mlp_head
from trainables.pretext.losses import nt_xent_logits
from trainables.pretext.rotation_params import ContrastiveRotationParams, contrastive_views


@dataclass(frozen=True)
class SimclrRotationParams(ContrastiveRotationParams):
    """``pretext.params`` of ``simclr_rotation``: the keys of
    :class:`~trainables.pretext.rotation_params.ContrastiveRotationParams` (``angles``,
    ``pairing``, ``proj_dim``, ``proj_hidden``, ``temperature``, ``symmetric``; ``symmetric``
    has no effect here, NT-Xent is symmetric already). τ defaults to 0.2 as MoCo's; SimCLR
    used 0.5 on CIFAR-10 (Chen et al. 2020)."""

    task: ClassVar[str] = "simclr_rotation"


class SimclrRotation(Pretext):
    """Encoder and MLP projection head trained with NT-Xent on rotation pairs.

    Args:
        encoder: the backbone.
        cfg: ``pretext.*``: ``augment`` and ``crop`` of both views.
        params: :class:`SimclrRotationParams`: ``angles`` (θ of the positive pair, one drawn
            per image), ``pairing``, ``temperature`` τ, ``proj_dim``, ``proj_hidden``.
    """

    params: SimclrRotationParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: SimclrRotationParams | None = None) -> None:
        p = params or SimclrRotationParams()
        super().__init__(encoder, cfg, p)
        self.head = mlp_head(encoder.embed_dim, p.proj_hidden or encoder.embed_dim, p.proj_dim)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        view, rotated, _ = contrastive_views(images, self.cfg, self.params, g)
        n = images.shape[0]
        z = self.head(self.encoder(torch.cat([view, rotated]))).float()  # 2N x D
        sim, positives = nt_xent_logits(z[:n], z[n:], self.params.temperature)  # 2N x 2N
        loss = torch.nn.functional.cross_entropy(sim, positives)
        acc = (sim.argmax(dim=1) == positives).float().mean().item()
        return StepResult(loss=loss, accuracy=acc)

