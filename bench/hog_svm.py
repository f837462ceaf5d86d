"""Benchmark: the HoG-SVM "rotated by θ or not" curve, seed 000's size (75 images × 360 angles).

Measures :func:`trainables.hog_svm.hog_svm_curve` with 1 and with 2 worker processes on the same
images (the 1 → 2 worker scaling; 2 workers both from a cold start and with joblib's workers
already running), and, as the baseline in the same run, the straightforward
way on a subset of the angles: per angle, HoG of both copies and
``GridSearchCV(make_pipeline(StandardScaler(), SVC()), cv=GroupKFold)``, extrapolated to all
angles. The two give the same accuracies (checked on the subset).

Images: ``synthetic`` axis-aligned rectangles at 64 px; HoG with 16-px cells, 9 orientations;
grid C ∈ {1, 10}, γ ∈ {0.001, 0.01}; grouped 5-fold CV.

    .venv/bin/python bench/hog_svm.py --quick   # 75 images × 60 angles
    .venv/bin/python bench/hog_svm.py           # 75 images × 360 angles

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from trainables.config import DataConfig, HogConfig
from trainables.data import build_dataset
from trainables.hog_svm import hog_svm_curve, pair_inputs


def images(n: int, size: int) -> torch.Tensor:
    data = build_dataset(DataConfig(name="synthetic", image_size=size,
                                    params={"kind": "rectangles", "n_images": n}))
    return torch.stack([data[i]["image"] for i in range(n)])


def baseline_accuracy(gray: torch.Tensor, angle: int, cfg: HogConfig) -> float:
    """The straightforward way: both copies' HoG and a full GridSearchCV, for one angle."""
    x, y, groups = pair_inputs(gray, angle, cfg, "disk")
    pipe = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
    grid = {"svc__C": list(cfg.c_grid), "svc__gamma": list(cfg.gamma_grid)}
    search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=cfg.cv_folds), scoring="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(x, y, groups=groups)
    return float(search.best_score_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 angles instead of 360")
    parser.add_argument("--n-images", type=int, default=75)
    args = parser.parse_args()
    torch.set_num_threads(1)
    angles = list(range(0, 360, 6 if args.quick else 1))
    cfg = HogConfig(n_images=args.n_images, image_size=64, pixels_per_cell=16, cv_folds=5)
    imgs = images(args.n_images, 64)
    out: dict[str, Any] = {"n_images": args.n_images, "n_angles": len(angles),
                           "quick": args.quick, "load_avg_1min_start": os.getloadavg()[0]}
    curves = {}
    # 2 workers twice: a cold start (the worker processes start and import sklearn: what one
    # study's HoG job pays) and a warm one (joblib reuses its workers: the steady state)
    for key, jobs in (("1_worker", 1), ("2_workers_cold", 2), ("2_workers_warm", 2)):
        start = time.perf_counter()
        curves[key] = hog_svm_curve(imgs, angles, replace(cfg, n_jobs=jobs))
        out[f"wall_s_{key}"] = round(time.perf_counter() - start, 2)
        print(f"{len(angles)} angles x {args.n_images} images, {key.replace('_', ' ')}: "
              f"{out[f'wall_s_{key}']} s", flush=True)
    for key in ("cold", "warm"):
        out[f"scaling_1_to_2_{key}"] = round(out["wall_s_1_worker"]
                                             / out[f"wall_s_2_workers_{key}"], 2)
    assert curves["1_worker"] == curves["2_workers_cold"] == curves["2_workers_warm"], \
        "parallel and serial curves differ"

    subset = angles[:: max(1, len(angles) // 12)]
    start = time.perf_counter()
    base = [baseline_accuracy(imgs.float().mean(1), a, cfg) for a in subset]
    per_angle = (time.perf_counter() - start) / len(subset)
    ours = {r["eval_angle"]: r["accuracy"] for r in curves["1_worker"]}
    out["baseline_s_per_angle"] = round(per_angle, 4)
    out["baseline_wall_s_extrapolated"] = round(per_angle * len(angles), 1)
    out["speedup_vs_baseline_1_worker"] = round(per_angle * len(angles)
                                                / out["wall_s_1_worker"], 2)
    out["baseline_agrees"] = bool(np.allclose([ours[a] for a in subset], base, atol=1e-12))
    acc = {a: round(ours[a], 3) for a in (0, 6, 12, 42, 90, 180, 270) if a in ours}
    out["accuracy_at"] = acc
    print(f"baseline (HoG of both copies + GridSearchCV per angle): {per_angle:.3f} s/angle, "
          f"{out['baseline_wall_s_extrapolated']} s for {len(angles)} angles; agrees: "
          f"{out['baseline_agrees']}; accuracy at {acc}", flush=True)
    # the machines are shared: the load average says how much of the cores the run had
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
