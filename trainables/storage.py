"""Torch objects in and out of the study's storage (a local path or a ``pyarrow.fs`` URI).

Bytes go through :mod:`rotsweep.storage`, which the driver and the analysis share; this module
adds only the (de)serialisation of tensors, atomically and without unpickling code.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from rotsweep.storage import read_bytes, write_bytes


def save_torch(obj: Any, target: str) -> None:
    """``torch.save`` to a path or URI, atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(target, buf.getvalue())


def load_torch(target: str) -> Any:
    """``torch.load(weights_only=True)`` from a path or URI (tensors, dicts, lists, numbers)."""
    return torch.load(io.BytesIO(read_bytes(target)), map_location="cpu", weights_only=True)
