"""Datasets read from files: where the root is, a bounded cache of decoded items, bad input.

A :class:`DiskSet` is made from *sources* (an image/mask pair, a NIfTI subject, a COCO image),
each of which decodes to one or more items. Every source is decoded once when the set is built:
that is when bad files are found (all of them, each named, before any trial trains), and the
decoded, resized items go to an in-memory uint8 cache, so later epochs do not decode JPEGs or
NIfTI volumes again. The cache is bounded (``ROTSWEEP_DATA_CACHE_MB``, default 2048 MiB per
set); an evicted item is decoded again from its source when read.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.config import DataConfig
from trainables.data.base import Sample
from trainables.data.problems import DataError, Problem, settle
from trainables.data.transforms import to_tensors

CACHE_MB_ENV = "ROTSWEEP_DATA_CACHE_MB"


def dataset_root(cfg: DataConfig) -> Path:
    """The dataset's folder: ``data.root``, relative to ``data.home`` (itself relative to the
    current folder; the current folder when ``home`` is unset); ``~`` is expanded. A study's
    paths are made absolute when it is loaded (``study.config.load.absolute_paths``), so trials read
    the same folder wherever Ray Tune runs them.

    Raises:
        DataError: ``data.root`` is unset, or the folder does not exist.
    """
    if cfg.root is None:
        raise DataError([Problem("data.root", f"not set; {cfg.name!r} reads files, expected "
                                              "the dataset's folder")], cfg.name)
    home = Path.cwd() / Path(cfg.home).expanduser() if cfg.home else Path.cwd()
    root = Path(os.path.normpath(home / Path(cfg.root).expanduser()))
    if not root.is_dir():
        where = f" (data.root {cfg.root!r}" + (f" in data.home {cfg.home!r})" if cfg.home
                                                else ")")
        raise DataError([Problem(str(root), f"no such folder{where}; expected the dataset's "
                                            "folder, e.g. --set data.root=PATH, or for a "
                                            "relative root --set data.home=DIR or "
                                            "ROTSWEEP_DATA=DIR")], cfg.name)
    return root


def check_mask(mask: np.ndarray, small: np.ndarray, path: Path | str, threshold: float,
               top: float | None = None) -> None:
    """Raise a :class:`DataError` naming ``path`` when the mask is empty at full size
    (``top``: the mask file's largest value, for the hint) or once fitted (``small``: cropped
    away by ``data.resize: crop``)."""
    if not mask.any():
        hint = f" (largest value {top:g})" if top is not None else ""
        if top is not None and 0 < top <= threshold:
            hint += "; label masks such as BraTS 0-4 need data.params.mask_threshold=0"
        raise DataError([Problem(str(path), f"empty mask: no pixel > {threshold:g}{hint}; "
                                 "expected a foreground")])
    if not small.any():
        raise DataError([Problem(str(path), "the foreground lies outside the fitted square "
                                            "(data.resize: crop); expected a foreground "
                                            "inside it")])


@dataclass(frozen=True)
class Item:
    """A decoded item, as cached.

    Attributes:
        image_id: stable id, unique in the dataset.
        image: uint8 ``(S, S)`` (grey) or ``(S, S, 3)``.
        mask: bool ``(S, S)``.
        boxes: float32 ``(K, 4)`` x0, y0, x1, y1 in output pixels, or ``None``.
        label: class index, or ``None``.
    """

    image_id: str
    image: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray | None = None
    label: int | None = None

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + self.mask.nbytes + (0 if self.boxes is None
                                                       else self.boxes.nbytes)


@dataclass(frozen=True)
class Source:
    """Something on disk that decodes to items: ``load()`` returns them or raises
    :class:`DataError` naming the bad file."""

    path: str
    load: Callable[[], list[Item]]


class ItemCache:
    """Least-recently-used items up to ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[int, Item] = OrderedDict()

    def get(self, index: int) -> Item | None:
        item = self._items.get(index)
        if item is not None:
            self._items.move_to_end(index)
        return item

    def put(self, index: int, item: Item) -> None:
        if index in self._items or item.nbytes > self.max_bytes:
            return
        self._items[index] = item
        self.nbytes += item.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes


def cache_bytes() -> int:
    """The per-set cache bound from ``ROTSWEEP_DATA_CACHE_MB`` (MiB; 0 disables caching)."""
    return int(float(os.environ.get(CACHE_MB_ENV, "2048")) * 2**20)


class DiskSet(torch.utils.data.Dataset):
    """Items decoded from ``sources``, checked when built, cached as uint8.

    Args:
        name: the registry name (for messages).
        root: the dataset's folder (for messages).
        sources: what to decode; each yields one or more items.
        skip_bad: drop sources that fail and keep their problems in :attr:`problems` instead
            of raising.
        found: problems already found while listing the sources (e.g. a missing mask).

    Raises:
        DataError: any problem when ``skip_bad`` is false, or no usable item at all.
    """

    def __init__(self, name: str, root: Path, sources: Sequence[Source], skip_bad: bool,
                 found: Sequence[Problem] = ()) -> None:
        self.name = name
        self.root = root
        self.problems: list[Problem] = list(found)
        self.ids: list[str] = []
        self._sources = list(sources)
        self._where: list[tuple[int, int]] = []
        self._cache = ItemCache(cache_bytes())
        seen: dict[str, str] = {}
        for s, source in enumerate(self._sources):
            try:
                items = source.load()
            except DataError as err:
                self.problems.extend(err.problems)
                continue
            for k, item in enumerate(items):
                if item.image_id in seen:
                    self.problems.append(Problem(source.path, f"id {item.image_id!r} also "
                                                 f"comes from {seen[item.image_id]}; expected "
                                                 "unique ids"))
                    continue
                seen[item.image_id] = source.path
                self._cache.put(len(self.ids), item)
                self.ids.append(item.image_id)
                self._where.append((s, k))
        settle(self.problems, name, skip_bad, len(self.ids), str(root))

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, index: int) -> Item:
        """The decoded item ``index`` (from the cache, or decoded again from its source)."""
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        s, k = self._where[index]
        item = self._sources[s].load()[k]
        self._cache.put(index, item)
        return item

    def __getitem__(self, index: int) -> Sample:
        item = self.item(index)
        image, mask = to_tensors(item.image, item.mask)
        sample: Sample = {"image": image, "mask": mask, "image_id": item.image_id}
        if item.boxes is not None:
            sample["boxes"] = torch.from_numpy(item.boxes)
        if item.label is not None:
            sample["label"] = item.label
        return sample
