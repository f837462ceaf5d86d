"""The notebook API: ``rotsweep.open_study`` on a study folder, tidy hashable tables, trial
configs, the report's figures as functions; and every documented example runs as written
(the ```python blocks marked ``# rotsweep: example`` in README.md and docs/notebook.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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
    assert sal["eval_angle"].dtype == "float32"  # as pd.read_parquet gives it
    assert set(sal["train_angle_set"]) == {"90"}
    assert sal["network"].eq("untrained").eq(sal["init"].eq("random_baseline")).all()
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
    # the same two forms of the train angles as the tables (issue 21)
    assert set(curves["train_angles"]) == {(90.0,)} and set(curves["train_angle_set"]) == {"90"}


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


def test_open_study_imports_no_plotting_until_a_figure(smoke: Path) -> None:
    folder = smoke / "runs" / "smoke"
    code = ("import sys, rotsweep; s = rotsweep.open_study(sys.argv[1]); s.saliency; s.configs; "
            "s.table('pretext', columns=['loss']); print('matplotlib' in sys.modules); "
            "s.plot_hog(); print('matplotlib' in sys.modules)")  # the negative control
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                         text=True, check=True, cwd=REPO, timeout=120).stdout.split("\n")
    assert out[:2] == ["False", "True"]


def test_table_reads_only_the_columns_and_rows_asked_for(smoke: Path) -> None:
    s = rotsweep.open_study(smoke / "runs" / "smoke", datasets=["brats"])
    two = s.table("saliency", columns=["dice", "eval_angle"])
    assert list(two.columns) == ["dice", "eval_angle"]  # as asked
    early = s.table("saliency", columns=["trial_id", "eval_angle", "dice"],
                    filters=[("eval_angle", "<", 45), ("trial_id", "==", "b1")])
    assert set(early["eval_angle"]) == {0.0, 15.0, 30.0} and set(early["trial_id"]) == {"b1"}
    either = s.table("saliency", columns=["trial_id"], filters=[
        [("trial_id", "==", "b0")], [("trial_id", "==", "k0")]])  # k0: not in brats
    assert set(either["trial_id"]) == {"b0"} and len(either) == len(two) / 2
    whole = s.saliency  # the same values and dtypes as the whole table's columns
    pd.testing.assert_frame_equal(two, whole[["dice", "eval_angle"]])
    expected = whole[(whole["eval_angle"] < 45) & (whole["trial_id"] == "b1")]
    pd.testing.assert_frame_equal(early.reset_index(drop=True), expected[
        ["trial_id", "eval_angle", "dice"]].reset_index(drop=True))
    assert s.table("saliency", columns=["dice"]).equals(whole[["dice"]])  # from the read one
    assert list(s.table("orientation", columns=["weight"]).columns) == ["weight"]
    with pytest.raises(KeyError, match="no column 'dicee'"):
        s.table("saliency", columns=["dicee"])
    with pytest.raises(KeyError, match="no column 'angle'"):
        s.table("saliency", filters=[("angle", "==", 0)])


def bytes_read() -> int:
    """Bytes this process (all its threads: pyarrow's IO pool too) has read from files."""
    text = Path("/proc/self/io").read_text()
    return int(re.search(r"^rchar: (\d+)", text, flags=re.M).group(1))  # type: ignore[union-attr]


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_two_columns_of_a_million_rows_read_only_their_bytes(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from rotsweep.tables import write_part

    frame = saliency_frame(lambda a: 0.5 + 0.1 * np.cos(np.radians(a)), n_images=41_667,
                           angles=np.arange(0, 360, 15))
    assert len(frame) >= 1_000_000
    write_part(tmp_path / "results", "saliency", frame, key="t0")
    (tmp_path / "study.json").write_text('{"name": "s"}')
    files = sorted((tmp_path / "results" / "saliency").rglob("*.parquet"))
    size = sum(f.stat().st_size for f in files)
    meta = [pq.ParquetFile(f).metadata for f in files]
    wanted = sum(m.row_group(g).column(c).total_compressed_size for m in meta
                 for g in range(m.num_row_groups) for c in range(m.num_columns)
                 if m.row_group(g).column(c).path_in_schema in ("eval_angle", "dice"))
    s = rotsweep.open_study(tmp_path)
    # modules imported and the folder listed: only the reads below are counted
    assert s.table("saliency", columns=["seed"], filters=[("trial_id", "==", "none")]).empty
    before = bytes_read()
    two = s.table("saliency", columns=["eval_angle", "dice"])
    pruned = bytes_read() - before
    assert len(two) == len(frame) and list(two.columns) == ["eval_angle", "dice"]
    before = bytes_read()
    assert len(s.saliency) == len(frame)  # the negative control: every column
    whole = bytes_read() - before
    assert whole >= 0.9 * size
    assert wanted < 0.5 * size and pruned <= wanted + 256 * 1024, (pruned, wanted, size)
