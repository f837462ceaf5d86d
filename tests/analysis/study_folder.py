"""A study folder as `rotsweep run` leaves it, written with the real table writer (imported by
the report and notebook tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rotsweep.tables import write_part

GRID = np.arange(0, 360, 15)


def four_fold(phase: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: 0.6 + 0.05 * np.cos(np.radians(4 * (a - phase)))


def trial_config(dataset: str, seed: int, blocks: int = 4) -> dict:
    return {"seed": seed, "study": "demo", "data": {"name": dataset},
            "model": {"backbone": "small_cnn", "init": "random", "params": {"blocks": blocks}},
            "pretext": {"name": "moco_rotation", "params": {"angles": [90.0]}},
            "train": {"epochs": 3}}


def write_study(root: Path, make_saliency: Callable[..., pd.DataFrame], n_images: int = 40
                ) -> None:
    """Two datasets, two seeds on BraTS, a random-init baseline on Kvasir (which also has
    Q(S, B) values: boxes), HoG-SVM, orientation, pretext, probe and trials tables, example
    PNGs and ``study.json``."""
    results = root / "results"
    trials = {"b0": ("brats", 0, four_fold(0)), "b1": ("brats", 1, four_fold(0)),
              "k0": ("kvasir_seg", 0, four_fold(45))}
    for trial_id, (dataset, seed, curve) in trials.items():
        frame = make_saliency(curve, trial_id=trial_id, dataset=dataset, seed=seed,
                              n_images=n_images, noise=0.04, rng_seed=seed)
        if trial_id == "k0":
            base = make_saliency(lambda a: np.full_like(a, 0.3), trial_id="k0",
                                 dataset=dataset, init="random_baseline", n_images=n_images)
            frame = pd.concat([frame, base])
            frame = frame.assign(q_bbox=frame["dice"] * 0.5)
        # a target whose map at 0° is not degenerate (pair_similarity's is: analysis/degenerate)
        frame = frame.assign(target="rotation_logit")
        write_part(results, "saliency", frame.assign(study="demo"), key=trial_id)
        write_part(results, "trials", [{"study": "demo", "dataset": dataset,
                                        "trial_id": trial_id, "status": "FINISHED",
                                        "config_json": json.dumps(trial_config(dataset, seed))}],
                   key=trial_id)
        write_part(results, "pretext", [{"study": "demo", "dataset": dataset,
                                         "trial_id": trial_id, "backbone": "small_cnn",
                                         "pretext": "moco_rotation", "epoch": e, "loss": 1.0,
                                         "pretext_accuracy": 0.2 * e} for e in (1, 2)],
                   key=trial_id)
        folder = root / "artifacts" / trial_id
        folder.mkdir(parents=True)
        fig = plt.figure(figsize=(1, 1))
        fig.savefig(folder / "saliency_examples.png")
        plt.close(fig)
        (folder / "trial_config.json").write_text(json.dumps(trial_config(dataset, seed)))
    for dataset in ("brats", "kvasir_seg"):
        write_part(results, "hog_svm", pd.DataFrame({
            "study": "demo", "dataset": dataset, "eval_angle": GRID,
            "accuracy": 0.75 - 0.25 * np.cos(np.radians(4 * GRID)), "accuracy_std": 0.02}),
            key=f"hog-{dataset}")
        weights = 1.0 + np.cos(np.radians(4 * np.arange(180)))
        write_part(results, "orientation", pd.DataFrame({
            "study": "demo", "dataset": dataset, "orientation": np.arange(180),
            "weight": weights / weights.sum(), "n_images": 40, "n_bins": 180}),
            key=f"orientation-{dataset}")
    write_part(results, "probe", [{"study": "demo", "dataset": "brats", "trial_id": "b0",
                                   "train_angles": [90], "init": "random", "seed": 0,
                                   "backbone": "small_cnn", "pretext": "moco_rotation",
                                   "downstream": "brats", "probe": "linear", "block": b,
                                   "metric": "accuracy", "value": v}
                                  for b, v in (("block1", 0.7), ("block2", 0.8))], key="b0")
    (root / "study.json").write_text(json.dumps({"name": "demo", "source": "test.yaml",
                                                 "n_trials": 3, "axes": {"seed": [0, 1]}}))


def write_light_study(root: Path) -> None:
    """The cheapest folder a report can be made of (for tests of where reports go, not of
    what they say): HoG-SVM curves of two datasets and a ``trials`` table of three trials."""
    results = root / "results"
    for dataset in ("brats", "kvasir_seg"):
        write_part(results, "hog_svm", pd.DataFrame({
            "study": "demo", "dataset": dataset, "eval_angle": GRID,
            "accuracy": 0.75 - 0.25 * np.cos(np.radians(4 * GRID)), "accuracy_std": 0.02}),
            key=f"hog-{dataset}")
    for trial_id, dataset in (("b0", "brats"), ("b1", "brats"), ("k0", "kvasir_seg")):
        write_part(results, "trials", [{"study": "demo", "dataset": dataset,
                                        "trial_id": trial_id, "status": "FINISHED",
                                        "config_json": json.dumps(trial_config(dataset, 0))}],
                   key=trial_id)
    (root / "study.json").write_text(json.dumps({"name": "demo", "source": "test.yaml",
                                                 "n_trials": 3}))
