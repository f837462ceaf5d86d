"""Reading pickle files without running code from them.

Python's ``pickle`` calls whatever callable a file names (``os.system``, ``builtins.exec``...),
so a crafted dataset file runs code the moment it is loaded. The datasets that ship as pickles
(CIFAR-10's ``data_batch_*``, ``test_batch`` and ``batches.meta``) hold only dicts, lists,
strings, bytes, numbers and numpy arrays; :func:`load_restricted` reads exactly that and
refuses any other global the file names, with an error naming the file and the global.

The numpy globals allowed are the ones numpy itself writes for a plain array: ``ndarray``,
``dtype`` and the array rebuilders ``_reconstruct`` (protocols 0–4) and ``_frombuffer``
(protocol 5), under both ``numpy.core`` (numpy 1) and ``numpy._core`` (numpy 2).
``_codecs.encode`` is how Python 3 writes ``bytes`` under protocol 2. None of them runs code
named by the file: they build arrays, dtypes and bytes.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path
from typing import Any

from trainables.data.problems import DataError, Problem

# the only (module, name) globals a dataset pickle may name
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [(f"{core}.multiarray", "_reconstruct") for core in ("numpy.core", "numpy._core")]
    + [(f"{core}.numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")])


def _resolve(module: str, name: str) -> Any:
    """``module.name`` from the installed packages; numpy's ``core`` and ``_core`` layouts
    (numpy 1 and 2 files) are both found in either numpy."""
    for candidate in (module.replace("numpy.core", "numpy._core"),
                      module.replace("numpy._core", "numpy.core")):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"{module}.{name} is not available here")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` and refuses everything else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: a dataset pickle may hold only dicts, "
                "lists, strings, bytes, numbers and numpy arrays")
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused a persistent id: not a plain data pickle")


def load_restricted(path: Path | str, what: str) -> Any:
    """Unpickle ``path`` (Python 2 strings read as latin-1, as CIFAR's own reader does) with
    :class:`RestrictedUnpickler`.

    Args:
        path: the file.
        what: what the file should be, for the message (``"a CIFAR-10 batch"``).

    Raises:
        DataError: the file is missing, not a pickle, or names a global outside the allowed
            set; the message names the file (and the refused global).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError([Problem(str(path), f"cannot be read ({err}); expected {what}")]
                        ) from None
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as err:  # UnpicklingError, EOFError, ValueError, ... from a bad file
        raise DataError([Problem(str(path), f"not read as {what} "
                                            f"({type(err).__name__}: {err})")]) from None
