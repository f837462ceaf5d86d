"""``rotsweep compact DIR`` and the end-of-launch compaction: unfinished trials stay loose, a
study in use by a launch is refused, the cache's size is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rotsweep.tables import read_table, write_part
from study.cli.main import main
from study.folder.book import TrialBook
from study.folder.claim import Claim
from study.launch.compaction import finish_storage


def study_folder(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "study.json").write_text(json.dumps({"name": "s", "storage": str(root)}))
    book = TrialBook.load(str(root))
    for k in range(5):
        book.record(f"t{k}", status="FINISHED" if k < 4 else "INTERRUPTED")
        write_part(root / "results", "pretext", [{"study": "s", "dataset": "d",
                                                  "trial_id": f"t{k}", "epoch": 0}], key=f"t{k}")
    book.save(ended=True)
    (root / "cache" / "pretrain").mkdir(parents=True)
    (root / "cache" / "pretrain" / "abc.pt").write_bytes(b"x" * 1_500_000)
    return root


def folder_names(root: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in
                  (root / "results" / "pretext" / "study=s" / "dataset=d").glob("*.parquet"))


def test_compact_merges_finished_trials_and_keeps_the_rest_loose(tmp_path: Path,
                                                                 capsys) -> None:
    root = study_folder(tmp_path)
    assert main(["compact", str(root)]) == 0
    out = capsys.readouterr().out
    assert "compaction: 4 parts and 0 compacted files -> 1 files (4 rows)" in out
    assert "checkpoint cache: 1.5 MB" in out
    assert folder_names(root) == ["compact", "part"]  # t4 will run again on --resume
    assert sorted(read_table(root / "results", "pretext")["trial_id"]) == [
        f"t{k}" for k in range(5)]
    assert not (root / "claim.json").exists()  # its claim released
    assert main(["compact", str(root)]) == 0
    assert "nothing to merge" in capsys.readouterr().out


def test_a_study_in_use_is_refused(tmp_path: Path, capsys) -> None:
    root = study_folder(tmp_path)
    claim = Claim(str(root))
    claim.acquire(resume=False)
    try:
        assert main(["compact", str(root)]) == 2
    finally:
        claim.release()
    assert "in use by another launch" in capsys.readouterr().err
    assert folder_names(root) == ["part"] * 5


def test_not_a_study_and_a_damaged_file(tmp_path: Path, capsys) -> None:
    assert main(["compact", str(tmp_path)]) == 2
    assert "not a study folder" in capsys.readouterr().err
    root = study_folder(tmp_path / "s")
    bad = root / "results" / "pretext" / "study=s" / "dataset=d" / "part-t1.parquet"
    bad.write_bytes(b"truncated")
    assert main(["compact", str(root)]) == 1
    assert "part-t1.parquet: not a readable Parquet file" in capsys.readouterr().out


def test_the_end_of_a_launch_compacts_and_never_raises(tmp_path: Path) -> None:
    root = study_folder(tmp_path)
    line = finish_storage(str(root), TrialBook.load(str(root)))
    assert line.startswith("compaction: 4 parts") and "checkpoint cache: 1.5 MB" in line
    assert folder_names(root) == ["compact", "part"]


def test_compacted_table_reads_like_before(tmp_path: Path) -> None:
    root = study_folder(tmp_path)
    before = read_table(root / "results", "pretext").sort_values("trial_id")
    main(["compact", str(root)])
    after = read_table(root / "results", "pretext").sort_values("trial_id")
    pd.testing.assert_frame_equal(after.reset_index(drop=True), before.reset_index(drop=True))
