"""MoCo v2 on (view of x, view of x rotated by θ) pairs: seed 000's pre-training.

Follows He et al. 2020 (MoCo) and Chen et al. 2020 (MoCo v2: MLP head, τ = 0.2), as the
reference ``moco/builder.py`` runs it: the key encoder starts as a copy of the query encoder
and follows it by momentum (parameters only; its BatchNorm keeps its own running statistics),
keys are L2-normalised, the loss is InfoNCE against the positive key and a queue of K earlier
keys, and the batch's keys then replace the oldest queue entries.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult, mlp_head
from trainables.pretext.losses import info_nce
from trainables.pretext.pairs import rotation_pair, split_forward


class MocoRotation(Pretext):
    """Query encoder, momentum key encoder and a queue of negatives, positives made by rotation.

    Args:
        encoder: the backbone (the query encoder, already initialised); the key encoder is a
            copy of it and the queue starts fresh, so a MoCo checkpoint's own key encoder and
            queue are never used (``model.init: moco_v2`` loads the query encoder only).
        cfg: ``pretext.*``: ``angles`` (θ of the positive pair, one drawn per image),
            ``queue_size`` K, ``momentum`` m (0.999), ``temperature`` τ (0.2), ``proj_dim``
            (128), ``proj_hidden`` (the backbone's embedding size when ``None``; 2048 for
            ResNet-50), ``symmetric``, ``split_bn``, ``augment`` and ``crop``.
    """

    training_only = ("encoder_k.", "head_k.", "queue")

    def __init__(self, encoder: Backbone, cfg: PretextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hidden = cfg.proj_hidden or encoder.embed_dim
        self.encoder = encoder
        self.head_q = mlp_head(encoder.embed_dim, hidden, cfg.proj_dim)
        self.encoder_k = copy.deepcopy(encoder).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head_q).requires_grad_(False)
        self.register_buffer("queue", torch.empty(cfg.queue_size, cfg.proj_dim))  # K x D
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
        m = self.cfg.momentum
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
        return F.normalize(split_forward(fn, x, self.cfg.split_bn).float(), dim=1)

    @torch.no_grad()
    def key(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Normalised key projections ``(N, D)``; with ``split_bn`` > 1 the batch is shuffled
        across the groups first (shuffle-BN) and unshuffled after."""
        def fn(part: torch.Tensor) -> torch.Tensor:
            return self.head_k(self.encoder_k(part))

        groups = self.cfg.split_bn
        perm = (torch.randperm(x.shape[0], generator=g, device=g.device) if groups > 1
                else None)
        return F.normalize(split_forward(fn, x, groups, perm).float(), dim=1)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        view, rotated, _ = rotation_pair(images, self.cfg.angles, self.cfg.augment,
                                         self.cfg.crop, g)
        self.momentum_update()  # as builder.py: at the start of the step, before the keys
        queue = self.queue.clone().detach()  # K x D: negatives as they were before this batch
        q = self.query(view)  # N x D
        k = self.key(rotated, g)  # N x D
        loss, logits = info_nce(q, k, queue, self.cfg.temperature)  # logits: N x (1 + K)
        keys = [k]
        if self.cfg.symmetric:
            # the same pair the other way round: rotated view as query, plain view as key
            k_b = self.key(view, g)
            loss_b, _ = info_nce(self.query(rotated), k_b, queue, self.cfg.temperature)
            loss = (loss + loss_b) / 2
            keys.append(k_b)
        acc = (logits.argmax(dim=1) == 0).float().mean().item()
        for k_ in keys:
            self.enqueue(k_)
        return StepResult(loss=loss, accuracy=acc)


def build_moco_rotation(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The ``moco_rotation`` entry of ``PRETEXTS``."""
    return MocoRotation(encoder, cfg)
