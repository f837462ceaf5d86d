"""``bench/faults.py``'s verdicts on hand-made tables: rows lost, doubled or extra by natural
key (run ids, timings and values ignored), a damaged table counted lost whole, and when a
``status`` exit code is wrong."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


@pytest.fixture(scope="module")
def faults() -> Any:
    spec = importlib.util.spec_from_file_location("bench_faults", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_faults"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def saliency(trials: list[str], angles: tuple[float, ...] = (0.0, 45.0)) -> pd.DataFrame:
    rows = [{"study": "s", "dataset": "d", "trial_id": t, "init": init, "network": "n",
             "method": "smoothgrad", "target": "pair_similarity", "eval_angle": a,
             "image_id": img, "dice": 0.5, "mlflow_run_id": f"run-{t}"}
            for t in trials for init in ("pretrained", "random_baseline") for a in angles
            for img in ("i0", "i1")]
    return pd.DataFrame(rows)


def test_identical_tables_count_nothing(faults: Any) -> None:
    ref = saliency(["t0", "t1"])
    assert faults.count_rows(ref, ref.copy(), faults.KEYS["saliency"]) == {
        "lost": 0, "duplicated": 0, "extra": 0}


def test_values_run_ids_and_order_are_not_part_of_the_key(faults: Any) -> None:
    ref = saliency(["t0", "t1"])
    got = ref.sample(frac=1.0, random_state=0).assign(dice=0.9, mlflow_run_id="rebuilt")
    assert faults.count_rows(ref, got, faults.KEYS["saliency"])["lost"] == 0


def test_a_missing_trial_loses_its_rows(faults: Any) -> None:
    ref = saliency(["t0", "t1", "t2"])
    got = saliency(["t0", "t2"])
    # 2 inits × 2 angles × 2 images of t1
    assert faults.count_rows(ref, got, faults.KEYS["saliency"]) == {
        "lost": 8, "duplicated": 0, "extra": 0}


def test_a_trial_written_twice_is_duplicated_not_lost(faults: Any) -> None:
    ref = saliency(["t0", "t1"])
    got = pd.concat([ref, saliency(["t1"]).assign(mlflow_run_id="second")])
    assert faults.count_rows(ref, got, faults.KEYS["saliency"]) == {
        "lost": 0, "duplicated": 8, "extra": 0}


def test_rows_of_an_unplanned_key_are_extra(faults: Any) -> None:
    ref = saliency(["t0"], angles=(0.0,))
    got = saliency(["t0"], angles=(0.0, 90.0))
    assert faults.count_rows(ref, got, faults.KEYS["saliency"]) == {
        "lost": 0, "duplicated": 0, "extra": 4}


def test_a_trial_recorded_with_another_status_is_lost(faults: Any) -> None:
    ref = pd.DataFrame({"study": "s", "dataset": "d", "trial_id": ["t0", "t1"],
                        "status": "FINISHED", "wall_s": [1.0, 2.0]})
    got = ref.assign(status=["FINISHED", "INTERRUPTED"], wall_s=float("nan"))
    assert faults.count_rows(ref, got, faults.KEYS["trials"])["lost"] == 1


def test_compare_counts_an_absent_or_unreadable_table_as_lost(faults: Any) -> None:
    ref = {"saliency": saliency(["t0"]), "pretext": pd.DataFrame(
        {"study": "s", "dataset": "d", "trial_id": "t0", "epoch": [1, 2, 3]})}
    assert faults.compare(ref, {"saliency": ref["saliency"]}) == {
        "lost": 3, "duplicated": 0, "extra": 0}


def test_read_tables_names_a_damaged_table(faults: Any, tmp_path: Path) -> None:
    from rotsweep.tables import write_part

    write_part(tmp_path, "pretext", pd.DataFrame(
        {"study": ["s"], "dataset": ["d"], "trial_id": ["t0"], "epoch": [1]}), key="t0")
    part = next((tmp_path / "pretext").rglob("part-t0.parquet"))
    assert faults.read_tables(tmp_path)[0]["pretext"].epoch.tolist() == [1]
    part.write_bytes(random.Random(0).randbytes(part.stat().st_size))
    tables, errors = faults.read_tables(tmp_path)
    assert "pretext" not in tables and len(errors) == 1 and errors[0].startswith("pretext:")


@pytest.mark.parametrize(("code", "lost", "complete", "wrong"), [
    (0, 0, True, False),    # finished and complete
    (0, 8, False, True),    # says finished, rows missing
    (4, 8, False, False),   # interrupted, rows missing
    (4, 0, True, True),     # complete, yet not finished
    (3, 8, False, True),    # "running" after the driver was stopped
    (None, 8, False, False),
])
def test_status_wrong(faults: Any, code: int | None, lost: int, complete: bool,
                      wrong: bool) -> None:
    assert faults.status_wrong(code, lost, complete) is wrong


def test_plan_covers_every_phase_and_signal(faults: Any) -> None:
    chains = faults.plan(3, random.Random(0))
    moments = [m for chain in chains for m in chain]
    assert len(moments) == 21
    phases = {m.phase for m in moments}
    assert phases == {"before_ray", "trials_start", "mid_trial", "between_batches", "mlflow",
                      "compaction", "report"}
    counts = {s: sum(m.signal == s for m in moments) for s in faults.SIGNALS}
    assert min(counts.values()) >= 3, counts  # 6 signals over 21 moments
    assert all(m.phase in faults.WORKER_PHASES for m in moments if m.signal == "kill_worker")
    assert [(m.phase, m.signal, m.delay_s) for m in moments] == [
        (m.phase, m.signal, m.delay_s) for c in faults.plan(3, random.Random(0)) for m in c]


@pytest.mark.parametrize(("done", "phase", "new"), [
    (0, "mid_trial", False), (5, "mid_trial", False), (6, "mid_trial", True),
    (3, "between_batches", False), (4, "between_batches", True), (6, "mlflow", False),
    (6, "report", False),
])
def test_a_chain_moves_on_when_too_few_trials_are_left(faults: Any, tmp_path: Path, done: int,
                                                       phase: str, new: bool) -> None:
    (tmp_path / "done").mkdir()
    for i in range(done):
        (tmp_path / "done" / f"t{i}.json").write_text("{}")
    assert faults.needs_new_folder(phase, tmp_path) is new
