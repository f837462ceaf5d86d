"""Bytes in and out of a study's storage (a local path or a ``pyarrow.fs`` URI), atomically.

The one place where rotsweep touches files that are not Parquet tables: trials write their
artifacts and checkpoints through it, the driver its records, the analysis reads them back.
Workers never assume they see the driver's disk. Imports pyarrow only (no torch, no Ray).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow.fs as pafs


def resolve(root: str | os.PathLike[str]) -> tuple[pafs.FileSystem, str]:
    """Split ``root`` (a path or a URI such as ``s3://bucket/x``) into a filesystem and a path."""
    root = os.fspath(root)
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), str(Path(root).absolute())


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for a path or a URI."""
    return "/".join([root.rstrip("/"), *parts])


def exists(target: str) -> bool:
    """Whether ``target`` is a file."""
    fs, path = resolve(target)
    return fs.get_file_info(path).type == pafs.FileType.File


def write_bytes(target: str, data: bytes) -> None:
    """Write ``data`` to ``target`` under a temporary name, then rename it into place."""
    write_atomic(*resolve(target), data)


def write_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (inside ``fs``) under a hidden name, then rename it."""
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
    """The whole content of ``target``."""
    fs, path = resolve(target)
    with fs.open_input_stream(path) as src:
        return src.read()


def tree_bytes(root: str) -> int:
    """Total size of the files under ``root`` (a folder path or URI; 0 when it is absent)."""
    fs, path = resolve(root)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
