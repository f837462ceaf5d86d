"""Benchmark: aggregating 10 million saliency rows per angle (issue 7's goal: under 5 s on 2 cores).

Writes a ``saliency`` table the way trials do — one part per trial through
:func:`rotsweep.tables.write_part`, seed 000's shape (75 images × 360 angles = 27,000 rows per
trial, ~370 trials over three datasets) — then times, on that table:

* ``aggregate_s`` — the figure the goal is about: :func:`rotsweep.tables.read_arrow` of the
  columns a per-angle mean needs (schema check of every file included, ``read_s``), then
  :func:`analysis.curves.angle_means`, the mean and count of Dice per (trial, angle) grouped
  in Arrow (``mean_s``);
* ``read_pandas_s`` + ``curves_s``: the columns a CI needs (images too) read into pandas, and
  :func:`analysis.curves.curve_table` — mean *and* 1000-replicate bootstrap CI per
  (trial, angle), every trial;

and, as baselines in the same run, the way a user would first type it —
``pd.read_parquet`` of every column and a pandas ``groupby(["trial_id", "eval_angle"])`` mean
(``baseline_aggregate_s``) — and a straightforward bootstrap (per trial, per replicate: index
images with replacement, take the mean), timed on a few trials and extrapolated to all.

    .venv/bin/python bench/analysis.py --quick   # 1 M rows
    .venv/bin/python bench/analysis.py           # 10 M rows

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.curves import angle_means, curve_table
from rotsweep.tables import read_arrow, write_part

N_IMAGES, N_ANGLES = 75, 360
DATASETS = ("brats", "lung_mask", "kvasir_seg")
MEAN_COLUMNS = ["dataset", "trial_id", "init", "eval_angle", "dice"]  # what a mean needs
CURVE_COLUMNS = [*MEAN_COLUMNS, "seed", "image_id"]  # a CI over images needs the images


def trial_rows(k: int, rng: np.random.Generator) -> pd.DataFrame:
    """One trial's 27,000 rows with every column of the table (as a trial writes them)."""
    n = N_IMAGES * N_ANGLES
    angles = np.tile(np.arange(N_ANGLES, dtype=np.int16), N_IMAGES)
    dice = (0.6 + 0.02 * np.cos(np.radians(4 * angles)) + rng.normal(0, 0.05, n)).astype(
        np.float32)
    train = [int(15 * (k % 24))]
    return pd.DataFrame({
        "study": "bench", "dataset": DATASETS[k % 3], "trial_id": f"trial_{k:05d}",
        "backbone": "resnet50", "pretext": "moco_rotation", "train_angles": [train] * n,
        "init": "moco_v2", "seed": k // 72, "method": "smoothgrad", "target": "pair_similarity",
        "eval_angle": angles, "image_id": np.repeat([f"img_{i:03d}" for i in range(N_IMAGES)],
                                                    N_ANGLES),
        "dice": dice, "iou": dice / 2, "soft_dice": dice, "auc": dice, "mass_in_mask": dice,
        "q_bbox": np.nan, "threshold_rule": "match_mask_area", "threshold": 0.5,
        "mlflow_run_id": "0" * 32})


def write_table(root: Path, n_trials: int) -> float:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for k in range(n_trials):
        write_part(root, "saliency", trial_rows(k, rng), key=f"trial_{k:05d}")
    return time.perf_counter() - start


def naive_bootstrap(frame: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> None:
    """The straightforward way, one trial: resample images, recompute the per-angle means."""
    cube = frame.pivot_table(index="image_id", columns="eval_angle", values="dice").to_numpy()
    reps = np.empty((n_boot, cube.shape[1]))
    for b in range(n_boot):
        reps[b] = cube[rng.integers(0, len(cube), len(cube))].mean(axis=0)
    np.quantile(reps, [0.025, 0.975], axis=0)


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M rows instead of 10 M")
    parser.add_argument("--rows", type=int, default=None, help="rows to write (default 10 M)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None, help="keep the table here")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    n_trials = max(1, round(rows / (N_IMAGES * N_ANGLES)))
    root = args.dir or Path(tempfile.mkdtemp(prefix="rotsweep_bench_"))
    try:
        write_s = write_table(root, n_trials)
        print(f"wrote {n_trials} parts, {n_trials * N_IMAGES * N_ANGLES:,} rows in "
              f"{write_s:.1f} s", flush=True)
        table, read_s = timed(lambda: read_arrow(root, "saliency", columns=MEAN_COLUMNS))
        means, mean_s = timed(lambda: angle_means(table, ["dice"]))
        assert len(means) == n_trials * N_ANGLES
        print(f"read {table.num_rows:,} rows in {read_s:.2f} s; per-angle means in "
              f"{mean_s:.2f} s", flush=True)
        frame, pandas_s = timed(lambda: read_arrow(root, "saliency",
                                                   columns=CURVE_COLUMNS).to_pandas())
        curves, curves_s = timed(lambda: curve_table(frame, ["dice"], n_boot=args.n_boot))
        assert len(curves) == n_trials * N_ANGLES
        check = means.set_index(["trial_id", "eval_angle"])["dice"]
        got = curves.set_index(["trial_id", "eval_angle"])["mean"]
        assert np.allclose(got.loc[check.index], check, atol=1e-6)
        print(f"read into pandas in {pandas_s:.2f} s; per-angle means and bootstrap CIs "
              f"({args.n_boot} replicates) in {curves_s:.2f} s", flush=True)
        _, baseline_s = timed(lambda: pd.read_parquet(root / "saliency").groupby(
            ["trial_id", "eval_angle"], observed=True)["dice"].mean())
        sample = min(3, n_trials)
        rng = np.random.default_rng(1)
        subsets = [frame[frame["trial_id"] == f"trial_{k:05d}"] for k in range(sample)]
        _, naive_s = timed(lambda: [naive_bootstrap(s, args.n_boot, rng) for s in subsets])
        naive_all_s = naive_s / sample * n_trials
        print(f"baselines: pd.read_parquet + groupby {baseline_s:.2f} s; straightforward "
              f"bootstrap {naive_all_s:.1f} s (from {sample} trials)", flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    aggregate_s = read_s + mean_s
    print(json.dumps({
        "rows": n_trials * N_IMAGES * N_ANGLES, "trials": n_trials, "n_boot": args.n_boot,
        "write_s": round(write_s, 2), "read_s": round(read_s, 3), "mean_s": round(mean_s, 3),
        "aggregate_s": round(aggregate_s, 3), "baseline_aggregate_s": round(baseline_s, 3),
        "aggregate_speedup": round(baseline_s / aggregate_s, 1),
        "read_pandas_s": round(pandas_s, 3), "curves_s": round(curves_s, 3),
        "baseline_bootstrap_s": round(naive_all_s, 2),
        "bootstrap_speedup": round(naive_all_s / curves_s, 1),
        "goal_aggregate_under_5s": aggregate_s < 5.0}))

if __name__ == "__main__":
    main()
