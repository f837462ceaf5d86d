"""Visual counting: the features of an image's four tiles add up to the features of the whole
image downscaled (seed 004 §2.2; Noroozi, Pirsiavash & Favaro 2017, "Representation Learning
by Learning to Count").

Seed 004: the image is cut "into four equal-area square tiles T1 … T4", and a siamese network
f is trained so that "f(T1) + f(T2) + f(T3) + f(T4) = f(x)" (the equivariance relation);
the trivial solution f = 0 is prevented by "a contrastive loss ... where x is the original
input image, y is another image sampled randomly from the dataset, and M is a constant scalar
which is set to 10 in the original paper"; §5: "we had to tune the weight of the contrastive
loss term ... If the weight was too small, the model would output all 0s".

We follow the original paper's loss (Noroozi et al. 2017, Eq. 5), with D the 2× downscaling
and t = Σ_j f(T_j ∘ x):

    ℓ(x, y) = |f(D∘x) − t|² + w · max(0, M − |f(D∘y) − t|²)

so the contrastive term compares the other image y with x's *tile sum* (the seed writes it
with f(x); at the optimum f(D∘x) = t and the two readings agree). M = 10 (seed 004 and the
paper); ``contrast_weight`` w = 1 is the paper's, the weight seed 004 tuned. Our choices
where both are silent at this scale:

* y is another image of the same batch (the batch rolled by a shift drawn from the step's
  generator), its D∘y the one already computed for it;
* the counting vector is ``features`` = 1000 non-negative numbers (the paper's fc8 with a
  ReLU: counts are ≥ 0), made by a head fc6 → ReLU → fc7 → ReLU on the pooled embedding;
  no dropout there, so the five forward passes of a relation see the same network;
* D is one of area, bilinear and bicubic (antialiased), drawn per batch, so no one
  resampling kernel's artefacts can tell the downscaled image from a tile;
* the reported ``pretext_accuracy`` is the share of images whose own downscaled image is
  closer to their tile sum than the other image's (|f(D∘x) − t|² < |f(D∘y) − t|²).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from trainables.augment import augment
from trainables.config import PretextConfig, TrialConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, PretextParams, StepResult
from trainables.pretext.checks import patch_size_problems, saliency_target_problems
from trainables.pretext.patches import randint
from trainables.rotation import apply_fov

Downsample = Literal["random", "area", "bilinear", "bicubic"]
KERNELS = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class CountingParams(PretextParams):
    """``pretext.params`` of ``counting``.

    Attributes:
        margin: M of the contrastive term (seed 004 and Noroozi et al. 2017: 10).
        contrast_weight: w, the contrastive term's weight (the paper: 1; seed 004 tuned it).
        features: length of the counting vector (the paper's fc8: 1000).
        hidden: width of the head's hidden layer (our choice; the paper's fc6/fc7: 4096).
        downsample: the resampling of D: ``random`` (one of area, bilinear, bicubic per
            batch) or one of them.
    """

    task: ClassVar[str] = "counting"
    margin: float = field(default=10.0, metadata={"gt": 0.0})
    contrast_weight: float = field(default=1.0, metadata={"ge": 0.0})
    features: int = field(default=1000, metadata={"ge": 1})
    hidden: int = field(default=512, metadata={"ge": 1})
    downsample: Downsample = "random"

    def describe(self) -> str:
        weight = "" if self.contrast_weight == 1.0 else f" w={self.contrast_weight:g}"
        return f"counting M={self.margin:g}{weight}"

    def trial_problems(self, cfg: TrialConfig) -> list[str]:
        problems = patch_size_problems(cfg, self.task, "2×2 tiles and downscaled images",
                                       lambda s: s // 2)
        if cfg.train.batch_size < 2:
            problems.append(f"train.batch_size: {cfg.train.batch_size}; counting contrasts "
                            "each image with another of its batch and needs at least 2")
        return problems + saliency_target_problems(cfg, self.task)


def counting_loss(image: torch.Tensor, tiles: torch.Tensor, other: torch.Tensor,
                  margin: float, contrast_weight: float = 1.0
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noroozi et al. 2017, Eq. 5, averaged over the batch.

    Args:
        image: ``(N, F)`` f(D∘x), the counting vectors of the downscaled images.
        tiles: ``(N, F)`` t = Σ_j f(T_j∘x), the summed vectors of each image's four tiles.
        other: ``(N, F)`` f(D∘y), the vectors of another image for each.
        margin: M.
        contrast_weight: w.

    Returns:
        ``(loss, equivariance, contrast)``: the mean of
        ``|f(D∘x) − t|² + w · max(0, M − |f(D∘y) − t|²)``, and the per-image squared distances
        ``|f(D∘x) − t|²`` and ``|f(D∘y) − t|²``, each ``(N,)``.
    """
    equivariance = ((image - tiles) ** 2).sum(dim=1)
    contrast = ((other - tiles) ** 2).sum(dim=1)
    loss = (equivariance + contrast_weight * torch.clamp(margin - contrast, min=0.0)).mean()
    return loss, equivariance, contrast


def split_tiles(x: torch.Tensor) -> torch.Tensor:
    """The four tiles ``(N, 4, C, S/2, S/2)`` of ``(N, C, S, S)`` images (an odd side loses
    its last row and column), in reading order."""
    h = x.shape[-1] // 2
    return torch.stack([x[..., :h, :h], x[..., :h, h:2 * h],
                        x[..., h:2 * h, :h], x[..., h:2 * h, h:2 * h]], dim=1)


def downscale(x: torch.Tensor, side: int, kernel: str) -> torch.Tensor:
    """``x`` resized to ``side`` px by ``kernel`` (bilinear and bicubic antialiased)."""
    if kernel == "area":
        return F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(x, size=(side, side), mode=kernel, align_corners=False,
                         antialias=True).clamp(0.0, 1.0)


class Counting(Pretext):
    """Learn a counting vector f with f(D∘x) = Σ_j f(T_j∘x) (see the module docstring).

    Args:
        encoder: the backbone, shared by the tiles and the downscaled images.
        cfg: ``pretext.*``: ``augment`` and ``crop`` (applied to the whole image first).
        params: :class:`CountingParams`.
    """

    params: CountingParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: CountingParams | None = None) -> None:
        p = params or CountingParams()
        super().__init__(encoder, cfg, p)
        self.head = nn.Sequential(nn.Linear(encoder.embed_dim, p.hidden), nn.ReLU(inplace=True),
                                  nn.Linear(p.hidden, p.features), nn.ReLU())

    def count(self, x: torch.Tensor) -> torch.Tensor:
        """The counting vectors ``(N, F)`` of inputs ``(N, C, s, s)``."""
        return self.head(self.encoder(x))

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        n = images.shape[0]
        if n < 2:
            raise ValueError("counting contrasts each image with another of its batch; got a "
                             "batch of 1 (train.batch_size >= 2 and at least 2 images)")
        p = self.params
        x = apply_fov(augment(images, self.cfg.augment, g), self.cfg.crop)
        tiles = split_tiles(x)  # N x 4 x C x h x h
        h = tiles.shape[-1]
        kernel = p.downsample
        if kernel == "random":
            kernel = KERNELS[int(randint(0, len(KERNELS) - 1, (1,), g, torch.device("cpu")))]
        down = downscale(x, h, kernel)  # N x C x h x h
        # 5N x F in one BN batch; the distances in fp32 (bf16 autocast on CUDA would round
        # them to 3 digits against M = 10)
        f = self.count(torch.cat([down, tiles.flatten(0, 1)])).float()
        f_image, f_tiles = f[:n], f[n:].reshape(n, 4, -1).sum(dim=1)
        shift = int(randint(1, n - 1, (1,), g, torch.device("cpu")))
        f_other = f_image.roll(shift, dims=0)  # image i is contrasted with image i - shift
        loss, eq, con = counting_loss(f_image, f_tiles, f_other, p.margin, p.contrast_weight)
        return StepResult(loss=loss, accuracy=(eq < con).float().mean().item())
