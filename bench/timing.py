"""Timing shared by the benchmarks: the best wall time of repeated calls, CUDA-synchronised."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


def best_time(fn: Callable[[], Any], device: torch.device, reps: int) -> float:
    """Best wall time of ``reps`` calls of ``fn`` after one untimed warm-up call (on CUDA the
    device is synchronised around each call, so queued kernels are counted)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best
