"""Colorization: predict an image's colour from its lightness (seed 004 §2.5; Zhang, Isola &
Efros 2016, "Colorful Image Colorization").

Seed 004: "The input image in the RGB color space is converted to the LAB color space.
Channels A and B are removed from the input image. The remaining L channel is then passed
through a neural network which tries to construct the other two channels A and B"; §5: the
task "completely failed when we switched to the RGB color space". The seed does not say how
ab is predicted. We follow Zhang et al. 2016:

* **classification over quantised ab bins, not regression.** Colour given lightness is
  multimodal (a grey-looking shirt may be red or blue); the L2 regression minimiser is the
  conditional mean, a desaturated brown-grey, and it is dominated by the many low-saturation
  pixels. A distribution over bins keeps the modes, and the cross-entropy does not average
  them away (Zhang et al. §2.1). Bins: the in-gamut centres of a grid of spacing 10 in ab
  (Zhang et al.: Q = 313; our sRGB-cube gamut gives 261, :func:`~trainables.pretext.lab.ab_bins`),
  soft-encoded targets (5 nearest centres, σ = 5), decoding by the annealed mean (T = 0.38).
* **class rebalancing, optional** (``rebalance``, off by default): Zhang et al. weight each
  location by ``((1 − λ) p̃ + λ/Q)^−1`` of its nearest bin with λ = 0.5 and p̃ the smoothed
  ImageNet prior; here p̃ is a running average (momentum 0.99) of the training batches' own
  soft targets, smoothed by a Gaussian of σ = 5 in ab. Off by default because with a prior
  estimated on the fly the loss moves as the prior does, and the seed does not use it.
* **input**: the backbone sees L / 100 in all three channels, so the encoder keeps the
  3-channel contract its probes rely on (it is later fed RGB images; Zhang et al.'s network
  takes L alone).
* **output**: a 1×1-convolution head (conv → BN → ReLU → conv to Q) on the last block's
  feature map, upsampled bilinearly to a grid of side ``data.image_size / out_stride`` where
  the targets are the ab channels area-averaged (Zhang et al. predict at 1/4 resolution, 56 px
  for 224). A backbone whose last map is 1×1 at the trial's image size cannot say where a
  colour goes and is refused at validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from trainables.augment import augment
from trainables.config import PretextConfig, TrialConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, PretextParams, StepResult
from trainables.pretext.checks import feature_map_problems, saliency_target_problems
from trainables.pretext.lab import (
    ab_bins,
    annealed_mean,
    colorization_loss,
    rebalance_weights,
    rgb_to_lab,
    smoothing_matrix,
    soft_encode,
)
from trainables.rotation import apply_fov

PRIOR_MOMENTUM = 0.99  # the running prior's momentum (our choice)


@dataclass(frozen=True)
class ColorizationParams(PretextParams):
    """``pretext.params`` of ``colorization`` (defaults: Zhang et al. 2016).

    Attributes:
        bin_size: spacing of the ab grid whose in-gamut centres are the classes (10).
        neighbours: nearest centres a target colour is spread over (soft encoding: 5).
        sigma: σ of the soft encoding's Gaussian, in ab units (5).
        rebalance: weight each location by its colour's rarity (Zhang et al.: on).
        rebalance_mix: λ, the uniform distribution's share in the rebalancing prior (0.5).
        temperature: T of the annealed-mean decoding, for the reported ab (0.38).
        out_stride: the prediction grid is ``data.image_size / out_stride`` a side (4).
        hidden: channels of the head's 1×1 convolution (our choice).
    """

    task: ClassVar[str] = "colorization"
    bin_size: float = field(default=10.0, metadata={"gt": 0.5, "le": 50.0})
    neighbours: int = field(default=5, metadata={"ge": 1})
    sigma: float = field(default=5.0, metadata={"gt": 0.0})
    rebalance: bool = False
    rebalance_mix: float = field(default=0.5, metadata={"gt": 0.0, "le": 1.0})
    temperature: float = field(default=0.38, metadata={"gt": 0.0})
    out_stride: int = field(default=4, metadata={"ge": 1})
    hidden: int = field(default=128, metadata={"ge": 1})

    def describe(self) -> str:
        q = ab_bins(self.bin_size).shape[0]
        return f"colorization Q={q}" + (" rebalanced" if self.rebalance else "")

    def trial_problems(self, cfg: TrialConfig) -> list[str]:
        problems = feature_map_problems(cfg, self.task)
        if cfg.data.image_size // self.out_stride < 1:
            problems.append(f"pretext.params.out_stride: {self.out_stride} leaves no "
                            f"prediction grid at data.image_size {cfg.data.image_size}")
        return problems + saliency_target_problems(cfg, self.task)


def lab_targets(images: torch.Tensor, out_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's input and its targets.

    Args:
        images: ``(N, 3, S, S)`` sRGB in [0, 1].
        out_side: side of the prediction grid.

    Returns:
        ``(lightness, ab)``: ``(N, 3, S, S)`` L / 100 in every channel, and ``(N, 2, o, o)`` the
        ab channels area-averaged to ``out_side``.
    """
    lab = rgb_to_lab(images)
    lightness = (lab[:, :1] / 100.0).expand(-1, 3, -1, -1)
    ab = F.interpolate(lab[:, 1:], size=(out_side, out_side), mode="area")
    return lightness, ab


class Colorization(Pretext):
    """Classify each location's ab bin from the lightness (see the module docstring).

    Args:
        encoder: the backbone; its last block's feature map is read.
        cfg: ``pretext.*``: ``augment`` (on the RGB image) and ``crop``.
        params: :class:`ColorizationParams`.
    """

    training_only = ("prior",)
    params: ColorizationParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: ColorizationParams | None = None) -> None:
        p = params or ColorizationParams()
        super().__init__(encoder, cfg, p)
        centres = ab_bins(p.bin_size)
        q = centres.shape[0]
        self.register_buffer("centres", centres.clone(), persistent=False)  # Q x 2
        self.register_buffer("smoothing", smoothing_matrix(centres, p.sigma), persistent=False)
        self.register_buffer("prior", torch.full((q,), 1.0 / q))  # running, for rebalancing
        self.head = nn.Sequential(nn.Conv2d(encoder.embed_dim, p.hidden, 1, bias=False),
                                  nn.BatchNorm2d(p.hidden), nn.ReLU(inplace=True),
                                  nn.Conv2d(p.hidden, q, 1))

    def colour_logits(self, lightness: torch.Tensor, out_side: int) -> torch.Tensor:
        """Bin logits ``(N, Q, o, o)`` of ``(N, 3, S, S)`` lightness inputs."""
        logits = self.head(self.encoder.features(lightness))  # N x Q x h x w
        return F.interpolate(logits, size=(out_side, out_side), mode="bilinear",
                             align_corners=False)

    def predict_ab(self, images: torch.Tensor) -> torch.Tensor:
        """The decoded ab ``(N, 2, o, o)`` (annealed mean) of RGB images, from their
        lightness only."""
        out_side = images.shape[-1] // self.params.out_stride
        lightness, _ = lab_targets(images, out_side)
        logits = self.colour_logits(lightness, out_side)
        return annealed_mean(logits.float(), self.centres, self.params.temperature)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        p = self.params
        x = apply_fov(augment(images, self.cfg.augment, g), self.cfg.crop)
        out_side = x.shape[-1] // p.out_stride
        lightness, ab = lab_targets(x, out_side)
        flat_ab = ab.permute(0, 2, 3, 1).reshape(-1, 2)  # M x 2, M = N·o·o
        index, weight = soft_encode(flat_ab, self.centres, p.neighbours, p.sigma)
        logits = self.colour_logits(lightness, out_side)
        flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1]).float()
        pixel_weight = None
        if p.rebalance:
            pixel_weight = self._rebalancing(index, weight)
        loss = colorization_loss(flat_logits, index, weight, pixel_weight)
        acc = (flat_logits.argmax(1) == index[:, 0]).float().mean().item()
        return StepResult(loss=loss, accuracy=acc)

    @torch.no_grad()
    def _rebalancing(self, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Update the running prior with this batch's soft targets and return each
        location's weight ``(M,)`` (that of its nearest bin)."""
        batch = torch.zeros_like(self.prior).index_add_(
            0, index.flatten(), weight.flatten().to(self.prior.dtype))
        self.prior.mul_(PRIOR_MOMENTUM).add_(batch / batch.sum(), alpha=1 - PRIOR_MOMENTUM)
        w = rebalance_weights(self.prior, self.smoothing, self.params.rebalance_mix)
        return w[index[:, 0]]
