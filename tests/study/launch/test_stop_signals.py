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

# a stop signal outside Tune, in the context manager of a phase of `rotsweep run`: before the
# launch (study/signals.py; bench/faults.py saw SIGTERM while torch imported end the process by
# the default action, exit -15) and during it outside a Tune run (between batches, at the end)
OUTSIDE_TUNE = """
import importlib, os, signal, sys, time
module, name, sig = sys.argv[1].rsplit(".", 1)[0], sys.argv[1].rsplit(".", 1)[1], sys.argv[2]
with getattr(importlib.import_module(module), name)():
    try:
        os.kill(os.getpid(), getattr(signal, sig))
        time.sleep(30)
    finally:
        print("finally ran")
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("phase", ["study.signals.stop_signals_exit",
                                   "study.launch.runner.exit_on_sigterm"])
def test_a_stop_signal_outside_tune_runs_the_finally_blocks_and_exits_128_plus_it(
        phase: str, sig: str) -> None:
    proc = subprocess.run([sys.executable, "-c", OUTSIDE_TUNE, phase, sig], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 128 + getattr(signal, sig), proc.stderr
    assert proc.stdout == "finally ran\n" and "Traceback" not in proc.stderr, proc.stderr


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
