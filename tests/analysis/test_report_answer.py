"""The report opens with the study's question answered (analysis/answer.py), trials named by
dataset, θ and seed, never by id."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from result_tables import flat, four_fold, saliency_frame
from study_folder import trial_config

from analysis.report import make_report
from rotsweep.tables import write_part

IDS = {0: "f9981_00000", 45: "f9981_00001", 90: "f9981_00002"}


def write(root: Path, seeds: int, effect: float = 0.0) -> dict[tuple[int, int], str]:
    """kvasir_seg trained at θ = 0/45/90 with ``seeds`` seeds each (a 4-fold pattern shared by
    every seed, plus ``effect`` · θ/90), each beside its random-init baseline."""
    results, ids = root / "results", {}
    levels = np.random.default_rng(3).normal(0, 0.005, (3, seeds))
    for k, theta in enumerate((0, 45, 90)):
        for seed in range(seeds):
            trial = f"f9981_{k * seeds + seed:05d}"
            ids[(theta, seed)] = trial
            level = 0.5 + effect * theta / 90 + levels[k, seed]
            frame = pd.concat([
                saliency_frame(four_fold(0.05, level=level), trial_id=trial,
                               dataset="kvasir_seg", train_angles=(theta,), seed=seed,
                               n_images=18, noise=0.02, rng_seed=seed),
                saliency_frame(flat(0.3 + levels[k, seed]), trial_id=trial,
                               dataset="kvasir_seg", train_angles=(theta,), seed=seed,
                               init="random_baseline", n_images=18, rng_seed=seed)])
            write_part(results, "saliency", frame.assign(study="demo", target="rotation_logit"),
                       key=trial)
            config = trial_config("kvasir_seg", seed)
            config["pretext"]["params"]["angles"] = [float(theta)]
            write_part(results, "trials", [{"study": "demo", "dataset": "kvasir_seg",
                                            "trial_id": trial, "status": "FINISHED",
                                            "config_json": json.dumps(config)}], key=trial)
    (root / "study.json").write_text(json.dumps({"name": "demo", "source": "test.yaml",
                                                 "n_trials": 3 * seeds}))
    return ids


def answer(md: str) -> str:
    return md.split("\n## The answer\n", 1)[1].split("\n## ", 1)[0]


def test_a_three_trial_study_says_why_it_cannot_test_train_angles(tmp_path: Path) -> None:
    ids = write(tmp_path, seeds=1)
    make_report(tmp_path, n_boot=100, n_perm=199)
    md = (tmp_path / "report" / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0] == "## The answer"
    text = answer(md)
    assert "**kvasir_seg**, Dice. Train angle (θ = 0°, 45°, 90°): **cannot be tested** — 3 " \
        "trials, 1 seed per train angle: at least 3 seeds per angle are needed for p < 0.05" \
        in text
    assert "p = 1" not in text and "p_perm = 1" not in md
    # the evaluation angle: a 4-fold pattern on each trial, beyond the flat baseline, but no
    # negative control in this study
    assert "θ = 45°, seed 0: a 90°-period pattern" in text
    assert "unconfirmed — no negative control" in text
    assert not any(t in md for t in ids.values())  # never a trial's id
    html = (tmp_path / "report" / "report.html").read_text()
    assert not any(t in html for t in ids.values())
    assert "per_angle.png" in md  # every figure written is in the report
    # sections about seeds this study does not run are left out, not printed empty
    for absent in ("Seed 002", "Seed 003", "Seed 004", "Hypothesis (a)", "Hypothesis (b)"):
        assert absent not in md, absent


def test_seeds_answer_the_train_angle_and_replication(tmp_path: Path) -> None:
    ids = write(tmp_path, seeds=3, effect=0.05)
    make_report(tmp_path, n_boot=100, n_perm=199)
    md = (tmp_path / "report" / "report.md").read_text()
    text = answer(md)
    line = next(x for x in text.splitlines() if x.startswith("- **kvasir_seg**, Dice."))
    assert "Train angle: **θ changes it** (permutation p = " in line
    assert "beyond the untrained networks" in line  # their flat baselines do not differ
    assert re.search(r"90° − 0° = \+0\.0[3-6]\d \[\+0\.0\d\d, \+0\.0\d\d\]", line)
    assert "(95 % t interval, seeds as replicates, images paired)" in line
    assert "θ = 90°, seeds 0, 1, 2: the pattern **replicates** across seeds" in line
    assert not any(t in md for t in ids.values())
    tests = pd.read_csv(tmp_path / "report" / "train_angle_test.csv")
    dice = tests[(tests["metric"] == "dice") & (tests["init"] == "random")].iloc[0]
    assert dice["seeds_per_angle"] == "3/3/3" and dice["p_train_angle"] < 0.05


def test_identical_baselines_are_drawn_once() -> None:
    from analysis.figures import distinct_curves

    angles = np.arange(0, 360, 15)
    rows = []
    for label, init, level in (("θ = 0°", "random", 0.5), ("θ = 45°", "random", 0.6),
                               ("θ = 0°, untrained", "random_baseline", 0.3),
                               ("θ = 45°, untrained", "random_baseline", 0.3)):
        rows.append(pd.DataFrame({"label": label, "init": init, "eval_angle": angles,
                                  "mean": level + 0.01 * np.cos(np.radians(4 * angles))}))
    drawn = distinct_curves(pd.concat(rows))
    labels = [g["label"].iloc[0] for g in drawn]
    assert len(labels) == 3  # two trained curves and one baseline
    assert "untrained baseline, the same curve for θ = 0°, 45°" in labels
