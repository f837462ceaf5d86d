"""``data.*``: which images a trial pre-trains on and evaluates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from trainables.config.names import name_problem


@dataclass(frozen=True)
class DataConfig:
    """The dataset of a trial.

    Attributes:
        name: registry key in ``trainables.data.DATASETS`` (``rotsweep list datasets``).
        root: the dataset's folder on disk; ``None`` for generated or package-shipped data. A
            relative root is read from ``home``.
        home: the folder relative roots are read from (``None``: the current folder). A study
            makes it absolute against the folder ``rotsweep`` runs in when it is loaded, so
            trials, which Ray Tune runs in other folders and on other nodes, read the same
            place. One ``--set data.home=DIR`` moves every dataset of a study
            (``conf/studies/real_samples.yaml``).
        image_size: side of the square images the model sees, pixels (seed 000: 224).
        resize: how a non-square image becomes a square: ``stretch`` (resize both sides, like
            torchvision's ``Resize((S, S))``), ``crop`` (the centred square, then resize) or ``pad``
            (zero-pad to a centred square, then resize). Masks and boxes follow.
        n_train: images used for pre-training; ``None`` uses every training item.
        n_eval: images whose saliency is measured at every angle (seed 000: 75), chosen
            deterministically from the evaluation split; ``None``: every image of it. More
            than the split holds is an error (``rotsweep validate`` names both numbers).
        split_seed: seed of the train/eval split by image id and of the evaluation choice.
        eval_fraction: share of the items held out for evaluation.
        skip_bad: skip unreadable or inconsistent items and report their count instead of failing.
        params: adapter-specific options, validated by the adapter (e.g. ``synthetic``'s ``kind``).
        label: the dataset's name in the result tables (the ``dataset`` column and partition);
            default ``name``. Studies that sweep several configurations of one adapter (the
            synthetic kinds, two roots of ``image_folder_masks``) give each its own label, so
            their curves are never pooled (``rotsweep validate`` insists). It names a table
            partition, so it is a safe name: letters, digits, ``.``, ``_`` and ``-``, starting
            with a letter or digit (:mod:`trainables.config.names`).
        max_image_pixels: the most pixels (width × height; voxels for a volume) a file may
            declare in its header; a larger file is refused, naming it, before it is decoded.
    """

    name: str = "synthetic"
    root: str | None = None
    home: str | None = None
    image_size: int = field(default=64, metadata={"ge": 16, "le": 1024})
    resize: Literal["stretch", "crop", "pad"] = "stretch"
    n_train: int | None = field(default=256, metadata={"ge": 1})
    n_eval: int | None = field(default=16, metadata={"ge": 1})
    split_seed: int = 0
    eval_fraction: float = field(default=0.2, metadata={"gt": 0.0, "lt": 1.0})
    skip_bad: bool = False
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    label: str | None = None
    max_image_pixels: int = field(default=50_000_000, metadata={"ge": 1})

    def __post_init__(self) -> None:
        if self.label is not None:
            problem = name_problem(self.label, "label")
            if problem:
                raise ValueError(problem)

    @property
    def tag(self) -> str:
        """The ``dataset`` value of this data in every table: ``label``, else ``name``."""
        return self.label or self.name
