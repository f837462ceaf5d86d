"""The ``orientation`` table's driver job: one per distinct dataset, cached, read back by the
analysis (rectangles → 0°/90°, diamonds → 45°/135°)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import study.launch.orientation as job_module
from analysis.orientation import orientation_summary
from rotsweep.tables import read_table
from study.config.load import validate_raw
from study.launch.orientation import orientation_jobs, run_orientation_job


def layout(root: str) -> dict[str, str]:
    """The two folders a data-only job uses (study/launch/runner.py's layout)."""
    return {"results_root": f"{root}/results", "cache_root": f"{root}/cache"}


def make_study(tiny: Any, axes: dict[str, Any], kind: str = "rectangles") -> Any:
    raw = {**tiny(data={"image_size": 48, "params": {"kind": kind, "n_images": 24}},
                  hog={"n_images": 16}),
           "name": "orient", "axes": axes}
    raw.pop("study")
    return validate_raw(raw, source="test")


def test_one_job_per_distinct_dataset(tiny: Any) -> None:
    assert len(orientation_jobs(make_study(tiny, {"pretext.params.angles": [[0], [90]]}))) == 1
    assert len(orientation_jobs(make_study(tiny, {"data": [
        {"params": {"kind": "rectangles"}, "label": "rectangles"},
        {"params": {"kind": "diamonds"}, "label": "diamonds"}]}))) == 2


@pytest.mark.parametrize(("kind", "peaks"), [("rectangles", {0, 90}), ("diamonds", {45, 135})])
def test_the_job_writes_the_table_and_reuses_its_cache(tmp_path: Path, tiny: Any,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       kind: str, peaks: set[int]) -> None:
    study = make_study(tiny, {}, kind)
    paths = layout(str(tmp_path))
    (job,) = orientation_jobs(study)
    assert run_orientation_job(job, study.name, paths) == 180
    table = read_table(paths["results_root"], "orientation")
    assert len(table) == 180 and table["weight"].sum() == pytest.approx(1.0)
    # the synthetic images have a textured background, so the edges' orientations stand out
    # as windows of a few degrees above a floor
    weight = table.set_index("orientation")["weight"]

    def window(centre: int) -> float:
        return float(sum(weight[(centre + k) % 180] for k in range(-3, 4)))

    off = {45, 135} if peaks == {0, 90} else {0, 90}
    assert min(window(c) for c in peaks) > 3 * max(window(c) for c in off)
    assert (table["n_images"] == 16).all() and (table["image_size"] == 48).all()
    summary = orientation_summary(table).iloc[0]
    assert summary["similarity_90"] > 0.8 > summary["similarity_45"]

    # a second study on the same data reads the cache instead of the images
    def no_images(_cfg: Any) -> None:
        raise AssertionError("the cached histogram should have been reused")

    monkeypatch.setattr(job_module, "orientation_images", no_images)
    again = layout(str(tmp_path / "second"))
    again["cache_root"] = paths["cache_root"]
    assert run_orientation_job(job, "other", again) == 180
    reread = read_table(again["results_root"], "orientation")
    assert reread["weight"].tolist() == table["weight"].tolist()
