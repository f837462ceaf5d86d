"""Every study the project ships runs with ``--smoke`` and then reports cleanly: ``rotsweep run
FILE --smoke`` then ``rotsweep report``, each from the command line as a user runs them; the
report is written and its output holds no error and no warning. The smoke study is then opened
through the notebook API and the documented examples run on it (README.md, docs/notebook.md).

Slow (one to five minutes per study on 2 idle CPU cores, all seven in about 18): ``make
test-slow``. Without the real samples a study with ``fallback:`` data runs on its stand-ins (as
for a user who has none); one without is skipped.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
STUDIES = sorted((REPO / "conf" / "studies").glob("*.yaml"))
EXE = Path(sys.executable).parent / "rotsweep"
SHARED_DATA = Path(os.environ.get("ROTSWEEP_DATA", REPO.parent / "shared" / "data"))
MAX_TRIALS = 6
BAD_OUTPUT = re.compile(r"warning|error|traceback", re.IGNORECASE)


def _reads_real_data(path: Path) -> bool:
    return "ROTSWEEP_DATA" in path.read_text()


def _has_fallbacks(path: Path) -> bool:
    # a study with `fallback:` data runs without the real samples, on its stand-ins, as it
    # does for a user who has none (CI's case)
    return "fallback:" in path.read_text()


def _kind(value: object) -> object:
    # a dataset or pretext task is of its own kind by name, synthetic kind and label; any other
    # value (an angle set, a number) is its own kind
    if isinstance(value, dict) and "name" in value:
        return (value["name"], str((value.get("params") or {}).get("kind")), value.get("label"))
    return yaml.safe_dump(value)


def _fewer(values: list[object]) -> list[object]:
    # named values (datasets, pretext tasks): one of each kind, as each has its own code;
    # other values: the first two
    if all(isinstance(v, dict) and "name" in v for v in values):
        return list({_kind(v): v for v in reversed(values)}.values())[::-1]
    return values[:2]


def shrink(path: Path) -> list[str]:
    """``--set axes=...`` keeping fewer values of each axis when the smoke study has more than
    :data:`MAX_TRIALS` trials: every dataset and pretext task of its own kind (each has its own
    reader or task) and two values of any other axis, so every kind of value a study sweeps
    stays (e.g. seed 003's 4- and 8-angle sets, NIN of 3 and 4 blocks; seed 004's five tasks
    on one pre-training set size)."""
    raw = yaml.safe_load(path.read_text())
    axes = {**(raw.get("axes") or {}), **((raw.get("smoke") or {}).get("axes") or {})}
    if math.prod(len(v) for v in axes.values()) <= MAX_TRIALS:
        return []
    fewer = {k: _fewer(v) for k, v in axes.items()}
    return ["--set", "axes=" + yaml.safe_dump(fewer, default_flow_style=True, width=10**6).strip()]


@pytest.mark.slow
@pytest.mark.timeout(2400)  # a study on a busy 2-core machine can take ten minutes
@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_runs_smoke_then_reports_cleanly(path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # a warning would show, not hide
    if _reads_real_data(path):
        if SHARED_DATA.is_dir():
            env["ROTSWEEP_DATA"] = str(SHARED_DATA)
        elif _has_fallbacks(path):
            env["ROTSWEEP_DATA"] = str(tmp_path / "no_data")  # every dataset falls back
        else:
            pytest.skip(f"{path.name} reads the real samples; none at {SHARED_DATA}")
    out = tmp_path / path.stem
    start = time.perf_counter()
    run = subprocess.run([str(EXE), "run", str(path), "--smoke", "--out", str(out),
                          *shrink(path)], capture_output=True, text=True,
                         timeout=1500, cwd=tmp_path, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    if env.get("ROTSWEEP_DATA") == str(tmp_path / "no_data"):
        assert "running its fallback" in run.stdout  # the stand-ins are said, not silent
    ran = time.perf_counter() - start
    report = subprocess.run([str(EXE), "report", str(out)], capture_output=True, text=True,
                            timeout=900, cwd=tmp_path, env=env)
    printed = report.stdout + report.stderr
    assert report.returncode == 0, printed[-4000:]
    assert not BAD_OUTPUT.search(printed), printed[-4000:]
    html = out / "report" / "report.html"
    assert html.is_file() and html.stat().st_size < 3_000_000
    assert printed.startswith(f"report: {html}\n")
    md = (out / "report" / "report.md").read_text()
    assert "## Summary" in md and "## Methods" in md
    print(f"{path.stem}: run {ran:.0f} s, report {time.perf_counter() - start - ran:.0f} s")
    if path.stem == "smoke":
        _notebook_examples(out, tmp_path)


def _notebook_examples(study: Path, tmp_path: Path) -> None:
    # the documented examples open "runs/smoke": give them this study under that name
    sys.path.insert(0, str(REPO / "tests" / "analysis"))
    try:
        from test_notebook import DOCUMENTS, run_examples
    finally:
        sys.path.remove(str(REPO / "tests" / "analysis"))
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    (work / "runs" / "smoke").symlink_to(study)
    for document in DOCUMENTS:
        run_examples(REPO / document, work)
