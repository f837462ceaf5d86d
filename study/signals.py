"""The signals that stop a command, and how each phase of ``rotsweep run`` ends on them
(no Ray, no torch: the command line imports this first).

* ``STOP_SIGNALS``: SIGTERM (``kill PID``) and SIGHUP (the terminal closed: SSH dropped, window
  closed), whose default actions would end the process on the spot, skipping its ``finally``
  blocks;
* before a launch (imports, checks; nothing written yet): :func:`stop_signals_exit`, a clean
  exit with ``128 + signal``;
* during it: study/launch/runner.py ``exit_on_sigterm``, the same stop as Ctrl-C;
* after it (tables written, claim released): :func:`signals_end_at_once`, the launch's own exit
  code at once.

Each puts the handlers before back: tests call :func:`study.cli.main.main` in their own process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def handled(signals: tuple[int, ...], handler: Callable[[int, Any], None] | signal.Handlers
            ) -> Iterator[None]:
    """``handler`` for ``signals`` during the block (main thread only: signals go there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def stop_signals_exit() -> contextlib.AbstractContextManager[None]:
    """SIGTERM and SIGHUP raise :class:`SystemExit` (``128 + signal``): the command's
    ``finally`` blocks run, nothing prints a traceback (before a launch nothing is written)."""
    return handled(STOP_SIGNALS, _exit)


def signals_end_at_once(code: int) -> contextlib.AbstractContextManager[None]:
    """Once the launch is over (tables written, claim released): a Ctrl-C, SIGTERM or SIGHUP
    while the closing lines print or the local Ray shuts down ends the process at once with the
    launch's own exit ``code``. Not "interrupted" over a finished study, no traceback from Ray's
    exit hook, no death by SIGTERM's default action (bench/faults.py found all three)."""

    def leave(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    return handled((signal.SIGINT, *STOP_SIGNALS), leave)


def hangup_ignored() -> contextlib.AbstractContextManager[None]:
    """SIGHUP ignored during the block: processes started in it keep ignoring it (an ignored
    signal stays ignored across ``exec``, a handler does not), so a terminal's hang-up, sent to
    its whole process group, reaches only the driver, which stops the launch gracefully."""
    return handled((signal.SIGHUP,), signal.SIG_IGN)
