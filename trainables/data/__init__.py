"""Datasets: the registry of adapters and the one way a trial loads its images.

Adding a dataset = one ``build_x(cfg: DataConfig) -> ImageSet`` function + one line in
:data:`DATASETS`.
"""

from __future__ import annotations

from collections.abc import Callable

from trainables.config import DataConfig
from trainables.data.base import ImageSet, Sample, Split, Subset, choose, collate, split_indices
from trainables.data.synthetic import build_synthetic

DATASETS: dict[str, Callable[[DataConfig], ImageSet]] = {
    "synthetic": build_synthetic,
}

__all__ = ["DATASETS", "ImageSet", "Sample", "Subset", "build_dataset", "collate",
           "load_split"]


def build_dataset(cfg: DataConfig) -> ImageSet:
    """Every item of the dataset ``cfg.name``.

    Raises:
        KeyError: the name is not registered; the message lists the registered names.
    """
    try:
        builder = DATASETS[cfg.name]
    except KeyError:
        raise KeyError(
            f"data.name: unknown dataset {cfg.name!r}; expected one of {sorted(DATASETS)}"
        ) from None
    return builder(cfg)


def load_split(cfg: DataConfig, split: Split, dataset: ImageSet | None = None) -> Subset:
    """The ``train`` items (at most ``n_train``), the ``eval`` items (``n_eval`` of them, the
    deterministic evaluation choice), or ``all`` items of a dataset."""
    full = dataset if dataset is not None else build_dataset(cfg)
    idx = split_indices(full.ids, split, cfg.eval_fraction, cfg.split_seed)
    limit = {"train": cfg.n_train, "eval": cfg.n_eval, "all": None}[split]
    sub_ids = [full.ids[i] for i in idx]
    picked = [idx[j] for j in choose(sub_ids, limit, cfg.split_seed)]
    return Subset(full, picked)
