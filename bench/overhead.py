"""Benchmark: rotsweep's cost per trial around a no-op trainable, against bare Ray Tune.

Both sides run the *same* no-op function trainable (one ``tune.report``), the same param
space (the study's base trial, its grid axis, its storage paths), the same TuneConfig and the
same MLflow callback (``study.tracking.MlflowCallback``: one run per trial with the flattened
trial config as params, a metrics batch per result, into a SQLite store), in one process on
one local Ray instance:

* bare: ``tune.Tuner(noop, ...).fit()`` and nothing else;
* rotsweep: ``study.runner.run_study`` with the no-op as its trainable: study checks,
  ``study.json``, the parent run and the trial → run map in storage, the trial book written at
  every trial event (``progress.json``), the progress lines, MLflow reconciliation, the
  ``trials`` table.

The study's data-only jobs (the HoG-SVM curve and the orientation histogram, Ray tasks beside
the trials) are real computation, not per-trial overhead, so the benchmark runs without them
(``hog.enabled: false``, and no orientation job).

``overhead_ratio`` is rotsweep's wall time per trial over bare Tune's at 64 trials (the larger
study, where the per-launch costs are spread); the 16-trial ratio is reported beside it. After
an untimed warm-up of each side (Ray's worker processes started, modules imported), the
sides alternate which goes first so that the machine's load hits both alike, and the figures
are medians over the repeats.

    .venv/bin/python bench/overhead.py --quick   # 16 and 64 trials, twice each
    .venv/bin/python bench/overhead.py           # 16 and 64 trials, five times each

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray
from ray import tune

from study import runner
from study.config import validate_raw
from study.runner import RunOptions, layout, quiet_tune, run_study
from study.search import build_tune_config, param_space_axes
from study.tracking import MlflowCallback, default_tracking_uri
from trainables.config import to_dict

GOAL = 1.2


def noop(config: dict[str, Any]) -> None:
    """The no-op trial both sides run: one final result."""
    tune.report({"dice_mean": 0.0, "wall_s": 0.0})


def study_of(n: int, name: str) -> Any:
    """A study of ``n`` trials (one grid axis over the seed) without HoG jobs."""
    return validate_raw({"name": name, "axes": {"seed": list(range(n))},
                         "hog": {"enabled": False}}, source="bench/overhead.py")


def bare_tune(n: int, root: Path) -> float:
    """Seconds for bare Ray Tune over the study's trials, with the same MLflow callback."""
    study = study_of(n, f"bare{n}")
    storage = str(root / f"bare{n}")
    paths = layout(storage)
    start = time.perf_counter()
    callback = MlflowCallback(default_tracking_uri(storage), study.name, paths["runs_root"],
                              None)
    param_space = {"base": to_dict(study.base), "axes": param_space_axes(study),
                   "runtime": {k: v for k, v in paths.items() if k != "tune_root"}}
    tuner = tune.Tuner(
        tune.with_resources(noop, {"cpu": 1, "gpu": 0}), param_space=param_space,
        tune_config=build_tune_config(study),
        run_config=tune.RunConfig(name=study.name, storage_path=paths["tune_root"],
                                  callbacks=[callback], verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    tuner.fit()
    return time.perf_counter() - start


def rotsweep(n: int, root: Path) -> float:
    """Seconds for ``run_study`` over the same trials with the no-op trainable."""
    study = study_of(n, f"rotsweep{n}")
    out = str(root / f"rotsweep{n}")
    start = time.perf_counter()
    with (contextlib.redirect_stdout(io.StringIO()),  # the progress lines are made, not shown
          mock.patch.object(runner, "orientation_jobs", lambda study: [])):  # data work
        result = run_study(study, RunOptions(out=out, trainable=noop))
    elapsed = time.perf_counter() - start
    assert result.counts == {"FINISHED": n}, result.counts
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each size once (< 6 minutes)")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    sizes = (16, 64)
    quiet_tune(verbose=False)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
             logging_config=ray.LoggingConfig(log_level="ERROR"))
    sides = {"bare": bare_tune, "rotsweep": rotsweep}
    times: dict[str, dict[int, list[float]]] = {side: {n: [] for n in sizes} for side in sides}
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:  # warm-up: workers started, modules loaded
            for side, fn in sides.items():
                fn(8, Path(tmp) / side)
        for rep in range(repeats):
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for n in sizes:
                with tempfile.TemporaryDirectory() as tmp:
                    for side in order:
                        times[side][n].append(sides[side](n, Path(tmp)))
                print(f"repeat {rep + 1}/{repeats}, {n} trials: bare {times['bare'][n][-1]:.1f} s,"
                      f" rotsweep {times['rotsweep'][n][-1]:.1f} s", flush=True)
    finally:
        ray.shutdown()
    median = {side: {n: statistics.median(v) for n, v in by_n.items()}
              for side, by_n in times.items()}
    per_trial_ms = {side: {n: 1000 * t / n for n, t in by_n.items()}
                    for side, by_n in median.items()}
    ratio = {n: median["rotsweep"][n] / median["bare"][n] for n in sizes}
    for n in sizes:
        print(f"{n} trials: bare Tune {per_trial_ms['bare'][n]:.0f} ms/trial, rotsweep "
              f"{per_trial_ms['rotsweep'][n]:.0f} ms/trial, ratio {ratio[n]:.2f}")
    print(json.dumps({
        "benchmark": "overhead", "quick": args.quick, "repeats": repeats, "cpus": os.cpu_count(),
        "bare_s": {str(n): round(median["bare"][n], 2) for n in sizes},
        "rotsweep_s": {str(n): round(median["rotsweep"][n], 2) for n in sizes},
        "bare_ms_per_trial": {str(n): round(per_trial_ms["bare"][n], 1) for n in sizes},
        "rotsweep_ms_per_trial": {str(n): round(per_trial_ms["rotsweep"][n], 1) for n in sizes},
        "overhead_ratio_16": round(ratio[16], 3), "overhead_ratio": round(ratio[64], 3),
        "goal": GOAL, "meets_goal": ratio[64] <= GOAL,
        "total_s": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
