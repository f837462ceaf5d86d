"""MoCo v2 on (view of x, view of x rotated by θ) pairs: seed 000's pre-training."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from trainables.augment import augment
from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult, mlp_head
from trainables.pretext.losses import info_nce
from trainables.rotation import apply_fov, rotate_each


class MocoRotation(Pretext):
    """Query encoder, momentum key encoder and a queue of negatives (He et al. 2020; Chen et al.
    2020, MoCo v2), with positives made by rotation.

    Args:
        encoder: the backbone (the query encoder); the key encoder is a copy of it.
        cfg: ``pretext.*``: ``angles`` (θ of the positive pair, one drawn per image),
            ``queue_size`` K, ``momentum`` m (0.999), ``temperature`` τ (0.2), ``proj_dim``
            (128), ``proj_hidden`` (the backbone's embedding size when ``None``; 2048 for
            ResNet-50), ``symmetric``, ``augment`` and ``crop``.
    """

    def __init__(self, encoder: Backbone, cfg: PretextConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hidden = cfg.proj_hidden or encoder.embed_dim
        self.encoder = encoder
        self.head_q = mlp_head(encoder.embed_dim, hidden, cfg.proj_dim)
        self.encoder_k = copy.deepcopy(encoder).requires_grad_(False)
        self.head_k = copy.deepcopy(self.head_q).requires_grad_(False)
        queue = F.normalize(torch.randn(cfg.queue_size, cfg.proj_dim), dim=1)
        self.register_buffer("queue", queue)  # K x D
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("angles", torch.tensor(cfg.angles, dtype=torch.float32))

    def reset_key_encoder(self) -> None:
        """Copy the query encoder into the key encoder and start a fresh queue (used when
        starting from a checkpoint that has no key encoder)."""
        self.encoder_k.load_state_dict(self.encoder.state_dict())
        self.head_k.load_state_dict(self.head_q.state_dict())
        self.queue.copy_(F.normalize(torch.randn_like(self.queue), dim=1))
        self.queue_ptr.zero_()

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k ← m θ_k + (1 − m) θ_q for the encoder and head (buffers are copied)."""
        m = self.cfg.momentum
        for online, target in ((self.encoder, self.encoder_k), (self.head_q, self.head_k)):
            for p_q, p_k in zip(online.parameters(), target.parameters(), strict=True):
                p_k.mul_(m).add_(p_q.detach(), alpha=1 - m)
            for b_q, b_k in zip(online.buffers(), target.buffers(), strict=True):
                b_k.copy_(b_q)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (N x D) at the queue pointer, wrapping around; works for any N ≤ K,
        also when N does not divide K. With N > K only the last K keys are kept."""
        keys = keys[-self.queue.shape[0]:]
        n, size = keys.shape[0], self.queue.shape[0]
        idx = (self.queue_ptr + torch.arange(n, device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    def _views(self, images: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        n = images.shape[0]
        pick = torch.randint(len(self.cfg.angles), (n,), generator=g, device=g.device)
        theta = self.angles.cpu()[pick.cpu()].round().int()
        view_q = apply_fov(augment(images, self.cfg.augment, g), self.cfg.crop)
        view_k = augment(images, self.cfg.augment, g)
        view_k = apply_fov(rotate_each(view_k, theta), self.cfg.crop)
        return view_q, view_k

    def _loss(self, x_q: torch.Tensor, x_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                     torch.Tensor]:
        q = F.normalize(self.head_q(self.encoder(x_q)), dim=1)  # N x D
        with torch.no_grad():
            k = F.normalize(self.head_k(self.encoder_k(x_k)), dim=1)  # N x D
        loss, logits = info_nce(q, k, self.queue.clone().detach(), self.cfg.temperature)
        return loss, logits, k

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        view_q, view_k = self._views(images, g)
        with torch.no_grad():
            self.momentum_update()
        loss, logits, k = self._loss(view_q, view_k)
        keys = [k]
        if self.cfg.symmetric:
            loss2, _, k2 = self._loss(view_k, view_q)
            loss = (loss + loss2) / 2
            keys.append(k2)
        acc = (logits.argmax(dim=1) == 0).float().mean().item()
        for k_ in keys:
            self.enqueue(k_)
        return StepResult(loss=loss, accuracy=acc)

def build_moco_rotation(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The ``moco_rotation`` entry of ``PRETEXTS``."""
    return MocoRotation(encoder, cfg)
