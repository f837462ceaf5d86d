"""Benchmark: does the HoG-SVM chance band hold its size on the negative controls?

The report flags the HoG-SVM curves of a study when a negative control's curve leaves the
chance band at any angle (analysis/controls.py, ``hog_chance_bound``). Under the null every
angle of a ``noise`` or ``discs`` curve is chance, so the band should flag about α = 5 % of
control curves. This runs ``trainables.hog_svm.hog_svm_curve`` (nested 4-fold CV, 16-px cells
at 64 px, 15°…345°) on independent control data sets and reports the share of curves whose
maximum leaves the band: the binomial band (k = 1, the baseline, as the report had it) and the
widened one (k = ``HOG_CV_SD_FACTOR``), both in the same run, plus the measured spread.

    .venv/bin/python bench/hog_control.py --quick   # 10 data sets per kind
    .venv/bin/python bench/hog_control.py           # 40 noise, 24 discs

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.controls import HOG_CV_SD_FACTOR, hog_chance_bound
from trainables.config import DataConfig, HogConfig
from trainables.data import build_dataset
from trainables.hog_svm import hog_svm_curve

ANGLES = [float(a) for a in range(15, 360, 15)]


def control_curve(kind: str, seed: int, n: int) -> np.ndarray:
    """The HoG-SVM accuracy at every angle of one control data set of ``n`` images."""
    data = build_dataset(DataConfig(name="synthetic", image_size=64,
                                    params={"kind": kind, "n_images": n, "seed": seed}))
    images = torch.stack([data[i]["image"] for i in range(n)])
    cfg = HogConfig(n_images=n, image_size=64, pixels_per_cell=16, cv_folds=4, nested=True,
                    n_jobs=1)
    return np.array([row["accuracy"] for row in hog_svm_curve(images, ANGLES, cfg)])


def measure(kind: str, n: int, sets: int) -> dict[str, float]:
    curves = np.array([control_curve(kind, 1000 + s, n) for s in range(sets)])
    top = curves.max(axis=1)
    widened = hog_chance_bound(n, len(ANGLES))
    binomial = 0.5 + (widened - 0.5) / HOG_CV_SD_FACTOR
    return {"sets": sets, "n_images": n, "mean": round(float(curves.mean()), 4),
            "sd": round(float(curves.std(ddof=1)), 4),
            "sd_over_binomial": round(float(curves.std(ddof=1) / (0.5 / np.sqrt(2 * n))), 3),
            "bound_binomial": round(binomial, 3), "bound": round(widened, 3),
            "flagged_binomial": round(float((top > binomial).mean()), 3),
            "flagged": round(float((top > widened).mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 data sets per kind")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    sizes = {"noise": 10, "discs": 10} if args.quick else {"noise": 40, "discs": 24}
    result: dict[str, object] = {"quick": args.quick, "k": HOG_CV_SD_FACTOR, "alpha": 0.05}
    for kind, sets in sizes.items():
        result[kind] = measure(kind, 32, sets)
        print(kind, json.dumps(result[kind]), flush=True)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
