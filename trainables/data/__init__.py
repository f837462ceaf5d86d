"""Datasets: the registry of adapters and the one way a trial loads its images.

Adding a dataset = one ``build_x(cfg: DataConfig) -> ImageSet`` function, its ``data.params``
dataclass, and one line in :data:`DATASETS`: ``"name": Entry(build_x, XParams),`` (a bare
``build_x`` takes no params).
"""

from __future__ import annotations

from collections.abc import Callable

from trainables.config import DataConfig
from trainables.data.base import ImageSet, Sample, Split, Subset, choose, collate, split_indices
from trainables.data.brats import BratsParams, build_brats
from trainables.data.classification import (
    LfwParams,
    TorchvisionParams,
    build_digits,
    build_lfw,
    build_torchvision,
)
from trainables.data.coco import CocoParams, build_coco_boxes
from trainables.data.folders import FolderParams, build_folder_masks
from trainables.data.problems import DataError, Problem
from trainables.data.synthetic import SyntheticParams, build_synthetic
from trainables.registry import Entry, lookup

# each entry: ``build(cfg) -> ImageSet`` and its ``data.params`` dataclass (trainables.spec
# checks ``data.params`` with it before anything is read)
DATASETS: dict[str, Entry[Callable[[DataConfig], ImageSet]]] = {
    # segmentation sets (a mask per image; seed 000)
    "kvasir_seg": Entry(build_folder_masks, FolderParams),
    "lung_mask": Entry(build_folder_masks, FolderParams),
    "image_folder_masks": Entry(build_folder_masks, FolderParams),
    "brats": Entry(build_brats, BratsParams),
    # boxes (seed 002's Q(S, B)), rasterised into masks too
    "coco_boxes": Entry(build_coco_boxes, CocoParams),
    # classification sets for probes (a label per image, all-False masks)
    "cifar10": Entry(build_torchvision, TorchvisionParams),
    "svhn": Entry(build_torchvision, TorchvisionParams),
    "flowers102": Entry(build_torchvision, TorchvisionParams),
    "lfw": Entry(build_lfw, LfwParams),
    "digits": Entry(build_digits),
    # generated: known gradient-orientation statistics and phantoms
    "synthetic": Entry(build_synthetic, SyntheticParams),
}

__all__ = ["DATASETS", "DataError", "ImageSet", "Problem", "Sample", "Subset", "build_dataset",
           "collate", "load_split", "n_eval_problem"]


def build_dataset(cfg: DataConfig) -> ImageSet:
    """Every item of the dataset ``cfg.name``.

    Raises:
        KeyError: the name is not registered; the message lists the registered names.
        DataError: the files cannot be read as configured; one problem per bad file (unless
            ``data.skip_bad``, which drops bad items and keeps them in the set's ``problems``).
        ConfigError: ``data.params`` does not fit the adapter.
    """
    return lookup(DATASETS, cfg.name, "data.name", "dataset")(cfg)


def load_split(cfg: DataConfig, split: Split, dataset: ImageSet | None = None) -> Subset:
    """The ``train`` items (at most ``n_train``), the ``eval`` items (``n_eval`` of them, the
    deterministic evaluation choice; every one when ``n_eval`` is ``None``), or ``all`` items.

    Raises:
        DataError: ``n_eval`` asks for more items than the evaluation split holds (never
            silently fewer: the tables would record a number of images that was not measured).
    """
    full = dataset if dataset is not None else build_dataset(cfg)
    idx = split_indices(full.ids, split, cfg.eval_fraction, cfg.split_seed)
    if split == "eval":
        problem = n_eval_problem(cfg, len(idx), len(full.ids))
        if problem is not None:
            raise DataError([problem], cfg.name)
    limit = {"train": cfg.n_train, "eval": cfg.n_eval, "all": None}[split]
    sub_ids = [full.ids[i] for i in idx]
    picked = [idx[j] for j in choose(sub_ids, limit, cfg.split_seed)]
    return Subset(full, picked)


def n_eval_problem(cfg: DataConfig, available: int, total: int, key: str = "data.n_eval"
                   ) -> Problem | None:
    """The problem with ``cfg.n_eval`` when the evaluation split holds fewer items.

    Args:
        cfg: the data section.
        available: items in the evaluation split.
        total: items in the dataset (the split is ``eval_fraction`` of them).
        key: the dotted key that sets ``n_eval`` where the caller reads it.
    """
    if cfg.n_eval is None or cfg.n_eval <= available:
        return None
    return Problem(key, f"{cfg.n_eval} asked but the evaluation split of {cfg.tag} holds "
                        f"{available} item{'s' if available != 1 else ''} (eval_fraction "
                        f"{cfg.eval_fraction:g} of {total}); expected at most {available}, "
                        f"or {key}: null for every one")
