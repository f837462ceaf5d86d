"""``pretext.*``: the self-supervised task, what every task shares, and its own ``params``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal


@dataclass(frozen=True)
class PretextConfig:
    """The pretext task of a trial.

    Only what every task shares is here; a task's own settings (the rotation angle set, MoCo's
    queue, a jigsaw's permutation count) are its ``params``, validated by the params dataclass
    of its ``PRETEXTS`` entry (as ``model.params`` by the backbone's and ``data.params`` by the
    dataset's). ``rotsweep list pretexts`` names the tasks; each task's params class documents
    its keys, defaults and sources (``trainables/pretext/<task>.py``), e.g. for the rotation
    tasks ``moco_rotation``, ``simclr_rotation`` and ``rotnet``:
    ``params: {angles: [0, 90, 180, 270]}``, angles in degrees as numbers, lists or ranges
    ``{start: 0, stop: 360, step: 15}`` (see :mod:`trainables.config.angles`).

    Attributes:
        name: registry key in ``trainables.pretext.PRETEXTS`` (``rotsweep list pretexts``).
        crop: the common field of view applied to every view and angle, in pre-training and in
            every evaluation of the trial (saliency, HoG-SVM, orientation statistics): the
            inscribed ``disk``, the inscribed ``square`` (side/√2), or ``none``.
        augment: the image augmentation preset a task applies before making its pseudo-labels:
            ``paper`` (seed 000: resize, blur, flips, small rotation, translation),
            ``mocov2`` (MoCo v2's crop/jitter/grayscale/blur/flip set), ``rotnet`` (seed
            003's CIFAR pad-and-crop shift and horizontal flip) or ``none``; see
            ``trainables.augment``.
        params: the task's own settings, validated by its params dataclass.
    """

    name: str = "moco_rotation"
    crop: Literal["disk", "square", "none"] = "disk"
    augment: Literal["paper", "mocov2", "rotnet", "none"] = "paper"
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
