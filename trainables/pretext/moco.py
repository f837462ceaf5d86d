"""MoCo v2 on (view of x, view of x rotated by θ) pairs: seed 000's pre-training.

Follows He et al. 2020 (MoCo) and Chen et al. 2020 (MoCo v2: MLP head, τ = 0.2), as the
reference ``moco/builder.py`` runs it: the key encoder starts as a copy of the query encoder
and follows it by momentum (parameters only; its BatchNorm keeps its own running statistics),
keys are L2-normalised, the loss is InfoNCE against the positive key and a queue of K earlier
keys, and the batch's keys then replace the oldest queue entries.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult, mlp_head
from trainables.pretext.losses import info_nce
from trainables.pretext.pairs import split_forward
from trainables.pretext.rotation_params import ContrastiveRotationParams, contrastive_views


@dataclass(frozen=True)
class MocoRotationParams(ContrastiveRotationParams):
    """``pretext.params`` of ``moco_rotation`` (and every key of
    :class:`~trainables.pretext.rotation_params.ContrastiveRotationParams`: ``angles``,
    ``pairing``, ``proj_dim``, ``proj_hidden``, ``temperature`` (0.2, MoCo v2), ``symmetric``).

    The defaults are the CPU demo's; MoCo v2's own values (He et al. 2020, Chen et al. 2020:
    K = 65536, m = 0.999) are written out in the study files that re-run seed 000.

    Attributes:
        queue_size: the number of negatives K (MoCo v2: 65536; default 1024, a few epochs of
            a small dataset). Any K works: a batch that does not divide K wraps around the
            queue, and a K larger than the data keeps its initial random unit vectors until
            filled (``rotsweep validate`` does not refuse it; the study should say why).
        momentum: the key encoder's momentum m (MoCo v2: 0.999; default 0.99, which follows
            the query encoder within the few hundred steps of a demo).
        split_bn: the single-device stand-in for shuffle-BN (He et al. 2020, Sec. 3.3): the
            batch is treated as ``split_bn`` simulated GPUs; queries are normalised per group
            in order, keys are shuffled across the groups first and unshuffled after, so a
            query and its key never share BatchNorm statistics. 1 = plain BN over the batch
            (what a single-GPU run of facebookresearch/moco does). Needs ≥ 2 images per group.
    """

    task: ClassVar[str] = "moco_rotation"
    queue_size: int = field(default=1024, metadata={"ge": 1})
    momentum: float = field(default=0.99, metadata={"ge": 0.0, "le": 1.0})
    split_bn: int = field(default=1, metadata={"ge": 1})


class MocoRotation(Pretext):
    """Query encoder, momentum key encoder and a queue of negatives, positives made by rotation.

    Args:
        encoder: the backbone (the query encoder, already initialised); the key encoder is a
            copy of it and the queue starts fresh, so a MoCo checkpoint's own key encoder and
            queue are never used (``model.init: moco_v2`` loads the query encoder only).
        cfg: ``pretext.*``: ``augment`` and ``crop`` of both views.
        params: :class:`MocoRotationParams`: ``angles`` (θ of the positive pair, one drawn
            per image), ``pairing``, ``queue_size`` K, ``momentum`` m, ``temperature`` τ,
            ``proj_dim``, ``proj_hidden``, ``symmetric`` and ``split_bn``.
    """

    training_only = ("encoder_k.", "head_k.", "queue")
    params: MocoRotationParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: MocoRotationParams | None = None) -> None:
        p = params or MocoRotationParams()
        super().__init__(encoder, cfg, p)
        hidden = p.proj_hidden or encoder.embed_dim
        self.head_q = mlp_head(encoder.embed_dim, hidden, p.proj_dim)
        self.encoder_k = copy.deepcopy(encoder).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head_q).requires_grad_(False)
        self.register_buffer("queue", torch.empty(p.queue_size, p.proj_dim))  # K x D
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.reset_queue()

    @torch.no_grad()
    def reset_queue(self) -> None:
        """Random unit vectors in the queue and the pointer at 0 (MoCo's initial queue)."""
        self.queue.copy_(F.normalize(torch.randn_like(self.queue), dim=1))
        self.queue_ptr.zero_()

    @torch.no_grad()
    def reset_key_encoder(self) -> None:
        """Copy the query encoder and head into the key side and start a fresh queue (for
        weights loaded into :attr:`encoder` after construction)."""
        self.encoder_k.load_state_dict(self.encoder.state_dict())
        self.head_k.load_state_dict(self.head_q.state_dict())
        self.reset_queue()

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k ← m θ_k + (1 − m) θ_q for the encoder and head parameters."""
        m = self.params.momentum
        for online, target in ((self.encoder, self.encoder_k), (self.head_q, self.head_k)):
            for p_q, p_k in zip(online.parameters(), target.parameters(), strict=True):
                p_k.mul_(m).add_(p_q.detach(), alpha=1 - m)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (N x D) at the queue pointer, wrapping around; works for any N, also
        when N does not divide K (with N > K only the last K keys are kept)."""
        size = self.queue.shape[0]
        keys = keys[-size:]
        n = keys.shape[0]
        idx = (self.queue_ptr + torch.arange(n, device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised query projections ``(N, D)`` (BatchNorm per ``split_bn`` group)."""
        def fn(part: torch.Tensor) -> torch.Tensor:
            return self.head_q(self.encoder(part))

        # float32 from here on: under bf16 autocast the logits would keep ~3 digits
        return F.normalize(split_forward(fn, x, self.params.split_bn).float(), dim=1)

    @torch.no_grad()
    def key(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Normalised key projections ``(N, D)``; with ``split_bn`` > 1 the batch is shuffled
        across the groups first (shuffle-BN) and unshuffled after."""
        def fn(part: torch.Tensor) -> torch.Tensor:
            return self.head_k(self.encoder_k(part))

        groups = self.params.split_bn
        perm = (torch.randperm(x.shape[0], generator=g, device=g.device) if groups > 1
                else None)
        return F.normalize(split_forward(fn, x, groups, perm).float(), dim=1)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        view, rotated, _ = contrastive_views(images, self.cfg, self.params, g)
        self.momentum_update()  # as builder.py: at the start of the step, before the keys
        queue = self.queue.clone().detach()  # K x D: negatives as they were before this batch
        q = self.query(view)  # N x D
        k = self.key(rotated, g)  # N x D
        tau = self.params.temperature
        loss, logits = info_nce(q, k, queue, tau)  # logits: N x (1 + K)
        keys = [k]
        if self.params.symmetric:
            # the same pair the other way round: rotated view as query, plain view as key
            k_b = self.key(view, g)
            loss_b, _ = info_nce(self.query(rotated), k_b, queue, tau)
            loss = (loss + loss_b) / 2
            keys.append(k_b)
        acc = (logits.argmax(dim=1) == 0).float().mean().item()
        for k_ in keys:
            self.enqueue(k_)
        return StepResult(loss=loss, accuracy=acc)

