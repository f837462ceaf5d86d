"""Datasets: the registry of adapters and the one way a trial loads its images.

Adding a dataset = one ``build_x(cfg: DataConfig) -> ImageSet`` function + one line in
:data:`DATASETS`.
"""

from __future__ import annotations

from collections.abc import Callable

from trainables.config import DataConfig
from trainables.data.base import ImageSet, Sample, Split, Subset, choose, collate, split_indices
from trainables.data.brats import build_brats
from trainables.data.classification import build_digits, build_lfw, build_torchvision
from trainables.data.coco import build_coco_boxes
from trainables.data.folders import build_folder_masks
from trainables.data.problems import DataError, Problem
from trainables.data.synthetic import build_synthetic

DATASETS: dict[str, Callable[[DataConfig], ImageSet]] = {
    # segmentation sets (a mask per image; seed 000)
    "kvasir_seg": build_folder_masks,
    "lung_mask": build_folder_masks,
    "image_folder_masks": build_folder_masks,
    "brats": build_brats,
    # boxes (seed 002's Q(S, B)), rasterised into masks too
    "coco_boxes": build_coco_boxes,
    # classification sets for probes (a label per image, all-False masks)
    "cifar10": build_torchvision,
    "svhn": build_torchvision,
    "flowers102": build_torchvision,
    "lfw": build_lfw,
    "digits": build_digits,
    # generated: known gradient-orientation statistics and phantoms
    "synthetic": build_synthetic,
}

__all__ = ["DATASETS", "DataError", "ImageSet", "Problem", "Sample", "Subset", "build_dataset",
           "collate", "load_split"]


def build_dataset(cfg: DataConfig) -> ImageSet:
    """Every item of the dataset ``cfg.name``.

    Raises:
        KeyError: the name is not registered; the message lists the registered names.
        DataError: the files cannot be read as configured; one problem per bad file (unless
            ``data.skip_bad``, which drops bad items and keeps them in the set's ``problems``).
        ConfigError: ``data.params`` does not fit the adapter.
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
