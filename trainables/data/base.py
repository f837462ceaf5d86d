"""What every dataset adapter returns, and the common split and evaluation choice.

An adapter turns a :class:`~trainables.config.DataConfig` into an :class:`ImageSet`: a
``torch.utils.data.Dataset`` whose items are :data:`Sample` dicts and which knows its ``ids``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, NotRequired, Protocol, TypedDict

import torch

Split = Literal["train", "eval", "all"]


class Sample(TypedDict):
    """One item.

    image: ``(3, S, S)`` float32 in [0, 1], S = ``data.image_size``.
    mask: ``(S, S)`` bool foreground mask (all False for classification sets).
    image_id: a stable id, unique in the dataset (a file stem, ``"rect_00012"``).
    boxes: ``(K, 4)`` float32 boxes (x0, y0, x1, y1) in pixels of the resized image, if any.
    label: class index for classification sets.
    """

    image: torch.Tensor
    mask: torch.Tensor
    image_id: str
    boxes: NotRequired[torch.Tensor]
    label: NotRequired[int]


class ImageSet(Protocol):
    """A map-style dataset of :data:`Sample` with its ids in index order."""

    ids: Sequence[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


class Subset(torch.utils.data.Dataset):
    """Items ``indices`` of ``base``, keeping ``ids`` in step."""

    def __init__(self, base: ImageSet, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = list(indices)
        self.ids = [base.ids[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.base[self.indices[index]]


def _rank(image_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()


def split_indices(ids: Sequence[str], split: Split, eval_fraction: float, seed: int) -> list[int]:
    """Deterministic split by image id: an id's side depends on (id, seed) only, never on order.

    The ``eval_fraction`` of ids with the smallest hash rank form ``eval``; the rest ``train``.
    """
    if split == "all":
        return list(range(len(ids)))
    order = sorted(range(len(ids)), key=lambda i: _rank(ids[i], seed))
    n_eval = eval_size(len(ids), eval_fraction)
    chosen = order[:n_eval] if split == "eval" else order[n_eval:]
    return sorted(chosen)


def eval_size(n_items: int, eval_fraction: float) -> int:
    """Items in the evaluation split of a dataset of ``n_items`` (at least one when there are
    two or more)."""
    return max(1, round(n_items * eval_fraction)) if n_items > 1 else 0


def choose(ids: Sequence[str], n: int | None, seed: int) -> list[int]:
    """A deterministic choice of ``n`` indices (all when ``n`` is None or too large), in id-hash
    order, so that growing ``n`` keeps the earlier choice (seed 000's 75 evaluation images)."""
    order = sorted(range(len(ids)), key=lambda i: _rank(ids[i], seed + 1))
    return sorted(order if n is None else order[:n])


def collate(samples: list[Sample]) -> dict[str, object]:
    """Stack images and masks; ids stay a list; boxes a list of tensors."""
    out: dict[str, object] = {
        "image": torch.stack([s["image"] for s in samples]),
        "mask": torch.stack([s["mask"] for s in samples]),
        "image_id": [s["image_id"] for s in samples],
    }
    if all("boxes" in s for s in samples):
        out["boxes"] = [s["boxes"] for s in samples]
    if all("label" in s for s in samples):
        out["label"] = torch.tensor([s["label"] for s in samples])
    return out
