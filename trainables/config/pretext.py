"""``pretext.*``: the self-supervised task and its hyper-parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

_ANGLE = {"ge": 0, "lt": 360}


@dataclass(frozen=True)
class PretextConfig:
    """The pretext task of a trial.

    Attributes:
        name: registry key in ``trainables.pretext.PRETEXTS`` (``rotsweep list pretexts``):
            ``moco_rotation``, ``simclr_rotation`` or ``rotnet``.
        angles: the trial's train angles in degrees. For the contrastive tasks the positive pair
            is (x, x rotated by θ) with θ drawn from ``angles`` (seed 000: one θ per trial); for
            ``rotnet`` they are the classes, label i = ``angles[i]`` (seed 003: {0, 90, 180,
            270}, every 45°, {0, 180}, {90, 270}); any set works, also without 0 or with
            angles that are not multiples of 90 (interpolated, then cropped by ``crop``).
        crop: the common field of view applied to every view and angle (DESIGN.md): the
            inscribed ``disk``, the inscribed ``square`` (side/√2), or ``none``.
        augment: ``paper`` (seed 000: resize, blur, flips, small rotation, translation),
            ``mocov2`` (MoCo v2's crop/jitter/grayscale/blur/flip set), ``rotnet`` (seed 003's
            CIFAR pad-and-crop shift and horizontal flip) or ``none``; see
            ``trainables.augment``.
        proj_dim: output size of the projection head (MoCo v2: 128).
        proj_hidden: hidden size of the projection MLP (MoCo v2 and SimCLR); ``None`` = the
            backbone's embedding size (MoCo v2 on ResNet-50: 2048).
        queue_size: MoCo's number of negatives K (MoCo v2: 65536; small data: a few thousand).
            Any K works: a batch that does not divide K wraps around the queue, and a K larger
            than the data keeps its initial random unit vectors until filled.
        momentum: MoCo's key-encoder momentum m (MoCo v2: 0.999).
        temperature: InfoNCE / NT-Xent temperature τ (MoCo v2: 0.2; SimCLR: 0.5).
        symmetric: also use (rotated, original) as (query, key) and average the two losses.
        split_bn: MoCo's single-device stand-in for shuffle-BN (He et al. 2020, Sec. 3.3): the
            batch is treated as ``split_bn`` simulated GPUs; queries are normalised per group
            in order, keys are shuffled across the groups first and unshuffled after, so a
            query and its key never share BatchNorm statistics. 1 = plain BN over the batch
            (what a single-GPU run of facebookresearch/moco does). Needs ≥ 2 images per group.
        all_rotations_in_batch: ``rotnet`` only: every rotation of each image in the same batch
            (seed 003) rather than one random rotation per image.
    """

    name: str = "moco_rotation"
    angles: tuple[int, ...] = field(default=(90,), metadata=_ANGLE)
    crop: Literal["disk", "square", "none"] = "disk"
    augment: Literal["paper", "mocov2", "rotnet", "none"] = "paper"
    proj_dim: int = field(default=128, metadata={"ge": 1})
    proj_hidden: int | None = field(default=None, metadata={"ge": 1})
    queue_size: int = field(default=4096, metadata={"ge": 1})
    momentum: float = field(default=0.999, metadata={"ge": 0.0, "le": 1.0})
    temperature: float = field(default=0.2, metadata={"gt": 0.0})
    symmetric: bool = False
    split_bn: int = field(default=1, metadata={"ge": 1})
    all_rotations_in_batch: bool = True

    def __post_init__(self) -> None:
        if not self.angles:
            raise ValueError("pretext.angles: needs at least one angle")
        if len(set(self.angles)) != len(self.angles):
            raise ValueError(f"pretext.angles: repeated angle in {list(self.angles)}")
        if self.name == "rotnet" and len(self.angles) < 2:
            raise ValueError(f"pretext.angles: rotnet classifies among the angles and needs at "
                             f"least two, got {list(self.angles)}")
