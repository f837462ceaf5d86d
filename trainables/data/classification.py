"""Classification sets for probes: ``cifar10``, ``svhn``, ``flowers102``, ``lfw``, ``digits``.

Read from local copies only (torchvision's classes with ``download=False``; scikit-image's and
scikit-learn's data shipped with the packages), never downloaded. An item has a ``label`` and an
all-False mask. Items are decoded when read (these sets are large and used as downstream sets),
resized to ``data.image_size`` and kept in a bounded uint8 cache.

The official releases' MD5 sums are checked (``verify_md5: false`` accepts another copy in the
same file format, e.g. a subset). CIFAR-10's pickled batches are read by
:mod:`trainables.data.cifar` with a restricted unpickler (plain data only, never code), whether
or not the MD5 check is on; SVHN and Flowers-102 (MATLAB files, JPEGs) through torchvision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.base import Sample
from trainables.data.cifar import file_names, read_cifar10
from trainables.data.disk import Item, ItemCache, cache_bytes, dataset_root
from trainables.data.problems import DataError, Problem
from trainables.data.transforms import fit_image, fold_gray, read_pixels, to_tensors, to_unit


class LabelledImages(torch.utils.data.Dataset):
    """Labelled images decoded on demand by ``read(index) -> pixels``.

    Args:
        name: the registry name (for messages).
        ids: one stable id per item.
        labels: one class index per item.
        read: the pixels of item ``index``: ``(H, W)`` or ``(H, W, 3)``, any dtype that
            :func:`~trainables.data.transforms.to_unit` maps (uint8 is divided by 255).
        cfg: ``image_size`` and ``resize`` apply.
        classes: class names, index = label.
    """

    def __init__(self, name: str, ids: Sequence[str], labels: Sequence[int],
                 read: Callable[[int], np.ndarray], cfg: DataConfig,
                 classes: Sequence[str] = ()) -> None:
        if len(ids) != len(labels) or not ids:
            raise DataError([Problem(name, f"{len(ids)} images and {len(labels)} labels; "
                                           "expected as many labels as images, at least one")])
        self.name = name
        self.ids = list(ids)
        self.labels = [int(v) for v in labels]
        self.classes = list(classes)
        self.problems: list[Problem] = []
        self._read = read
        self._size, self._resize = cfg.image_size, cfg.resize
        self._cache = ItemCache(cache_bytes())

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, index: int) -> Item:
        cached = self._cache.get(index)
        if cached is None:
            x = fold_gray(to_unit(self._read(index)))
            cached = Item(self.ids[index], fit_image(x, self._size, self._resize),
                          np.zeros((self._size, self._size), dtype=bool),
                          label=self.labels[index])
            self._cache.put(index, cached)
        return cached

    def __getitem__(self, index: int) -> Sample:
        item = self.item(index)
        image, mask = to_tensors(item.image, item.mask)
        return {"image": image, "mask": mask, "image_id": item.image_id, "label": item.label}


@dataclass(frozen=True)
class TorchvisionParams:
    """``data.params`` of ``cifar10``, ``svhn`` and ``flowers102``.

    Attributes:
        split: the official split (cifar10: train, test; svhn: train, test, extra;
            flowers102: train, val, test).
        verify_md5: check the files against the official release's MD5 sums; ``false``
            accepts another copy in the same format (CIFAR-10's pickles are read with a
            restricted unpickler either way).
    """

    split: Literal["train", "test", "val", "extra"] = "train"
    verify_md5: bool = True


SPLITS = {"cifar10": ("train", "test"), "svhn": ("train", "test", "extra"),
          "flowers102": ("train", "val", "test")}
# The files torchvision reads, relative to the root, to name what is missing.
FILES: dict[str, Callable[[str], list[str]]] = {
    "cifar10": file_names,
    "svhn": lambda split: [f"{split}_32x32.mat"],
    "flowers102": lambda split: ["flowers-102/jpg", "flowers-102/imagelabels.mat",
                                 "flowers-102/setid.mat"],
}


def _torchvision_set(name: str, root: Path, p: TorchvisionParams) -> Any:
    """torchvision's ``svhn`` or ``flowers102`` object, ``download=False``, MD5 check optional
    (neither format is a pickle)."""
    from torchvision import datasets

    cls = {"svhn": datasets.SVHN, "flowers102": datasets.Flowers102}[name]
    if not p.verify_md5:
        cls = type(cls.__name__, (cls,), {"_check_integrity": lambda self: True})
    return cls(str(root), download=False, split=p.split)


def build_torchvision(cfg: DataConfig) -> LabelledImages:
    """``cifar10``, ``svhn`` or ``flowers102`` from a local copy under ``data.root``."""
    p = build(TorchvisionParams, cfg.params, "data.params")
    if p.split not in SPLITS[cfg.name]:
        raise DataError([Problem("data.params.split", f"{p.split!r}; expected one of "
                                                      f"{list(SPLITS[cfg.name])}")], cfg.name)
    root = dataset_root(cfg)
    missing = [f for f in FILES[cfg.name](p.split) if not (root / f).exists()]
    if missing:
        raise DataError([Problem(str(root / f), f"missing; expected {cfg.name}'s files as "
                                 "torchvision stores them") for f in missing], cfg.name)
    if cfg.name == "cifar10":
        try:
            data, labels, classes = read_cifar10(root, p.split, p.verify_md5)
        except DataError as err:
            raise DataError(err.problems, cfg.name) from None
        ids = [f"{p.split}_{i:05d}" for i in range(len(data))]
        return LabelledImages(cfg.name, ids, labels, lambda i: data[i], cfg, classes)
    try:
        ds = _torchvision_set(cfg.name, root, p)
    except Exception as err:  # torchvision: RuntimeError on MD5; scipy on bad files
        hint = (" (the MD5 sums differ from the official release's; expected the official "
                "files, unmodified)" if "corrupted" in str(err) else "")
        raise DataError([Problem(str(root), f"cannot be read as {cfg.name} "
                                 f"({type(err).__name__}: {err}){hint}")], cfg.name) from None
    return _wrap(cfg, ds, p.split)


def _wrap(cfg: DataConfig, ds: Any, split: str) -> LabelledImages:
    if cfg.name == "flowers102":
        files = list(ds._image_files)
        return LabelledImages(cfg.name, [f.stem for f in files], ds._labels,
                              lambda i: read_pixels(files[i], cfg.max_image_pixels), cfg)
    data = ds.data.transpose(0, 2, 3, 1)  # svhn: N x 3 x H x W -> N x H x W x 3
    labels = ds.labels
    classes = [str(d) for d in range(10)]
    ids = [f"{split}_{i:05d}" for i in range(len(data))]
    return LabelledImages(cfg.name, ids, labels, lambda i: data[i], cfg, classes)


@dataclass(frozen=True)
class LfwParams:
    """``data.params`` of ``lfw``.

    Attributes:
        min_images_per_person: people with fewer images are left out (a local LFW folder).
    """

    min_images_per_person: int = field(default=1, metadata={"ge": 1})


def build_lfw(cfg: DataConfig) -> LabelledImages:
    """``lfw``: a local LFW folder (``root/<Person_Name>/<Person_Name>_0001.jpg``; label = the
    person), or, with no root, scikit-image's offline ``lfw_subset()`` (200 images of 25×25:
    label 1 = face, 0 = non-face background crop)."""
    p = build(LfwParams, cfg.params, "data.params")
    if cfg.root is None:
        from skimage.data import lfw_subset

        faces = lfw_subset()
        labels = [1] * 100 + [0] * (len(faces) - 100)
        ids = [f"{'face' if y else 'background'}_{i:03d}" for i, y in enumerate(labels)]
        return LabelledImages(cfg.name, ids, labels, lambda i: faces[i], cfg,
                              ["background", "face"])
    root = dataset_root(cfg)
    people = sorted(d for d in root.iterdir() if d.is_dir())
    files = {d.name: sorted(f for f in d.iterdir() if f.suffix.lower() in (".jpg", ".jpeg",
                                                                          ".png"))
             for d in people}
    kept = [name for name in sorted(files) if len(files[name]) >= p.min_images_per_person]
    if not kept:
        raise DataError([Problem(str(root), "no person folder with at least "
                                 f"{p.min_images_per_person} image(s); expected LFW's "
                                 "<Person_Name>/<Person_Name>_0001.jpg layout")], cfg.name)
    paths = [f for name in kept for f in files[name]]
    labels = [i for i, name in enumerate(kept) for _ in files[name]]
    return LabelledImages(cfg.name, [f.stem for f in paths], labels,
                          lambda i: read_pixels(paths[i], cfg.max_image_pixels), cfg,
                          kept)


def build_digits(cfg: DataConfig) -> LabelledImages:
    """``digits``: scikit-learn's 1,797 handwritten digits (8×8, 17 grey levels), upsampled to
    ``data.image_size``; label = the digit. No ``params``."""
    from sklearn.datasets import load_digits

    build(NoParams, cfg.params, "data.params")
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    ids = [f"digit_{i:04d}" for i in range(len(images))]
    return LabelledImages(cfg.name, ids, bunch.target, lambda i: images[i], cfg,
                          [str(d) for d in range(10)])


@dataclass(frozen=True)
class NoParams:
    """An adapter without ``data.params``: any key is an error."""
