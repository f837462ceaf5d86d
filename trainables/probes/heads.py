"""The trainable part of each probe: linear and MLP heads, the segmentation decoder, and the
truncated encoder + head that ``finetune`` trains."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config.probe import ProbeConfig
from trainables.models import Backbone


def pool_features(maps: torch.Tensor, pool: int) -> torch.Tensor:
    """Adaptive average pooling to a ``pool × pool`` grid, flattened channel-major.

    Args:
        maps: ``(N, C, H, W)`` block outputs.
        pool: the grid side (1 = global average pooling; seed 004 pools adaptively so every
            input size fits one head).

    Returns:
        ``(N, C · pool²)`` float32.
    """
    return F.adaptive_avg_pool2d(maps.float(), pool).flatten(1)


@dataclass(frozen=True)
class HeadInput:
    """What a probe's trainable model is built for.

    Attributes:
        dim: pooled feature size ``C · pool²`` (``linear``, ``mlp``) or channels of the block's
            maps (``segmentation``); unused by ``finetune``, which measures its own.
        n_out: classes (classification) or 1 (the foreground logit of segmentation).
        image_size: side of the downstream images (and masks), pixels.
        block: the probed block.
        encoder: the encoder ``finetune`` copies and trains (the frozen probes never touch it).
    """

    dim: int
    n_out: int
    image_size: int
    block: str
    encoder: Backbone | None = None


def build_linear(h: HeadInput, cfg: ProbeConfig) -> nn.Module:
    """One linear layer on (standardised) frozen features: seed 004's evaluation."""
    return nn.Linear(h.dim, h.n_out)


def build_mlp(h: HeadInput, cfg: ProbeConfig) -> nn.Module:
    """Seed 003's non-linear classifier: three fully-connected layers, the two hidden ones
    (``cfg.hidden`` units, 200 for CIFAR-10) bias-free and followed by BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Linear(h.dim, cfg.hidden, bias=False), nn.BatchNorm1d(cfg.hidden), nn.ReLU(True),
        nn.Linear(cfg.hidden, cfg.hidden, bias=False), nn.BatchNorm1d(cfg.hidden),
        nn.ReLU(True),
        nn.Linear(cfg.hidden, h.n_out),
    )


class SegmentationDecoder(nn.Module):
    """A light decoder: 3×3 conv → BN → ReLU → 1×1 conv to one logit per location, then
    bilinear upsampling to the mask size. Deliberately small, so Dice measures what the frozen
    block's maps already hold rather than what a deep decoder could learn.

    Args:
        channels: channels of the block's maps.
        hidden: the decoder's hidden channels (``probe.decoder_channels``).
        out_size: side of the masks, pixels.
    """

    def __init__(self, channels: int, hidden: int, out_size: int) -> None:
        super().__init__()
        self.out_size = out_size
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(True), nn.Conv2d(hidden, 1, 1))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        # maps: N x C x h x w -> logits N x 1 x h x w -> N x S x S
        logits = self.body(maps.float())
        return F.interpolate(logits, size=(self.out_size, self.out_size), mode="bilinear",
                             align_corners=False)[:, 0]


def build_segmentation(h: HeadInput, cfg: ProbeConfig) -> nn.Module:
    """The ``segmentation`` probe's decoder on a block's maps."""
    return SegmentationDecoder(h.dim, cfg.decoder_channels, h.image_size)


class FinetuneNet(nn.Module):
    """The encoder's blocks up to ``block`` (a copy, every weight trainable), pooled as the
    frozen probes pool, and a linear head (seed 003's "fine-tuned" rows; seed 004's pipeline
    without the freezing)."""

    def __init__(self, encoder: Backbone, block: str, pool: int, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.block = block
        self.pool = pool
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x S x S -> block maps -> N x C*pool^2 -> logits N x K
        return self.head(pool_features(self.encoder.features(images, self.block), self.pool))


def build_finetune(h: HeadInput, cfg: ProbeConfig) -> nn.Module:
    """A trainable copy of ``h.encoder`` truncated at ``h.block`` with a linear head.

    Raises:
        ValueError: ``h.encoder`` is missing.
    """
    if h.encoder is None:
        raise ValueError("probe 'finetune' needs the encoder to fine-tune")
    encoder = copy.deepcopy(h.encoder).requires_grad_(True)
    device = next(encoder.parameters()).device
    encoder.eval()  # the size probe must not touch BatchNorm statistics
    with torch.no_grad():
        probe = torch.zeros(1, 3, h.image_size, h.image_size, device=device)
        dim = pool_features(encoder.features(probe, h.block), cfg.pool).shape[1]
    return FinetuneNet(encoder, h.block, cfg.pool, nn.Linear(dim, h.n_out).to(device))
