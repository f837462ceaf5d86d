"""The notebook API: ``rotsweep.open_study`` on a study folder, tidy hashable tables, trial
configs, the report's figures as functions; and every documented example runs as written
(the ```python blocks marked ``# rotsweep: example`` in README.md and docs/notebook.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from result_tables import saliency_frame
from study_folder import write_study

import rotsweep
from analysis.folder import ReportError

REPO = Path(__file__).resolve().parents[2]
MARKER = "# rotsweep: example"
DOCUMENTS = ("README.md", "docs/notebook.md")


def example_blocks(path: Path) -> list[str]:
    """The ```python blocks of ``path`` whose first line is :data:`MARKER`."""
    blocks = re.findall(r"^```python\n(.*?)^```", path.read_text(), flags=re.S | re.M)
    return [b for b in blocks if b.lstrip().startswith(MARKER)]


def run_examples(path: Path, cwd: Path) -> int:
    """Run ``path``'s example blocks in order in one namespace (as cells of one notebook)
    from ``cwd``; returns how many ran."""
    namespace: dict[str, object] = {"__name__": "__example__"}
    blocks = example_blocks(path)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        for k, block in enumerate(blocks):
            try:
                exec(compile(block, f"{path.name} example {k + 1}", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"{path.name}, example {k + 1} fails: {err!r}\n{block}") \
                    from err
    finally:
        os.chdir(old)
    return len(blocks)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder holding ``runs/smoke`` (what the documented examples open)."""
    cwd = tmp_path_factory.mktemp("work")
    write_study(cwd / "runs" / "smoke", saliency_frame, n_images=6)
    return cwd


def test_open_study_gives_tidy_hashable_tables(smoke: Path) -> None:
    s = rotsweep.open_study(smoke / "runs" / "smoke")
    assert s.name == "demo" and set(s.tables) == {"saliency", "hog_svm", "probe", "pretext",
                                                    "trials", "orientation"}
    sal = s.saliency
    assert set(sal["train_angles"]) == {(90.0,)}
    assert sal["eval_angle"].dtype == "float64"
    means = sal.groupby(["train_angles", "eval_angle"])["dice"].mean()  # was: unhashable
    assert len(means) == 24
    assert s.probe["train_angles"].iloc[0] == (90.0,)
    assert set(s.hog_svm["dataset"]) == {"brats", "kvasir_seg"}
    assert s.table("saliency") is sal  # read once


def test_configs_filters_and_errors(smoke: Path) -> None:
    s = rotsweep.open_study(smoke / "runs" / "smoke", datasets=["kvasir_seg"])
    assert set(s.saliency["dataset"]) == {"kvasir_seg"}
    assert set(s.configs) == {"k0"}
    assert s.config("k0")["model"]["backbone"] == "small_cnn"
    with pytest.raises(KeyError, match=r"known: \['k0'\]"):
        s.config("b0")
    with pytest.raises(ReportError, match=r"unknown trial 'zz'.*known: b0, b1, k0"):
        rotsweep.open_study(smoke / "runs" / "smoke", trial_ids=["zz"])
    with pytest.raises(ReportError, match="holds no study"):
        rotsweep.open_study(smoke)
    empty = rotsweep.open_study(smoke / "runs" / "smoke", trial_ids=["b0"])
    assert list(empty.probe.columns)[:3] == ["study", "dataset", "trial_id"]


def test_figures_are_functions_returning_figures(smoke: Path) -> None:
    s = rotsweep.open_study(smoke / "runs" / "smoke")
    for fig in (s.plot_curves("dice", n_boot=20), s.plot_curves("auc", polar=True, n_boot=20),
                s.plot_per_angle(), s.plot_hog(), s.plot_orientation()):
        assert isinstance(fig, Figure) and fig.axes
    assert [ax.get_title() for ax in s.plot_curves("q_bbox", n_boot=20).axes] == [
        "kvasir_seg: Q(S, B) vs. rotation"]
    with pytest.raises(ValueError, match="no values of metric 'iou'"):
        s.plot_curves("iou", n_boot=20)
    curves = s.curves("dice", n_boot=20)
    assert set(curves["metric"]) == {"dice"} and {"ci_low", "ci_high"} <= set(curves.columns)


def test_import_rotsweep_stays_light() -> None:
    code = ("import sys, rotsweep; heavy = [m for m in ('pandas', 'matplotlib', 'torch', "
            "'ray', 'analysis') if m in sys.modules]; print(heavy); "
            "print(callable(rotsweep.open_study))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO, timeout=120).stdout.split("\n")
    assert out[:2] == ["[]", "True"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documented_examples_run_as_written(smoke: Path, document: str) -> None:
    path = REPO / document
    n = run_examples(path, smoke)
    if document == "docs/notebook.md":
        assert n >= 8
    pd.set_option("display.width", 80)  # the examples print; nothing else to check
