"""Compaction: rows kept exactly, parts replaced after compaction, a crash at every step of the
protocol loses and doubles nothing, pandas and filters read compacted tables, idempotent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rotsweep import compact, tables
from rotsweep.compact import compact_results
from rotsweep.tables import delete_parts, read_table, write_part

COLUMNS = ["dataset", "trial_id", "epoch", "loss"]


def epochs(trial: str, dataset: str = "a", n: int = 3, loss: float = 1.0) -> list[dict]:
    return [{"study": "s", "dataset": dataset, "trial_id": trial, "epoch": e,
             "loss": loss + e} for e in range(n)]


def fill(root: Path, n_trials: int = 6) -> None:
    for k in range(n_trials):
        write_part(root, "pretext", epochs(f"t{k}", "a" if k % 2 else "b"), key=f"t{k}")


def rows(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.assign(dataset=frame["dataset"].astype(str))
    return sorted(map(tuple, frame[COLUMNS].itertuples(index=False)))


def files(root: Path, table: str = "pretext") -> list[str]:
    return sorted(p.name for p in (root / table).rglob("*") if p.is_file())


def test_compaction_keeps_every_row_once_and_is_idempotent(tmp_path: Path) -> None:
    fill(tmp_path)
    before = rows(read_table(tmp_path, "pretext"))
    stats = compact_results(tmp_path)
    assert (stats.parts_merged, stats.files_written, stats.rows) == (6, 2, 18)
    names = files(tmp_path)
    assert sum(n.startswith("compact-") for n in names) == 2  # one per partition
    assert not [n for n in names if n.startswith(("part-", "."))]
    assert rows(read_table(tmp_path, "pretext")) == before
    # plain pandas reads the compacted folder, filters pushed down to partitions and rows
    assert rows(pd.read_parquet(tmp_path / "pretext")) == before
    only_a = pd.read_parquet(tmp_path / "pretext", filters=[("dataset", "==", "a"),
                                                            ("epoch", ">=", 1)])
    assert rows(only_a) == [r for r in before if r[0] == "a" and r[2] >= 1]
    ours = read_table(tmp_path, "pretext", filters=[("trial_id", "in", ["t1", "t2"])],
                      columns=["trial_id", "loss"])
    assert list(ours.columns) == ["trial_id", "loss"] and len(ours) == 6
    again = compact_results(tmp_path)
    assert again.partitions == 0 and files(tmp_path) == names
    assert "nothing to merge" in again.line()


def test_a_part_rewritten_after_compaction_replaces_its_rows(tmp_path: Path) -> None:
    fill(tmp_path)
    compact_results(tmp_path)
    write_part(tmp_path, "pretext", epochs("t1", "a", n=2, loss=9.0), key="t1")  # a retry
    expected = sorted([r for r in rows(read_table(tmp_path, "pretext")) if r[1] != "t1"]
                      + [("a", "t1", 0, 9.0), ("a", "t1", 1, 10.0)])
    assert rows(read_table(tmp_path, "pretext")) == expected
    assert rows(pd.read_parquet(tmp_path / "pretext")) == expected  # pandas too
    compact_results(tmp_path)
    assert rows(pd.read_parquet(tmp_path / "pretext")) == expected
    assert delete_parts(tmp_path, "t3") == 1  # deleting reaches compacted rows as well
    gone = [r for r in expected if r[1] != "t3"]
    assert rows(read_table(tmp_path, "pretext")) == gone
    assert rows(pd.read_parquet(tmp_path / "pretext")) == gone


def test_readers_resolve_a_compacted_copy_that_was_not_removed(tmp_path: Path,
                                                              monkeypatch) -> None:
    fill(tmp_path)
    compact_results(tmp_path)
    monkeypatch.setattr(tables, "excise", lambda *a, **k: 0)  # as if the writer died first
    write_part(tmp_path, "pretext", epochs("t1", "a", n=1, loss=5.0), key="t1")
    got = rows(read_table(tmp_path, "pretext"))
    assert [r for r in got if r[1] == "t1"] == [("a", "t1", 0, 5.0)]
    assert len(got) == 16  # 18 - 3 + 1: the compacted copy of t1 is dead
    some = read_table(tmp_path, "pretext", filters=[("epoch", "==", 0)], columns=["trial_id"])
    assert sorted(some["trial_id"]) == [f"t{k}" for k in range(6)]
    monkeypatch.undo()
    compact_results(tmp_path)  # the dirty file is rewritten without the dead rows
    assert rows(pd.read_parquet(tmp_path / "pretext")) == got


# (step, how many times it passes before the crash, crash in the first compaction or later)
STEPS = [("marked", 0, True), ("writing", 0, True), ("written", 0, True),
         ("published", 1, True), ("retired", 2, True), ("writing", 1, False),
         ("published", 0, False), ("published", 1, False), ("retired", 0, False),
         ("retired", 3, False)]


@pytest.mark.parametrize(("step", "when", "first"), STEPS)
def test_a_crash_at_any_step_loses_and_doubles_nothing(tmp_path: Path, monkeypatch,
                                                       step: str, when: int,
                                                       first: bool) -> None:
    fill(tmp_path)
    if not first:  # compacted files, new parts, and a compacted copy a new part shadows
        compact_results(tmp_path, target_rows=6)
        for k in range(6, 10):
            write_part(tmp_path, "pretext", epochs(f"t{k}", "a"), key=f"t{k}")
        with monkeypatch.context() as m:
            m.setattr(tables, "excise", lambda *a, **k: 0)
            write_part(tmp_path, "pretext", epochs("t1", "a", loss=7.0), key="t1")
    before = rows(read_table(tmp_path, "pretext"))
    seen = {"n": 0}

    def crash(name: str) -> None:
        if name == step:
            seen["n"] += 1
            if seen["n"] > when:
                raise KeyboardInterrupt(f"killed at {name}")

    monkeypatch.setattr(compact, "_step", crash)
    with pytest.raises(KeyboardInterrupt):
        compact_results(tmp_path, target_rows=6)
    assert rows(read_table(tmp_path, "pretext")) == before  # readers see no loss, no double
    assert not [n for n in files(tmp_path) if n.endswith(".tmp")]
    monkeypatch.undo()
    compact_results(tmp_path, target_rows=6)  # the next compaction finishes the work
    assert rows(pd.read_parquet(tmp_path / "pretext")) == before
    assert rows(read_table(tmp_path, "pretext")) == before
    assert compact_results(tmp_path, target_rows=6).partitions == 0


def test_a_killed_compactions_hidden_file_is_removed_later(tmp_path: Path,
                                                           monkeypatch) -> None:
    fill(tmp_path)
    folder = tmp_path / "pretext" / "study=s" / "dataset=a"
    (folder / ".compact-00000001-dead.parquet.tmp").write_bytes(b"half")
    monkeypatch.setattr(compact, "STALE_TMP_S", 0)
    compact_results(tmp_path)
    assert not [n for n in files(tmp_path) if n.endswith(".tmp")]


def test_files_split_at_key_boundaries_and_skipped_keys_stay_loose(tmp_path: Path) -> None:
    fill(tmp_path, n_trials=10)
    before = rows(read_table(tmp_path, "pretext"))
    stats = compact_results(tmp_path, target_rows=7, skip_keys=["t0"])  # 3 rows per trial
    names = files(tmp_path)
    assert "part-t0.parquet" in names and stats.parts_merged == 9
    # dataset a: 5 trials -> 2+2+1; dataset b: 4 merged -> 2+2
    assert sum(n.startswith("compact-") for n in names) == 5
    assert rows(read_table(tmp_path, "pretext")) == before
    assert rows(pd.read_parquet(tmp_path / "pretext")) == before


def test_small_compacted_files_are_merged_by_the_next_launch(tmp_path: Path) -> None:
    fill(tmp_path, n_trials=4)
    compact_results(tmp_path)
    for k in range(4, 6):
        write_part(tmp_path, "pretext", epochs(f"t{k}", "a"), key=f"t{k}")
    compact_results(tmp_path)
    folder_a = [p.name for p in (tmp_path / "pretext" / "study=s" / "dataset=a").iterdir()]
    # one compacted file, its key list (a retired file's list goes with it), the marker
    assert sorted(n.split("-")[0] for n in folder_a) == ["_compact", "_compacted", "compact"]
    (data,) = (n for n in folder_a if n.startswith("compact-"))
    assert f"_{data}.keys.json" in folder_a
    assert len(read_table(tmp_path, "pretext")) == 18


def test_a_damaged_part_is_named_and_its_table_left_alone(tmp_path: Path) -> None:
    fill(tmp_path)
    write_part(tmp_path, "saliency", [{"study": "s", "dataset": "a", "trial_id": "x",
                                       "eval_angle": 0.5, "image_id": "i"}], key="x")
    write_part(tmp_path, "saliency", [{"study": "s", "dataset": "a", "trial_id": "y",
                                       "eval_angle": 1.5, "image_id": "i"}], key="y")
    bad = tmp_path / "pretext" / "study=s" / "dataset=a" / "part-t1.parquet"
    bad.write_bytes(bad.read_bytes()[:40])
    stats = compact_results(tmp_path)
    assert len(stats.problems) == 1 and "part-t1.parquet: not a readable" in stats.problems[0]
    assert stats.parts_merged == 2  # the saliency table was still compacted
    assert any(n.startswith("part-") for n in files(tmp_path))


@pytest.mark.parametrize("step", ["writing", "published", "retired"])
def test_a_trial_rewriting_its_part_during_a_compaction(tmp_path: Path, monkeypatch,
                                                        step: str) -> None:
    fill(tmp_path)
    compact_results(tmp_path, target_rows=6)  # small compacted files, merged by the next one
    for k in range(6, 9):
        write_part(tmp_path, "pretext", epochs(f"t{k}", "a"), key=f"t{k}")
    expected = sorted([r for r in rows(read_table(tmp_path, "pretext")) if r[1] != "t1"]
                      + [("a", "t1", 0, 4.0)])
    done = {"n": 0}

    def retry_t1(name: str) -> None:  # t1's trial is retried at the first ``step``
        if name == step and not done["n"]:
            done["n"] = 1
            write_part(tmp_path, "pretext", epochs("t1", "a", n=1, loss=4.0), key="t1")

    monkeypatch.setattr(compact, "_step", retry_t1)
    stats = compact_results(tmp_path, target_rows=100)
    assert done["n"] == 1 and not stats.problems
    assert rows(read_table(tmp_path, "pretext")) == expected
    monkeypatch.undo()
    compact_results(tmp_path)
    assert rows(pd.read_parquet(tmp_path / "pretext")) == expected
