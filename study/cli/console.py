"""The terminal a command prints to may go away while it runs: the reader of a pipe ends
(``rotsweep run ... | head``, a killed ``tee``) or an SSH session drops (a hung-up terminal).
Printing then fails with ``BrokenPipeError`` or ``EIO``; a launch of hours must not stop (or
blame its output folder) for that. :func:`console_survives` makes the first failed write send
that stream to ``/dev/null`` for the rest of the process, and the command goes on; its tables,
``progress.json`` and ``rotsweep status`` still say how it went.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class SurvivingStream:
    """``stream`` whose writes and flushes never raise an OS error: the first one points the
    stream's file descriptor at ``/dev/null`` (so Python's flush at exit, and every library that
    writes to the descriptor, succeed too) and drops what follows."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self.stream.write(text)
            except OSError:  # BrokenPipeError, or EIO from a terminal that hung up
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self.stream.flush()
            except OSError:
                self._lose()

    def _lose(self) -> None:
        self.lost = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            fd = self.stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def console_survives() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` as :class:`SurvivingStream` for the block, the streams
    before put back after it (tests call the command line in their own process)."""
    before = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SurvivingStream(sys.stdout), SurvivingStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):  # what is buffered: a lost reader found here
            stream.flush()  # points the descriptor at /dev/null before Python's flush at exit
        sys.stdout, sys.stderr = before
