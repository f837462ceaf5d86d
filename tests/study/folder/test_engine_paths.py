"""Paths of a study: ``study.json`` names its storage relative to itself, a launch continues
only the same study, every folder the engine builds stays under the storage (a hostile study
name cannot escape it), and the data-only jobs are keyed by content, not by where the data or
the working directory is."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from study.cli.main import main
from study.config.load import load_study
from study.folder.meta import (
    StudyError,
    check_component,
    check_continues,
    inside,
    storage_of,
    storage_ref,
    study_meta,
    write_meta,
)
from study.launch.hog import content_key, hog_key
from study.launch.orientation import orientation_key
from study.launch.runner import RunOptions, layout, run_study
from trainables.data import build_dataset
from trainables.spec import parse_trial


def study_at(tmp_path: Path, tiny: Any, name: str = "paths", **keys: Any) -> Any:
    trial = {k: v for k, v in tiny().items() if k != "study"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **trial, **keys}))
    return load_study(path)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("bad", ["../../escape_study", "a/b", "..", ".", "", "x\\y", "é"])
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(StudyError, match="letters, digits"):
        check_component(bad, "study name")
    with pytest.raises(StudyError):
        inside("/s", bad)


def test_layout_stays_under_the_storage(tmp_path: Path) -> None:
    paths = layout(str(tmp_path))
    assert all(Path(p).parent == tmp_path for p in paths.values())
    check_component("smoke_v1.2-b", "study name")


def test_an_escaping_study_name_writes_nothing(tmp_path: Path, tiny: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    study = study_at(tmp_path, tiny)
    keys = dataclasses.replace(study.keys)  # the study file's own check refuses the name:
    object.__setattr__(keys, "name", "../../escape_study")  # the engine must refuse it too
    evil = dataclasses.replace(study, keys=keys)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = files_under(tmp_path)
    with pytest.raises(StudyError, match=r"study name '\.\./\.\./escape_study'"):
        run_study(evil, RunOptions(out=str(work / "out")))
    # through the command line (the study file's own check, or the engine's): exit 2
    raw = yaml.safe_load((tmp_path / "paths.yaml").read_text())
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump({**raw, "name": "../../escape_study"}))
    before.add("evil.yaml")
    assert main(["run", str(tmp_path / "evil.yaml")]) == 2
    assert files_under(tmp_path) == before
    assert not (tmp_path.parent / "escape_study").exists()


def test_study_json_names_its_storage_relative_to_itself(tmp_path: Path, tiny: Any) -> None:
    study = study_at(tmp_path, tiny)
    assert storage_ref(str(tmp_path / "s"), str(tmp_path / "s")) == "."
    assert storage_ref(str(tmp_path / "out"), str(tmp_path / "shared")) == "../shared"
    assert storage_ref(str(tmp_path / "out"), "s3://bucket/x") == "s3://bucket/x"
    write_meta(study, str(tmp_path / "out"), str(tmp_path / "shared"))
    out_meta = json.loads((tmp_path / "out" / "study.json").read_text())
    assert out_meta["storage"] == "../shared" and out_meta["format"] == 2
    assert json.loads((tmp_path / "shared" / "study.json").read_text())["storage"] == "."
    assert str(tmp_path) not in json.dumps({k: v for k, v in out_meta.items()
                                            if k not in ("base", "source", "axes")})
    assert storage_of(str(tmp_path / "out"), out_meta) == str(tmp_path / "shared")
    (tmp_path / "out" / "progress.json").write_text("{}")  # a folder that is a storage itself
    assert storage_of(str(tmp_path / "out"), out_meta) == str(tmp_path / "out")


def test_resume_continues_the_same_study_only(tmp_path: Path, tiny: Any) -> None:
    study = study_at(tmp_path, tiny, axes={"seed": [0, 1]})
    storage = tmp_path / "st"
    check_continues(study, str(storage), resume=False)  # nothing there yet
    write_meta(study, str(storage), str(storage))
    with pytest.raises(StudyError, match="already holds study 'paths'; pass --resume"):
        check_continues(study, str(storage), resume=False)
    check_continues(study, str(storage), resume=True)
    # the same study loaded from another working directory: paths differ, the study does not
    moved = dataclasses.replace(study, keys=dataclasses.replace(
        study.keys, axes={"seed": [0, 1]}))
    check_continues(moved, str(storage), resume=True)
    other = study_at(tmp_path, tiny, "other", axes={"seed": [0, 1, 2]})
    with pytest.raises(StudyError, match=r"holds study 'paths' \(2 trials\) but .* is 'other' "
                                         r"\(3 trials\) and its name, axes differ"):
        check_continues(other, str(storage), resume=True)
    more = study_at(tmp_path, tiny, "paths", axes={"seed": [0, 1, 2]})
    with pytest.raises(StudyError, match="its axes differ"):
        check_continues(more, str(storage), resume=True)
    legacy = {k: v for k, v in study_meta(study, ".").items() if k != "format"}
    (storage / "study.json").write_text(json.dumps(legacy))
    with pytest.raises(StudyError, match="written by an older rotsweep"):
        check_continues(study, str(storage), resume=True)


def test_data_job_keys_ignore_where_the_data_is(tmp_path: Path, tiny: Any) -> None:
    here = parse_trial(tiny(data={**tiny()["data"], "home": str(tmp_path / "a")}))
    there = parse_trial(tiny(data={**tiny()["data"], "home": str(tmp_path / "b")}))
    assert hog_key(here) == hog_key(there) and orientation_key(here) == orientation_key(there)
    other = parse_trial(tiny(data={**tiny()["data"], "params": {"kind": "discs",
                                                                "n_images": 48}}))
    assert orientation_key(other) != orientation_key(here)
    # the content key follows the data read: the same images give the same key
    dataset = build_dataset(here.data)
    assert content_key("k", dataset) == content_key("k", build_dataset(there.data))
    assert content_key("k", dataset) != content_key("k", build_dataset(other.data))
    assert os.path.isabs(str(here.data.home))


def test_data_jobs_run_again_from_elsewhere_replace_their_rows(tmp_path: Path,
                                                               tiny: Any) -> None:
    """A resumed launch started from another folder (another ``data.home``) writes the HoG-SVM
    and orientation rows over the same parts: 3 and 180 rows, not twice that."""
    from rotsweep.tables import read_table
    from study.launch.hog import run_hog_job
    from study.launch.orientation import run_orientation_job

    paths = {"results_root": str(tmp_path / "results"), "cache_root": str(tmp_path / "cache")}
    for home in ("a", "b"):
        job = tiny(data={**tiny()["data"], "home": str(tmp_path / home)})
        assert run_hog_job(job, "s", paths) == 3
        assert run_orientation_job(job, "s", paths) == 180
    assert len(read_table(paths["results_root"], "hog_svm")) == 3
    assert len(read_table(paths["results_root"], "orientation")) == 180
    assert len(list((tmp_path / "cache" / "orientation").iterdir())) == 1  # one cached copy
