"""SimCLR on (view of x, view of x rotated by θ) pairs: the NT-Xent counterpart of
:mod:`trainables.pretext.moco` (Chen et al. 2020; seed 000's authors ran both).

No queue and no momentum encoder: the other 2N − 2 views of the batch are the negatives, so
the batch size sets their number. Both views go through the encoder in one batch (BatchNorm
over all 2N views, as SimCLR's global BN on one device).
"""

from __future__ import annotations

import torch

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult, mlp_head
from trainables.pretext.losses import nt_xent_logits
from trainables.pretext.pairs import rotation_pair


class SimclrRotation(Pretext):
    """Encoder and MLP projection head trained with NT-Xent on rotation pairs.

    Args:
        encoder: the backbone.
        cfg: ``pretext.*``: ``angles`` (θ of the positive pair, one drawn per image),
            ``temperature`` τ (SimCLR: 0.5), ``proj_dim`` (128), ``proj_hidden`` (the
            backbone's embedding size when ``None``), ``augment`` and ``crop``.
    """

    def __init__(self, encoder: Backbone, cfg: PretextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.head = mlp_head(encoder.embed_dim, cfg.proj_hidden or encoder.embed_dim,
                             cfg.proj_dim)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        view, rotated, _ = rotation_pair(images, self.cfg.angles, self.cfg.augment,
                                         self.cfg.crop, g)
        n = images.shape[0]
        z = self.head(self.encoder(torch.cat([view, rotated]))).float()  # 2N x D
        sim, positives = nt_xent_logits(z[:n], z[n:], self.cfg.temperature)  # 2N x 2N
        loss = torch.nn.functional.cross_entropy(sim, positives)
        acc = (sim.argmax(dim=1) == positives).float().mean().item()
        return StepResult(loss=loss, accuracy=acc)


def build_simclr_rotation(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The ``simclr_rotation`` entry of ``PRETEXTS``."""
    return SimclrRotation(encoder, cfg)
