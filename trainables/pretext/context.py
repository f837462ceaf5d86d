"""Context prediction: where a patch lies relative to another, one of 8 neighbours (Doersch,
Gupta & Efros 2015, "Unsupervised Visual Representation Learning by Context Prediction").

**Seed 004 and this task differ.** Seed 004 lists "context prediction" among its five tasks but
describes (§2.4) and cites ([4], Pathak et al. 2016) a context *encoder*: "A moderately sized
square region is removed from the input image ... passed onto first the context encoder and
then the context decoder to reconstruct the missing piece". Our issue asks for context
prediction as relative position, which is what this module implements (Doersch et al. 2015);
the inpainting encoder-decoder of Pathak et al. is not implemented, and the ``context`` rows
of a seed-004 comparison are relative-position rows.

From Doersch et al. 2015: a pair of patches, the first and one of its 8 neighbours on a 3×3
layout; a gap between patches (48 px between 96-px patches: ``gap`` = 0.5 of the patch side)
and a random jitter of each patch (up to 7 px of 96: ``jitter`` = 0.075) so that no edge or
line continues from one patch into the other; "color dropping" (two of the three colour
channels replaced by noise; ``color_drop``) against chromatic aberration; a shared-weight
("late fusion") network: each patch through the encoder and fc6, the two fc6 outputs
concatenated, fc7 and an 8-way softmax.

Our choices at this scale:

* the patch side is the largest that fits the whole 3×3 layout, gaps and jitter in the image
  (``data.image_size`` / 4.15 with the defaults: 15 px at 64 px, 53 px at 224 px); the layout
  sits at a random whole-pixel offset in the slack;
* each image gives one pair per step, its neighbour drawn uniformly from the 8;
* head widths fc6 256 per patch and fc7 512 (the paper: 4096 each), dropout 0.5 after each
  (seed 004: dropout "all throughout"), masks drawn from the step's generator;
* the paper's random downsampling of some patches (against pixelation cues) is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F

from trainables.augment import augment
from trainables.config import PretextConfig, TrialConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, PretextParams, StepResult
from trainables.pretext.checks import (
    crop_problems,
    patch_size_problems,
    saliency_target_problems,
)
from trainables.pretext.patches import (
    SiameseHead,
    crop_patches,
    drop_colours,
    encode_patches,
    randint,
)

# the 8 neighbours (row, column offset) in reading order: class k = NEIGHBOURS[k]
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass(frozen=True)
class ContextParams(PretextParams):
    """``pretext.params`` of ``context``.

    Attributes:
        gap: space between neighbouring patches, as a fraction of the patch side (Doersch et
            al.: 48 / 96 = 0.5).
        jitter: largest shift of each patch in each direction, as a fraction of its side
            (Doersch et al.: 7 / 96 ≈ 0.075).
        color_drop: Doersch et al.'s color dropping on each patch.
        patch_features: fc6 width per patch (the paper: 4096).
        hidden: fc7 width (the paper: 4096).
        dropout: after fc6 and fc7.
    """

    task: ClassVar[str] = "context"
    gap: float = field(default=0.5, metadata={"ge": 0.0, "le": 2.0})
    jitter: float = field(default=0.075, metadata={"ge": 0.0, "le": 0.5})
    color_drop: bool = True
    patch_features: int = field(default=256, metadata={"ge": 1})
    hidden: int = field(default=512, metadata={"ge": 1})
    dropout: float = field(default=0.5, metadata={"ge": 0.0, "lt": 1.0})

    def describe(self) -> str:
        return f"context gap={self.gap:g}"

    def geometry(self, image_size: int) -> tuple[int, int, int]:
        """``(patch, gap, jitter)`` in pixels: the largest patch side whose 3×3 layout with
        gaps and jitter fits ``image_size`` (patch 0 when none does)."""
        patch = math.floor(image_size / (3 + 2 * self.gap + 2 * self.jitter))
        while patch > 0:
            gap, jitter = round(self.gap * patch), math.floor(self.jitter * patch)
            if 3 * patch + 2 * gap + 2 * jitter <= image_size:
                return patch, gap, jitter
            patch -= 1
        return 0, 0, 0

    def trial_problems(self, cfg: TrialConfig) -> list[str]:
        return (patch_size_problems(cfg, self.task, "patches",
                                    lambda s: self.geometry(s)[0])
                + crop_problems(cfg, self.task, "patches")
                + saliency_target_problems(cfg, self.task))


def context_batch(images: torch.Tensor, patch: int, gap: int, jitter: int,
                  g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One patch pair per image: the centre of a 3×3 layout and one of its 8 neighbours.

    Args:
        images: ``(N, C, S, S)`` with ``3·patch + 2·gap + 2·jitter ≤ S``.
        patch, gap, jitter: pixels (:meth:`ContextParams.geometry`).
        g: draws the layout's offset, the neighbour and each patch's jitter.

    Returns:
        ``(pairs, labels)``: ``(N, 2, C, patch, patch)`` (centre first) and ``(N,)`` int64,
        the neighbour's index in :data:`NEIGHBOURS`.
    """
    n, side, dev = images.shape[0], images.shape[-1], images.device
    slack = side - (3 * patch + 2 * gap + 2 * jitter)
    origin = randint(0, slack, (n, 1, 2), g, dev) + jitter  # the layout's corner
    labels = randint(0, len(NEIGHBOURS) - 1, (n,), g, dev)
    offsets = torch.tensor(NEIGHBOURS, device=dev)[labels]  # N x 2
    cell = torch.stack([torch.ones_like(offsets), 1 + offsets], dim=1)  # N x 2 x 2: centre, nb
    shift = randint(-jitter, jitter, (n, 2, 2), g, dev)
    corner = origin + cell * (patch + gap) + shift  # N x 2 x 2
    pairs = crop_patches(images, corner[..., 0], corner[..., 1], patch)
    return pairs, labels


class Context(Pretext):
    """Classify the relative position of a patch pair (see the module docstring).

    Args:
        encoder: the backbone, shared by both patches.
        cfg: ``pretext.*``: ``augment`` (on the whole image); ``crop`` must be ``none``.
        params: :class:`ContextParams`.
    """

    params: ContextParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: ContextParams | None = None) -> None:
        p = params or ContextParams()
        super().__init__(encoder, cfg, p)
        self.head = SiameseHead(encoder.embed_dim, 2, p.patch_features, p.hidden,
                                len(NEIGHBOURS), p.dropout)

    def position_logits(self, pairs: torch.Tensor, g: torch.Generator | None = None
                        ) -> torch.Tensor:
        """Relative-position logits ``(N, 8)`` of patch pairs ``(N, 2, C, p, p)``."""
        return self.head(encode_patches(self.encoder, pairs), g)

    def make_pairs(self, images: torch.Tensor, g: torch.Generator
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs ``(N, 2, C, p, p)`` and labels ``(N,)`` of a batch, every guard applied."""
        p = self.params
        x = augment(images, self.cfg.augment, g)
        pairs, labels = context_batch(x, *p.geometry(x.shape[-1]), g)
        if p.color_drop and pairs.shape[2] == 3:
            pairs = drop_colours(pairs, g)
        return pairs, labels

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        pairs, labels = self.make_pairs(images, g)
        logits = self.position_logits(pairs, g)  # N x 8
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss=loss, accuracy=(logits.argmax(1) == labels).float().mean().item())
