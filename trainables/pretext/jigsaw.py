"""Jigsaw puzzles: which permutation shuffled an image's 3×3 tiles (seed 004 §2.3; Noroozi &
Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw Puzzles").

Seed 004: "9 neighboring tiles are extracted from an image ... a small gap is placed between
the tiles and color jitter augmentation is applied in order to prevent the model from cheating
using cues of edges and continuity. The 9 tiles are shuffled and inputted to a siamese neural
network, which concatenates the features of each of the tiles and passes them onto a
fully-connected network with softmax ... a 1000-way classification problem where the class ...
is the permutation index"; §5: "we had to shuffle through multiple sets of 1000-permutations
for the jigsaw puzzle task to prevent divergence".

From the paper: the image is cut into a 3×3 grid of cells (75 px of a 225-px crop) and each
tile is a random square of 64/75 of its cell inside it, which leaves a random gap between
tiles and jitters each one (``tile_fraction``); each tile is normalised on its own mean and
spread; the permutation set is chosen by maximal Hamming distance (Algorithm 1,
:mod:`trainables.pretext.permutations`); the tiles go through one shared-weight encoder, their
fc6 features are concatenated and classified by fc7 → fc8.

Our choices where the seed is silent or the scale differs:

* **100 permutations by default, not 1000.** On the 32–64 px images of our sweeps a tile is
  9–18 px, and two permutations of a 1000-set can differ in two tiles only (minimum Hamming
  distance 2; 100-sets keep the same minimum but average 8.08 against 8.00, and the classes
  are ten times better sampled: a 30,000-image subset shows each of 1000 classes ~30 times per
  epoch). Seed 004 reports divergence with 1000-sets. ``permutations: 1000`` is the paper's.
* the first permutation of the set is drawn with ``permutation_seed`` (the algorithm's only
  random draw), so a set is named by (size, seed);
* the grid is centred with a random whole-pixel offset when the side is not a multiple of 3;
* per-tile colour jitter (``color_jitter``, seed 004's guard) and a share of grey images
  (``gray_prob``, against chromatic-aberration cues the paper discusses; 0.3, our choice);
  the paper's ±2-px shift of colour channels is left out (chromatic aberration is below a
  pixel once images are downscaled to our sizes);
* head widths fc6 256 per tile and fc7 512 (the paper: 1024 and 4096), dropout 0.5 after
  each (seed 004: dropout "all throughout"), masks drawn from the step's generator.
"""

from __future__ import annotations

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
    encode_patches,
    gray_images,
    jitter_colours,
    randint,
    standardize_patches,
)
from trainables.pretext.permutations import maximal_hamming_set

GRID = 3  # seed 004: "9 neighboring tiles"
PAPER_TILE_FRACTION = 64 / 75  # Noroozi & Favaro 2016: 64-px tiles in 75-px cells


@dataclass(frozen=True)
class JigsawParams(PretextParams):
    """``pretext.params`` of ``jigsaw``.

    Attributes:
        permutations: classes, chosen by maximal Hamming distance (the paper and seed 004:
            1000; default 100, see the module docstring).
        permutation_seed: seeds the set's first permutation.
        tile_fraction: tile side / cell side (the paper: 64/75); the rest of the cell is the
            gap and the jitter.
        color_jitter: per-tile colour jitter strength s (brightness, contrast, saturation in
            [1 − s, 1 + s], hue ±0.1, p = 0.8); 0 = none.
        gray_prob: share of images made grey before tiling.
        normalize_tiles: give each tile the same mean and spread (the paper).
        tile_features: fc6 width per tile (the paper: 1024).
        hidden: fc7 width (the paper: 4096).
        dropout: after fc6 and fc7.
    """

    task: ClassVar[str] = "jigsaw"
    permutations: int = field(default=100, metadata={"ge": 2, "le": 1000})
    permutation_seed: int = 0
    tile_fraction: float = field(default=PAPER_TILE_FRACTION, metadata={"gt": 0.0, "le": 1.0})
    color_jitter: float = field(default=0.4, metadata={"ge": 0.0, "lt": 1.0})
    gray_prob: float = field(default=0.3, metadata={"ge": 0.0, "le": 1.0})
    normalize_tiles: bool = True
    tile_features: int = field(default=256, metadata={"ge": 1})
    hidden: int = field(default=512, metadata={"ge": 1})
    dropout: float = field(default=0.5, metadata={"ge": 0.0, "lt": 1.0})

    def describe(self) -> str:
        return f"jigsaw perms={self.permutations}"

    def tile_side(self, image_size: int) -> int:
        """The tile side in pixels for ``image_size``-px images."""
        return max(1, round(image_size // GRID * self.tile_fraction))

    def trial_problems(self, cfg: TrialConfig) -> list[str]:
        return (patch_size_problems(cfg, self.task, "3×3 tiles", self.tile_side)
                + crop_problems(cfg, self.task, "tiles")
                + saliency_target_problems(cfg, self.task))


def jigsaw_batch(images: torch.Tensor, perms: torch.Tensor, tile: int, g: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each image into 3×3 jittered tiles and shuffle them by a permutation of the set.

    Args:
        images: ``(N, C, S, S)``.
        perms: ``(P, 9)`` the permutation set; class k puts tile ``perms[k, j]`` at position j.
        tile: tile side in pixels, at most ``S // 3``.
        g: draws the grid offset, each tile's place in its cell and each image's class.

    Returns:
        ``(tiles, labels)``: ``(N, 9, C, tile, tile)`` in shuffled order and ``(N,)`` int64.
    """
    n, side, dev = images.shape[0], images.shape[-1], images.device
    cell = side // GRID
    origin = randint(0, side - GRID * cell, (n, 1, 2), g, dev)  # the grid's corner
    inside = randint(0, cell - tile, (n, GRID * GRID, 2), g, dev)  # each tile in its cell
    k = torch.arange(GRID * GRID, device=dev)
    rows = origin[..., 0] + (k // GRID) * cell + inside[..., 0]  # N x 9
    cols = origin[..., 1] + (k % GRID) * cell + inside[..., 1]
    tiles = crop_patches(images, rows, cols, tile)  # N x 9 x C x t x t, reading order
    labels = randint(0, perms.shape[0] - 1, (n,), g, dev)
    order = perms.to(dev)[labels]  # N x 9
    shuffled = tiles[torch.arange(n, device=dev)[:, None], order]
    return shuffled, labels


class Jigsaw(Pretext):
    """Classify the permutation of 3×3 tiles (see the module docstring).

    Args:
        encoder: the backbone, shared by the nine tiles.
        cfg: ``pretext.*``: ``augment`` (on the whole image, before tiling); ``crop`` must be
            ``none`` (validation says so).
        params: :class:`JigsawParams`.
    """

    params: JigsawParams

    def __init__(self, encoder: Backbone, cfg: PretextConfig,
                 params: JigsawParams | None = None) -> None:
        p = params or JigsawParams()
        super().__init__(encoder, cfg, p)
        perms = torch.as_tensor(maximal_hamming_set(p.permutations, p.permutation_seed).copy())
        self.register_buffer("perms", perms, persistent=False)  # P x 9, rebuilt from params
        self.head = SiameseHead(encoder.embed_dim, GRID * GRID, p.tile_features, p.hidden,
                                p.permutations, p.dropout)

    def puzzle_logits(self, tiles: torch.Tensor, g: torch.Generator | None = None
                      ) -> torch.Tensor:
        """Permutation logits ``(N, P)`` of shuffled tiles ``(N, 9, C, t, t)``; ``g`` draws
        the head's dropout masks (none without it)."""
        return self.head(encode_patches(self.encoder, tiles), g)

    def make_puzzles(self, images: torch.Tensor, g: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tiles ``(N, 9, C, t, t)`` and labels ``(N,)`` of a batch, every guard applied."""
        p = self.params
        x = augment(images, self.cfg.augment, g)
        x = gray_images(x, p.gray_prob, g)
        tiles, labels = jigsaw_batch(x, self.perms, p.tile_side(x.shape[-1]), g)
        tiles = jitter_colours(tiles, p.color_jitter, g)
        if p.normalize_tiles:
            tiles = standardize_patches(tiles)
        return tiles, labels

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        tiles, labels = self.make_puzzles(images, g)
        logits = self.puzzle_logits(tiles, g)  # N x P
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss=loss, accuracy=(logits.argmax(1) == labels).float().mean().item())
