"""Benchmark: ``rotsweep run`` against the Ray Tune script a user would write instead (issue 20).

Three sides run the *same* tiny trials (``run_trial`` of trainables/trial.py on one grid axis,
the seed, of a small-CNN MoCo trial on synthetic rectangles; the same Parquet and PNG writes),
each in a fresh Python process with a fresh local Ray instance of 2 CPUs, one CPU per trial:

* ``rotsweep``: ``rotsweep run STUDY --out DIR --num-cpus 2`` (study/cli/main.py), the project's
  whole launch: claims, checks, trial book, progress lines, per-epoch state saves, the MLflow
  store with one child run per trial, the orientation-histogram job, the ``trials`` table;
* ``plain``: a ``tune.Tuner`` over a function trainable that builds the trial config and calls
  ``run_trial`` with ``tune.report``, ``reuse_actors=True`` as rotsweep, no callbacks;
* ``mlflow``: the plain script plus Ray's own ``MLflowLoggerCallback`` into a SQLite store.

Every trainable is wrapped to stamp when it starts and ends, so each run gives its wall time
(process start to exit), its time to first trial (process start to the first trainable's
entry), the mean time inside the trainable, and the steady gap between successive trial ends.
Runs are interleaved (the order of the sides rotates every size and repeat, so the machine's
other load hits all alike) and the figures are medians over the repeats.

    .venv/bin/python bench/overhead.py --quick   # N = 8 and 32, once each (about 8 minutes)
    .venv/bin/python bench/overhead.py           # N = 8 and 32, three times each

The last line printed is one JSON object: ``vs_plain_tune`` and ``vs_tune_mlflow`` (rotsweep's
wall time over the other side's at N = 32) and ``first_trial_s_ratio`` (rotsweep's time to
first trial over plain Tune's, median over all runs). Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("rotsweep", "plain", "mlflow")
SIZES = (8, 32)
GOALS = {"vs_plain_tune": 1.3, "vs_tune_mlflow": 0.7, "first_trial_s_ratio": 1.5}
CPUS = 2
BASE: dict[str, Any] = {  # tests/conftest.py's tiny trial: about a second on one CPU thread
    "data": {"name": "synthetic", "image_size": 32, "n_train": 32, "n_eval": 4,
             "params": {"kind": "rectangles", "n_images": 48}},
    "model": {"backbone": "small_cnn", "params": {"width": 8}},
    "pretext": {"name": "moco_rotation", "params": {"angles": [90], "queue_size": 64}},
    "train": {"epochs": 1, "batch_size": 16, "num_threads": 1},
    "saliency": {"n_samples": 2, "eval_angles": [0, 45, 90]},
    "hog": {"enabled": False},
}


# -- the stamps every side's trainable leaves ---------------------------------------------------
def stamped(stamps: str, trainable: Callable[[dict[str, Any]], None]
            ) -> Callable[[dict[str, Any]], None]:
    """``trainable`` writing ``<stamps>/<trial_id>.json`` = its start and end (epoch seconds)
    and the seconds it waited for its MLflow run id (rotsweep's trials read it from the
    driver's trial → run map: trainables/tune.py's ``mlflow_run_id``)."""

    def timed(config: dict[str, Any]) -> None:
        from ray import tune

        waits = watch_run_id_wait()
        start, trial_id, before = time.time(), tune.get_context().get_trial_id(), sum(waits)
        try:
            trainable(config)
        finally:
            Path(stamps, f"{trial_id}.json").write_text(json.dumps(
                [start, time.time(), sum(waits) - before]))

    timed.__name__ = getattr(trainable, "__name__", "trainable")
    return timed


def watch_run_id_wait() -> list[float]:
    """This worker's seconds spent in ``trainables.tune.mlflow_run_id``, one entry per call
    (wrapped once per process: a reused actor runs many trials)."""
    import trainables.tune

    fn = trainables.tune.mlflow_run_id
    waits: list[float] | None = getattr(fn, "waits", None)
    if waits is not None:
        return waits
    waits = []

    def timed_lookup(*args: Any, **kwargs: Any) -> str | None:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            waits.append(time.perf_counter() - start)

    timed_lookup.waits = waits  # type: ignore[attr-defined]
    trainables.tune.mlflow_run_id = timed_lookup  # type: ignore[assignment]
    return waits


def figures(stamps: Path, t0: float, wall_s: float, n: int) -> dict[str, float]:
    """One run's figures from its stamps (``t0``: when its process was started)."""
    spans = sorted(json.loads(p.read_text()) for p in stamps.glob("*.json"))
    if len(spans) != n:
        raise RuntimeError(f"{stamps}: {len(spans)} trials stamped, expected {n}")
    ends = sorted(end for _, end, _ in spans)
    steady = [b - a for a, b in zip(ends[n // 2:], ends[n // 2 + 1:], strict=False)]
    return {"wall_s": wall_s, "first_trial_s": spans[0][0] - t0,
            "trainable_s": statistics.mean(end - start for start, end, _ in spans),
            "run_id_wait_s": statistics.mean(wait for _, _, wait in spans),
            "end_gap_s": statistics.median(steady) if steady else float("nan")}


# -- the children: one run of one side ----------------------------------------------------------
def rotsweep_trial(config: dict[str, Any]) -> None:
    """rotsweep's own trainable (trainables/tune.py), imported in the trial's worker."""
    from trainables.tune import rotsweep_trainable

    rotsweep_trainable(config)


def run_rotsweep(n: int, root: Path) -> int:
    """``rotsweep run`` on a study of ``n`` trials, its trainable stamped (handed to
    ``run_study`` as the overhead tests do: ``RunOptions.trainable``)."""
    import dataclasses

    import yaml

    import study.launch.runner  # `rotsweep run` imports it before Ray starts: no time moves

    launch = study.launch.runner.run_study
    trainable = stamped(str(root / "stamps"), rotsweep_trial)
    study.launch.runner.run_study = lambda s, opts, stream=None: launch(  # type: ignore[assignment]
        s, dataclasses.replace(opts, trainable=trainable), stream)
    from study.cli.main import main

    file = root / "study.yaml"
    file.write_text(yaml.safe_dump({"name": f"overhead{n}", **BASE,
                                    "axes": {"seed": list(range(n))}}))
    return main(["run", str(file), "--out", str(root / "out"), "--num-cpus", str(CPUS)])


def plain_trial(config: dict[str, Any]) -> None:
    """The user's trainable: the trial config from the param space, then ``run_trial``."""
    from ray import tune

    from trainables.spec import build_trial
    from trainables.trial import TrialContext, run_trial

    cfg = build_trial(config["base"], {"seed": config["seed"]})
    ctx = TrialContext(trial_id=tune.get_context().get_trial_id(), **config["roots"])
    run_trial(cfg, ctx, tune.report)


def run_plain(n: int, root: Path, with_mlflow: bool) -> int:
    """A plain ``tune.Tuner`` script over the same trials (with Ray's MLflow callback)."""
    import ray
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    import trainables.trial  # noqa: F401  (a user's script imports its trial code at the top)

    ray.init(num_cpus=CPUS, include_dashboard=False,
             logging_config=ray.LoggingConfig(log_level="ERROR"))
    roots = {k: str(root / "out" / k) for k in ("results_root", "cache_root", "artifacts_root")}
    callbacks = [MLflowLoggerCallback(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                                      experiment_name=f"overhead{n}")] if with_mlflow else []
    tuner = tune.Tuner(
        tune.with_resources(stamped(str(root / "stamps"), plain_trial), {"cpu": 1}),
        param_space={"base": {"study": f"overhead{n}", **BASE}, "roots": roots,
                     "seed": tune.grid_search(list(range(n)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(root / "tune"), verbose=0,
                                  callbacks=callbacks))
    grid = tuner.fit()
    ray.shutdown()
    return 0 if grid.num_errors == 0 and len(grid) == n else 1


def child(side: str, n: int, root: Path) -> int:
    (root / "stamps").mkdir(parents=True, exist_ok=True)
    if side == "rotsweep":
        return run_rotsweep(n, root)
    return run_plain(n, root, with_mlflow=side == "mlflow")


# -- the parent: interleaved runs, medians, one JSON line ---------------------------------------
def one_run(side: str, n: int, tmp: Path) -> dict[str, float]:
    root = tmp / f"{side}-{n}"
    root.mkdir()
    t0 = time.time()
    with open(root / "log.txt", "w") as log:
        proc = subprocess.run([sys.executable, __file__, "--child", side, "--n", str(n),
                               "--root", str(root)], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, check=False)
    wall_s = time.time() - t0
    if proc.returncode != 0:
        tail = (root / "log.txt").read_text()[-2000:]
        raise RuntimeError(f"{side} N={n} exited {proc.returncode}:\n{tail}")
    return figures(root / "stamps", t0, wall_s, n)


def summarize(runs: dict[str, dict[int, list[dict[str, float]]]]) -> dict[str, Any]:
    med = {side: {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                  for n, rs in by_n.items()} for side, by_n in runs.items()}
    n = max(SIZES)
    first = statistics.median(
        r["first_trial_s"] for rs in runs["rotsweep"].values() for r in rs) / statistics.median(
        r["first_trial_s"] for rs in runs["plain"].values() for r in rs)
    out: dict[str, Any] = {
        "vs_plain_tune": med["rotsweep"][n]["wall_s"] / med["plain"][n]["wall_s"],
        "vs_tune_mlflow": med["rotsweep"][n]["wall_s"] / med["mlflow"][n]["wall_s"],
        "first_trial_s_ratio": first,
        "trainable_s_ratio": med["rotsweep"][n]["trainable_s"] / med["plain"][n]["trainable_s"],
    }
    out = {k: round(v, 3) for k, v in out.items()}
    out["meets_goals"] = all(out[k] <= goal for k, goal in GOALS.items())
    for key in ("wall_s", "first_trial_s", "trainable_s", "run_id_wait_s", "end_gap_s"):
        out[key] = {side: {str(n): round(v[key], 2) for n, v in by_n.items()}
                    for side, by_n in med.items()}
    out["wall_per_trial_s"] = {side: {str(n): round(v["wall_s"] / n, 2) for n, v in by_n.items()}
                               for side, by_n in med.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each size once (about 8 minutes)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        sys.exit(child(args.child, args.n, args.root))
    repeats = 1 if args.quick else 3
    runs: dict[str, dict[int, list[dict[str, float]]]] = {s: {n: [] for n in SIZES}
                                                         for s in SIDES}
    start = time.perf_counter()
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            folder = Path(tmp) / f"repeat{rep}"
            folder.mkdir()
            for k, n in enumerate(SIZES):
                shift = (rep * len(SIZES) + k) % len(SIDES)
                for side in SIDES[shift:] + SIDES[:shift]:
                    runs[side][n].append(one_run(side, n, folder))
                    r = runs[side][n][-1]
                    print(f"repeat {rep + 1}/{repeats} N={n} {side}: wall {r['wall_s']:.1f} s, "
                          f"first trial {r['first_trial_s']:.1f} s, trainable "
                          f"{r['trainable_s']:.2f} s (run id wait {r['run_id_wait_s']:.2f} s), "
                          f"end gap {r['end_gap_s']:.2f} s",
                          flush=True)
                    load.append(os.getloadavg())
    print(json.dumps({"benchmark": "overhead", "quick": args.quick, "repeats": repeats,
                      "sizes": list(SIZES), "cpus": CPUS, **summarize(runs), "goals": GOALS,
                      "loadavg_1min": [round(x[0], 2) for x in load],
                      "total_s": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
