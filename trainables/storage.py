"""Bytes in and out of the study's storage (a local path or a ``pyarrow.fs`` URI), atomically.

Workers never assume they see the driver's disk: checkpoints and artifacts go through here.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import pyarrow.fs as pafs
import torch

from analysis.tables import resolve


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for a path or a URI."""
    return "/".join([root.rstrip("/"), *parts])


def exists(target: str) -> bool:
    fs, path = resolve(target)
    return fs.get_file_info(path).type == pafs.FileType.File


def write_bytes(target: str, data: bytes) -> None:
    """Write ``data`` to ``target`` under a temporary name, then rename it into place."""
    fs, path = resolve(target)
    parent, name = path.rsplit("/", 1)
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open_output_stream(tmp) as sink:
            sink.write(data)
        fs.move(tmp, path)
    finally:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)


def read_bytes(target: str) -> bytes:
    fs, path = resolve(target)
    with fs.open_input_stream(path) as src:
        return src.read()


def save_torch(obj: Any, target: str) -> None:
    """``torch.save`` to a path or URI, atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(target, buf.getvalue())


def load_torch(target: str) -> Any:
    """``torch.load(weights_only=True)`` from a path or URI (tensors, dicts, lists, numbers)."""
    return torch.load(io.BytesIO(read_bytes(target)), map_location="cpu", weights_only=True)
