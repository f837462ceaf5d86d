"""``make_report`` on result folders written with the real table writer: every file, the
peaks of known curves, filters pushed down, a self-contained HTML page, clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from result_tables import saliency_frame

from analysis.report import make_report
from analysis.results import load_results
from rotsweep.tables import SchemaError, write_part

GRID = np.arange(0, 360, 15)


def four_fold(phase: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: 0.6 + 0.05 * np.cos(np.radians(4 * (a - phase)))


def write_study(root: Path, make_saliency: Callable[..., pd.DataFrame]) -> None:
    """A study folder as `rotsweep run` leaves it: two datasets, two seeds on BraTS, a random-
    init baseline, HoG-SVM, orientation, pretext, probe and trials tables, example PNGs."""
    results = root / "results"
    trials = {"b0": ("brats", 0, four_fold(0)), "b1": ("brats", 1, four_fold(0)),
              "k0": ("kvasir_seg", 0, four_fold(45))}
    for trial_id, (dataset, seed, curve) in trials.items():
        frame = make_saliency(curve, trial_id=trial_id, dataset=dataset, seed=seed,
                              n_images=40, noise=0.04, rng_seed=seed)
        if trial_id == "k0":
            base = make_saliency(lambda a: np.full_like(a, 0.3), trial_id="k0",
                                 dataset=dataset, init="random_baseline", n_images=40)
            frame = pd.concat([frame, base])
        write_part(results, "saliency", frame.assign(study="demo"), key=trial_id)
        config = {"seed": seed, "study": "demo", "data": {"name": dataset}}
        write_part(results, "trials", [{"study": "demo", "dataset": dataset,
                                        "trial_id": trial_id, "status": "FINISHED",
                                        "config_json": json.dumps(config)}], key=trial_id)
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
    for dataset in ("brats", "kvasir_seg"):
        write_part(results, "hog_svm", pd.DataFrame({
            "study": "demo", "dataset": dataset, "angle": GRID,
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


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """One study folder and its report, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("study")
    write_study(root, saliency_frame)
    return root, make_report(root, n_boot=200, n_perm=199)


def test_report_writes_every_file(reported: tuple[Path, list[Path]]) -> None:
    study_dir, written = reported
    out = study_dir / "report"
    names = {p.relative_to(out).as_posix() for p in written}
    expected = {
        "per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "curves.csv",
        "curves_by_condition.csv", "periodicity.csv", "periodicity_by_condition.csv",
        "seed000_table_i.csv", "hypothesis_a_hog_dice.csv", "hypothesis_b_orientation.csv",
        "orientation_summary.csv", "hypothesis_c_trained_vs_random.csv",
        "seed002_rotation_accuracy.csv", "seed003_rotation_sets.csv",
        "dice_vs_angle.png", "dice_vs_angle.svg", "dice_polar.png", "dice_polar.svg",
        "soft_dice_vs_angle.svg", "auc_vs_angle.png", "hog_svm_vs_angle.png",
        "hog_svm_vs_angle.svg", "orientation.png", "orientation.svg",
        "examples/b0_saliency_examples.png", "report.md", "report.html"}
    assert expected <= names, sorted(expected - names)
    for path in written:
        assert path.is_file() and path.stat().st_size > 0, path


def test_peaks_csv_finds_each_datasets_maxima(reported: tuple[Path, list[Path]]) -> None:
    study_dir, _ = reported
    peaks = pd.read_csv(study_dir / "report" / "peaks.csv", keep_default_na=False)
    assert list(peaks.columns) == ["dataset", "trial_id", "metric", "maxima", "minima",
                                   "dominant_period", "periodic_p"]
    dice = peaks[peaks["metric"] == "dice"].set_index("trial_id")
    for trial in ("b0", "b1"):
        assert dice.loc[trial, "maxima"] == "0;90;180;270"
        assert dice.loc[trial, "dominant_period"] == 90.0
        assert dice.loc[trial, "periodic_p"] < 0.01
    assert dice.loc["k0", "maxima"] == "45;135;225;315"
    assert len(peaks) == 3 * 3 + 2  # 3 trials × 3 metrics + 2 HoG curves; no baseline rows
    pooled = pd.read_csv(study_dir / "report" / "periodicity_by_condition.csv")
    brats = pooled[(pooled["dataset"] == "brats") & (pooled["metric"] == "dice")].iloc[0]
    assert brats["n_trials"] == 2 and brats["maxima"] == "0;90;180;270"


def test_report_html_is_self_contained_and_reads_top_to_bottom(
        reported: tuple[Path, list[Path]]) -> None:
    study_dir, _ = reported
    html = (study_dir / "report" / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    md = (study_dir / "report" / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Summary", "## 1. Saliency vs. evaluation angle"]
    for section in ("Hypothesis (a)", "Hypothesis (b)", "Hypothesis (c)", "Seed 002",
                    "Seed 003", "Methods"):
        assert any(section in h for h in headings), section
        assert section in html
    assert "trained − random-init Dice" in md  # hypothesis (c) summarised


def test_filters_are_pushed_down(tmp_path: Path,
                                 make_saliency: Callable[..., pd.DataFrame]) -> None:
    write_study(tmp_path, make_saliency)
    kvasir = load_results(tmp_path, datasets=["kvasir_seg"])
    for name in kvasir.present():
        assert set(getattr(kvasir, name)["dataset"]) == {"kvasir_seg"}, name
    one = load_results(tmp_path, study="demo", trial_ids=["b1"])
    assert set(one.saliency["trial_id"]) == {"b1"} and set(one.trials["trial_id"]) == {"b1"}
    assert set(one.saliency["train_angles"]) == {"90"}  # lists come back as labels
    assert one.probe is None  # the probe rows belong to b0
    assert len(one.hog_svm) == 2 * len(GRID)  # no trial column: every dataset's curve
    assert load_results(tmp_path, study="other").present() == []


def test_a_saliency_table_alone_is_enough(tmp_path: Path,
                                          make_saliency: Callable[..., pd.DataFrame]) -> None:
    for trial in ("t0", "t1"):
        write_part(tmp_path / "results", "saliency",
                   make_saliency(four_fold(0), n_images=10, trial_id=trial), key=trial)
    names = {p.name for p in make_report(tmp_path, trial_ids=["t1"], n_boot=50, n_perm=49)}
    assert {"per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "report.md",
            "report.html"} <= names
    assert "No `probe` table" in (tmp_path / "report" / "report.md").read_text()
    assert set(pd.read_csv(tmp_path / "report" / "peaks.csv")["trial_id"]) == {"t1"}


def test_missing_and_broken_tables_are_clear_errors(
        tmp_path: Path, make_saliency: Callable[..., pd.DataFrame]) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no saliency or hog_svm table"):
        make_report(empty)
    write_part(tmp_path / "results", "saliency", make_saliency(four_fold(0), trial_id="b0"),
               key="b0")
    part = next((tmp_path / "results" / "saliency").rglob("part-b0.parquet"))
    part.write_bytes(b"garbage")
    with pytest.raises(SchemaError, match=r"part-b0\.parquet: not a readable Parquet file"):
        make_report(tmp_path)


def test_a_large_study_is_summarised_per_dataset() -> None:
    from analysis.report import Analysis
    from analysis.results import Results
    from analysis.sections import build_document

    n = 20
    periodicity = pd.DataFrame({
        "dataset": "brats", "train_angles": [str(15 * k) for k in range(n)],
        "trial_id": [f"t{k}" for k in range(n)], "init": "random", "metric": "dice",
        "maxima": "0;90;180;270", "minima": "45;135;225;315",
        "dominant_period": [90.0] * 15 + [180.0] * 5,
        "periodic_p": [0.001] * 7 + [0.5] * 13, "test": "circular_shift"})
    a = Analysis(results=Results(root="x"), periodicity=periodicity)
    md = build_document(a, {}, [], {}, Path("x"), Path("x")).to_markdown()
    assert "7 of 20 trial curves have a significant common angular pattern" in md
    assert "dominant periods: 90° (15), 180° (5)" in md
    assert "`t3`" not in md.split("## 1.")[0]  # no per-trial lines in the summary
