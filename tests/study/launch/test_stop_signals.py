"""SIGTERM (``kill PID``) and SIGHUP (the terminal closed) end a launch as Ctrl-C does, through
its ``finally`` blocks (study/launch/runner.py ``exit_on_sigterm``); the handlers before are
put back after the launch."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from study.launch.runner import exit_on_sigterm
from study.signals import STOP_SIGNALS

REPO = Path(__file__).resolve().parents[3]

OUTSIDE_TUNE = """
import os, signal, sys, time
from study.launch.runner import exit_on_sigterm
try:
    with exit_on_sigterm():
        try:
            os.kill(os.getpid(), getattr(signal, sys.argv[1]))
            time.sleep(30)
        finally:
            print("finally ran")
except SystemExit as err:
    print(f"exit {err.code}")
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_outside_tune_runs_the_finally_blocks(sig: str) -> None:
    proc = subprocess.run([sys.executable, "-c", OUTSIDE_TUNE, sig], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == [
        "finally ran", f"exit {128 + getattr(signal, sig)}"], proc.stdout + proc.stderr


def test_a_stop_signal_inside_tune_goes_to_tunes_sigint_handler() -> None:
    seen: list[int] = []
    before_int = signal.signal(signal.SIGINT, lambda sig, frame: seen.append(sig))
    try:
        with exit_on_sigterm():
            for sig in STOP_SIGNALS:
                signal.raise_signal(sig)
    finally:
        signal.signal(signal.SIGINT, before_int)
    assert seen == [signal.SIGINT] * len(STOP_SIGNALS)  # Tune stops its trials, gracefully


def test_the_handlers_before_are_put_back() -> None:
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with exit_on_sigterm():
        assert all(signal.getsignal(sig) is not before[sig] for sig in STOP_SIGNALS)
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before
