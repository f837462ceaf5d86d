"""A Ctrl-C during a batch stops the launch even when every trial of the batch then ends
(study/launch/tuning.py ``TuneSigint``): found by bench/faults.py, where a single Ctrl-C
mid-trial let the next batches run to the end."""

from __future__ import annotations

import os
import signal
from typing import Any

from study.launch.tuning import TuneSigint


def tune_like_handler(before: Any) -> Any:
    """What Ray Tune installs for a run (ray/tune/tune.py ``_setup_signal_catching``): on the
    first SIGINT it notes the stop and puts the handler of before back."""
    def handler(sig: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, before)
    return handler


def test_a_stop_asked_for_during_the_run_is_seen_and_the_handler_put_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with TuneSigint() as sigint:
        signal.signal(signal.SIGINT, tune_like_handler(before))
        os.kill(os.getpid(), signal.SIGINT)
    assert sigint.stopped
    assert signal.getsignal(signal.SIGINT) is before


def test_a_run_without_a_signal_is_not_stopped_and_tunes_handler_is_removed() -> None:
    before = signal.getsignal(signal.SIGINT)
    with TuneSigint() as sigint:
        signal.signal(signal.SIGINT, tune_like_handler(before))
    assert not sigint.stopped  # negative control
    assert signal.getsignal(signal.SIGINT) is before  # Tune's handler does not outlive the run
