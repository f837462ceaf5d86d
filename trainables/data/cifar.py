"""CIFAR-10 from its official python files, read without running code from them.

The release (``cifar-10-python.tar.gz``, extracted) is ``cifar-10-batches-py/`` with five
training batches ``data_batch_1..5``, ``test_batch`` and ``batches.meta``: Python pickles of a
dict with ``data`` (a ``uint8`` array of N × 3072, the red, green and blue 32 × 32 planes of each
image), ``labels`` (N class indices) and, in the meta file, ``label_names``. torchvision reads
them with plain ``pickle.load``, which runs whatever a crafted file names; here every file goes
through :func:`~trainables.data.safe_pickle.load_restricted` (dicts, lists, strings, numbers and
numpy arrays only), after the MD5 check against the official release when it is on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data.problems import DataError, Problem
from trainables.data.safe_pickle import load_restricted

FOLDER = "cifar-10-batches-py"
# the official release's files and MD5 sums (as torchvision's CIFAR10 lists them)
TRAIN = {f"data_batch_{i}": md5 for i, md5 in enumerate((
    "c99cafc152244af753f735de768cd75f", "d4bba439e000b95fd0a9bffe97cbabec",
    "54ebc095f3ab1f0389bbae665268c751", "634d18415352ddfa80567beed471001a",
    "482c414d41f54cd18b22e5b47cb7c3cb"), start=1)}
TEST = {"test_batch": "40351d587109b95175f43aff81a1287e"}
META = ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888")
N_CLASSES = 10


def file_names(split: str) -> list[str]:
    """The files of ``split`` (``train`` or ``test``) and the meta file, relative to the root."""
    batches = TRAIN if split == "train" else TEST
    return [f"{FOLDER}/{name}" for name in (*batches, META[0])]


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(root: Path, expected: Mapping[str, str]) -> None:
    """Raise one problem per file whose MD5 differs from the official release's."""
    bad = []
    for name, want in expected.items():
        path = root / FOLDER / name
        got = _md5(path)
        if got != want:
            bad.append(Problem(str(path), f"MD5 {got} differs from the official release's "
                                          f"{want}; expected the official CIFAR-10 python "
                                          "files (cifar-10-python.tar.gz), unmodified"))
    if bad:
        raise DataError(bad)


def _batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One batch's images ``(N, 32, 32, 3)`` uint8 and labels, checked."""
    raw = load_restricted(path, "a CIFAR-10 batch")
    data = raw.get("data") if isinstance(raw, Mapping) else None
    labels = raw.get("labels") if isinstance(raw, Mapping) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise DataError([Problem(str(path), f"'data' is {_describe(data)}; expected a uint8 "
                                            "array of N x 3072")])
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(v, int) and 0 <= v < N_CLASSES for v in labels)):
        raise DataError([Problem(str(path), f"'labels' is {_describe(labels)}; expected "
                                            f"{len(data)} class indices in 0..9")])
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "missing" if value is None else f"a {type(value).__name__}"


def _classes(path: Path) -> list[str]:
    raw = load_restricted(path, "CIFAR-10's batches.meta")
    names = raw.get("label_names") if isinstance(raw, Mapping) else None
    if not (isinstance(names, list) and len(names) == N_CLASSES
            and all(isinstance(n, str) for n in names)):
        raise DataError([Problem(str(path), f"'label_names' is {_describe(names)}; expected "
                                            "the 10 class names")])
    return names


def read_cifar10(root: Path, split: str, verify_md5: bool = True
                 ) -> tuple[np.ndarray, list[int], list[str]]:
    """The images ``(N, 32, 32, 3)`` uint8, labels and class names of ``split``.

    Args:
        root: the folder holding ``cifar-10-batches-py/``.
        split: ``train`` (50,000 images) or ``test`` (10,000).
        verify_md5: compare every file with the official release's MD5 sum first.

    Raises:
        DataError: one problem per file that differs from the release (``verify_md5``), is
            not a plain-data pickle (a refused global is named), or does not hold a batch.
    """
    batches = TRAIN if split == "train" else TEST
    if verify_md5:
        _check_md5(root, {**batches, META[0]: META[1]})
    images, labels = [], []
    for name in batches:
        data, y = _batch(root / FOLDER / name)
        images.append(data)
        labels += y
    return np.concatenate(images), labels, _classes(root / FOLDER / META[0])
