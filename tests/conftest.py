"""Shared fixtures: one local Ray instance per test run, the real-data folder, tiny configs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
# the same variable the shipped studies read their data home from (conf/studies/real_samples.yaml)
SHARED_DATA = Path(os.environ.get("ROTSWEEP_DATA", REPO.parent / "shared" / "data"))

# Tests are small; one thread per process keeps them predictable on 2-core machines.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$ROTSWEEP_DATA``, else ``../shared/data`` (real sample datasets); tests that use it
    skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """One local Ray instance shared by every test that needs Ray (started on first use)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 logging_config=ray.LoggingConfig(log_level="WARNING"))
    yield ray
    ray.shutdown()


def tiny_trial(**sections: Any) -> dict[str, Any]:
    """A trial dict that trains and evaluates in about a second on one CPU thread."""
    base: dict[str, Any] = {
        "study": "test",
        "seed": 0,
        "data": {"name": "synthetic", "image_size": 32, "n_train": 32, "n_eval": 4,
                 "params": {"kind": "rectangles", "n_images": 48}},
        "model": {"backbone": "small_cnn", "params": {"width": 8}},
        "pretext": {"name": "moco_rotation", "params": {"angles": [90], "queue_size": 64}},
        "train": {"epochs": 1, "batch_size": 16},
        "saliency": {"n_samples": 2, "eval_angles": [0, 45, 90]},
        "hog": {"n_images": 8, "image_size": 32, "pixels_per_cell": 8, "cv_folds": 2,
                "c_grid": [1.0], "gamma_grid": [0.01]},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(base.get(name), dict):
            base[name] = {**base[name], **values}
        else:
            base[name] = values
    return base


@pytest.fixture(scope="session")
def tiny() -> Any:
    """The :func:`tiny_trial` builder."""
    return tiny_trial


@dataclass(frozen=True)
class SmokeStudy:
    """`make demo`'s study as :func:`smoke_study` left it: the folder, and what ``rotsweep
    run`` and ``rotsweep report`` printed."""

    out: Path
    run: subprocess.CompletedProcess[str]
    report: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> SmokeStudy:
    """``rotsweep run conf/studies/smoke.yaml`` then ``rotsweep report`` on it, once per test
    session, as a user runs them (the slow suite's most repeated cost: tests/study/
    test_smoke_study.py checks the run, tests/test_pages_browser.py opens its pages)."""
    exe = Path(sys.executable).parent / "rotsweep"
    out = tmp_path_factory.mktemp("smoke_study") / "smoke"
    run = subprocess.run([str(exe), "run", str(REPO / "conf/studies/smoke.yaml"), "--out",
                          str(out)], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    report = subprocess.run([str(exe), "report", str(out)], capture_output=True, text=True,
                            timeout=600, cwd=REPO)
    assert report.returncode == 0, report.stderr[-3000:]
    return SmokeStudy(out=out, run=run, report=report)
