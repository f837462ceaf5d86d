"""Benchmark: how Ray Tune's experiment state and the time per trial grow with a study's size.

``study.launch.runner.run_study`` runs a no-op trainable (one per-epoch result and one final result
with the keys a real trial reports) for two study sizes, one after the other, on one local Ray
instance. After each run it measures, under the study's ``tune/`` folder:

* ``state_bytes``: the largest single Tune experiment-state file (``experiment_state-*.json``,
  which Tune rewrites whole at every save: its size is the cost of one save);
* ``tune_bytes``: every file under ``tune/`` together;

each at its largest: a launch removes each batch's Tune experiment once its trials ended
(study/launch/tuning.py), so the folder is measured just before that as well as after the run.

and the wall time per trial. The figures that matter are the differences between the two
sizes: ``state_bytes_per_trial`` (how much one more finished trial adds to each save) and
``per_trial_ratio`` = time per trial at the large size / at the small size (goal ≤ 1.2).

    .venv/bin/python bench/tune_state.py --quick    # 50 and 200 trials, batches of 50
    .venv/bin/python bench/tune_state.py            # 100 and 1000 trials, batches of 256

Both sizes run twice: first the baseline, every trial in one Tune experiment (as a launch ran
before batches), then in the engine's batches; ``state_bytes_vs_baseline`` is the largest state
file of the batched large run over the baseline's.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray
from ray import tune

from study.launch import runner

try:
    from study.launch import tuning
except ImportError:  # before batches: one Tune experiment per study, never removed
    tuning = None
from study.config.load import validate_raw
from study.launch.runner import RunOptions, quiet_tune, run_study
from study.metrics import FINAL_METRICS

GOAL = 1.2


def noop(config: dict[str, Any]) -> None:
    """One per-epoch result and one final result shaped like a real trial's."""
    tune.report({"epoch": 1, "loss": 1.0, "pretext_accuracy": 0.5, "lr": 0.03})
    final = {name: 0.5 for name in FINAL_METRICS}
    tune.report({**final, "done": True, "wall_s": 0.01, "node_id": "n" * 56,
                 "node_ip": "127.0.0.1", "device": "cpu", "gpu_ids": ""})


def study_of(n: int) -> Any:
    """A study of ``n`` trials (one grid axis over the seed), without the data-only jobs."""
    return validate_raw({"name": f"state{n}", "axes": {"seed": list(range(n))},
                         "hog": {"enabled": False}}, source="bench/tune_state.py")


def sizes(folder: Path) -> tuple[int, int, int]:
    """Largest experiment-state file, all bytes and the file count under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    states = [p.stat().st_size for p in files if p.name.startswith("experiment_state")]
    return max(states, default=0), sum(p.stat().st_size for p in files), len(files)


def measure(n: int, root: Path, batch_size: int | None = None) -> dict[str, float]:
    """Run ``n`` no-op trials; sizes under ``tune/`` at their largest and seconds per trial."""
    out = root / f"state{n}"
    seen: list[tuple[int, int, int]] = []
    patches = [mock.patch.object(runner, "orientation_jobs", lambda study: [])]
    if tuning is not None:
        remove = tuning.remove_folder

        def measured_remove(target: str) -> None:
            seen.append(sizes(Path(target).parent))
            remove(target)

        patches.append(mock.patch.object(tuning, "remove_folder", measured_remove))
    start = time.perf_counter()
    with contextlib.ExitStack() as stack, contextlib.redirect_stdout(io.StringIO()):
        for patch in patches:
            stack.enter_context(patch)
        batch = {"batch_size": batch_size} if batch_size else {}
        result = run_study(study_of(n), RunOptions(out=str(out), trainable=noop, **batch))
    elapsed = time.perf_counter() - start
    assert result.counts == {"FINISHED": n}, result.counts
    seen.append(sizes(out / "tune"))
    return {"trials": n, "wall_s": elapsed, "per_trial_s": elapsed / n,
            "state_bytes": max(s[0] for s in seen), "tune_bytes": max(s[1] for s in seen),
            "tune_files": max(s[2] for s in seen)}


def run_pair(small: int, large: int, root: Path, batch_size: int | None
             ) -> dict[str, Any]:
    """Both sizes with ``batch_size`` trials per Tune experiment; the growth figures."""
    runs = [measure(n, root, batch_size) for n in (small, large)]
    a, b = runs
    for r in runs:
        print(f"  {r['trials']} trials: {r['per_trial_s'] * 1000:.0f} ms/trial, largest Tune "
              f"state file {r['state_bytes'] / 1e3:.1f} KB, tune/ {r['tune_bytes'] / 1e6:.2f} "
              f"MB in {r['tune_files']} files")
    per_trial = (b["state_bytes"] - a["state_bytes"]) / (large - small)
    ratio = b["per_trial_s"] / a["per_trial_s"]
    print(f"  state growth: {per_trial / 1e3:.2f} KB per trial; time per trial {large} vs "
          f"{small}: {ratio:.2f}x")
    return {"batch_size": batch_size, "state_bytes": [a["state_bytes"], b["state_bytes"]],
            "state_bytes_per_trial": round(per_trial, 1),
            "tune_bytes": [a["tune_bytes"], b["tune_bytes"]],
            "per_trial_s": [round(a["per_trial_s"], 4), round(b["per_trial_s"], 4)],
            "per_trial_ratio": round(ratio, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 and 200 trials")
    parser.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("SMALL", "LARGE"))
    parser.add_argument("--batch-size", type=int, default=None,
                        help="trials per Tune experiment (default: 50 with --quick, else the "
                             "engine's)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baseline (every trial in one Tune experiment)")
    args = parser.parse_args()
    small, large = args.sizes or ((50, 200) if args.quick else (100, 1000))
    batch_size = args.batch_size or (50 if args.quick else None)
    quiet_tune(verbose=False)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
             logging_config=ray.LoggingConfig(log_level="ERROR"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            measure(8, Path(tmp), batch_size)  # warm-up: workers started, modules imported
            base = None
            if not args.no_baseline:
                print("baseline: one Tune experiment for the whole study")
                base = run_pair(small, large, Path(tmp) / "one", large)
            print(f"batches of {batch_size or 'the engine default'}")
            batched = run_pair(small, large, Path(tmp) / "batched", batch_size)
    finally:
        ray.shutdown()
    out = {"benchmark": "tune_state", "quick": args.quick, "cpus": os.cpu_count(),
           "sizes": [small, large], **batched, "goal": GOAL,
           "meets_goal": batched["per_trial_ratio"] <= GOAL}
    if base is not None:
        out["baseline"] = {k: v for k, v in base.items() if k != "batch_size"}
        out["state_bytes_vs_baseline"] = round(batched["state_bytes"][1]
                                               / max(base["state_bytes"][1], 1), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
