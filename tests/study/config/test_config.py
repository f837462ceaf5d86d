"""Study files: layering (defaults, file, --smoke, --set), axes, and errors before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from study.config.load import SMOKE, load_study, parse_sets
from trainables.config import ConfigError
from trainables.pretext import train_angles

REPO = Path(__file__).resolve().parents[3]
STUDIES = sorted((REPO / "conf" / "studies").glob("*.yaml"))


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_every_shipped_study_validates_with_and_without_smoke(path: Path) -> None:
    for smoke in (False, True):
        study = load_study(path, smoke=smoke)
        assert study.n_trials() >= 1
        for point in study.grid():
            study.trial(point)  # every grid point is a valid trial


def test_smoke_study_has_three_train_angles() -> None:
    study = load_study(REPO / "conf" / "studies" / "smoke.yaml")
    assert study.n_trials() == 3
    angles = [train_angles(study.trial(p).pretext) for p in study.grid()]
    assert angles == [(0.0,), (45.0,), (90.0,)]
    assert study.base.study == "smoke"
    assert len(study.base.saliency.eval_angles) == 24  # 0..345 every 15 degrees
    assert study.base.data.n_eval >= 16


def test_layers_defaults_then_file_then_smoke_then_set(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "x", "train": {"epochs": 7}, "smoke": {"train.epochs": 2}})
    assert load_study(path).base.train.epochs == 7
    assert load_study(path).base.data.name == "synthetic"  # from conf/defaults.yaml
    assert load_study(path, smoke=True).base.train.epochs == 2  # the study's own smoke wins
    assert load_study(path, ["train.epochs=5"], smoke=True).base.train.epochs == 5
    shrunk = load_study(path, smoke=True).base
    assert shrunk.data.image_size == SMOKE["data.image_size"]
    assert len(shrunk.saliency.eval_angles) == len(SMOKE["saliency.eval_angles"])


def test_set_values_are_yaml() -> None:
    assert parse_sets(["a.b=3", "c=[0, 90]", "d=true", "e=null", "f=text"]) == {
        "a.b": 3, "c": [0, 90], "d": True, "e": None, "f": "text"}
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_sets(["train.epochs"])


def test_axes_of_whole_sections_merge(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "x", "axes": {
        "data": [{"params": {"kind": "rectangles"}, "label": "r"},
                 {"params": {"kind": "discs"}, "label": "d"}],
        "seed": [0, 1]}})
    study = load_study(path)
    assert study.n_trials() == 4
    kinds = sorted({study.trial(p).data.params["kind"] for p in study.grid()})
    assert kinds == ["discs", "rectangles"]
    assert all(study.trial(p).data.image_size == 64 for p in study.grid())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "axes": {"pretext.params.angles": [[0], ["x"]]}},
         "axes.pretext.params.angles[1]: pretext.params.angles[0]: expected angles in degrees"),
        ({"name": "x", "axes": {"pretext.angles": [[0], [90]]}},
         "axes.pretext.angles[0]: pretext: unknown key 'angles'"),
        ({"name": "../../escape_study"},
         "name: '../../escape_study' is not a safe name; allowed: letters A-Z a-z, digits"),
        ({"name": "a/b"}, "name: 'a/b' is not a safe name"),
        ({"name": "x", "axes": {"data": [{"label": "a b"}]}},
         "axes.data[0]: data.label: 'a b' is not a safe name"),
        ({"name": "x", "axes": {"model.backbone": ["small_cnn", "resnet9000"]}},
         "axes.model.backbone[1]: model.backbone: unknown name 'resnet9000'"),
        ({"name": "x", "axes": {"seed": []}}, "axes.seed: expected a non-empty list"),
        ({"name": "x", "resources": {"gpus": 1}},
         "resources: unknown key 'gpus' (did you mean 'gpu'?)"),
        ({"name": "x", "search": {"params": {"train.lr": {"kind": "loguniform", "low": 0}}}},
         "search.params.train.lr"),
        ({"axes": {}}, "name: required key is missing"),
    ],
)
def test_study_errors_name_the_file_and_key(tmp_path: Path, data: dict, message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert all(p.startswith(str(path)) for p in err.value.problems)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such study file"):
        load_study(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain: {epochs: 3\n")
    with pytest.raises(ConfigError) as err:
        load_study(bad)
    assert len(err.value.problems) == 1 and "\n" not in err.value.problems[0]
    assert err.value.problems[0].startswith(f"{bad}:3:1: not valid YAML: "), err.value.problems
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_study(bad)


def test_environment_variables_and_relative_paths(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {"name": "x", "data": {"home": "${RS_TEST_HOME:-fallback}"},
                            "axes": {"data": [{"name": "synthetic", "home": "a", "label": "a"},
                                              {"name": "synthetic", "label": "b"}]}})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RS_TEST_HOME", raising=False)
    study = load_study(path)
    assert study.base.data.home == str(tmp_path / "fallback")
    homes = [study.trial(p).data.home for p in study.grid()]
    assert homes == [str(tmp_path / "a"), str(tmp_path / "fallback")]
    monkeypatch.setenv("RS_TEST_HOME", "/data/elsewhere")
    assert load_study(path).base.data.home == "/data/elsewhere"
    plain = write(tmp_path, {"name": "y"})
    assert load_study(plain).base.data.home == str(tmp_path)  # unset: where rotsweep runs


def test_downstream_sets_and_weights_get_absolute_paths(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from study.config.load import absolute_paths

    raw = {"data": {"home": "d"}, "model": {"weights": "w.pth"},
           "probe": {"downstream": [{"name": "cifar10", "root": "c10"},
                                    {"name": "digits", "home": "/abs"}]},
           "axes": {"data": [{"name": "kvasir_seg", "root": "k"}],
                    "probe.downstream": [[{"name": "svhn", "root": "s"}]]}}
    out = absolute_paths(raw, tmp_path)
    assert out["data"]["home"] == str(tmp_path / "d")
    assert out["model"]["weights"] == str(tmp_path / "w.pth")
    # a downstream set without a home reads from the data's: one --set data.home moves all
    assert [d["home"] for d in out["probe"]["downstream"]] == [str(tmp_path / "d"), "/abs"]
    assert "home" not in out["axes"]["data"][0]  # merged into the base data: keeps its home
    assert out["axes"]["probe.downstream"][0][0]["home"] == str(tmp_path / "d")
    assert absolute_paths({"data": {"home": "s3://bucket/x"}}, tmp_path)["data"]["home"] == (
        "s3://bucket/x")


def test_different_data_under_one_label_is_refused(tmp_path: Path) -> None:
    kinds = {"name": "x", "axes": {"data.params.kind": ["rectangles", "discs"]}}
    with pytest.raises(ConfigError, match="2 different datasets the one label 'synthetic'"):
        load_study(write(tmp_path, kinds))
    labelled = {"name": "x", "axes": {"data": [
        {"params": {"kind": "rectangles"}, "label": "rectangles"},
        {"params": {"kind": "discs"}, "label": "discs"}]}}
    study = load_study(write(tmp_path, labelled))
    assert sorted(study.trial(p).data.tag for p in study.grid()) == ["discs", "rectangles"]
    sizes = {"name": "x", "axes": {"data.n_train": [8, 16], "seed": [0, 1]}}
    assert load_study(write(tmp_path, sizes)).n_trials() == 4  # the same data: one label is fine


def test_an_axis_of_single_angles_is_one_angle_per_trial(tmp_path: Path) -> None:
    flat = load_study(write(tmp_path, {"name": "x", "axes": {"pretext.params.angles": [0, 45]}}))
    assert flat.keys.axes["pretext.params.angles"] == [[0], [45]]
    assert [train_angles(c.pretext) for _, c in flat.trials()] == [(0.0,), (45.0,)]
    assert flat.notes == ("axes.pretext.params.angles: [0, 45] taken as one angle per trial (2 "
                          "trials); write a list of lists, e.g. [[0, 90], [0, 45]], for angle "
                          "sets",)
    ranged = load_study(write(tmp_path, {"name": "x", "axes": {
        "pretext.params.angles": {"start": 0, "stop": 1, "step": 0.1}}}))
    assert ranged.n_trials() == 10 and "a range taken as one angle per trial" in ranged.notes[0]
    assert [train_angles(c.pretext)[0] for _, c in ranged.trials()][-3:] == [0.7, 0.8, 0.9]
    sets = load_study(write(tmp_path, {"name": "x", "pretext": {"name": "rotnet"}, "axes": {
        "pretext.params.angles": [[0, 90], {"start": 0, "stop": 360, "step": 120}]}}))
    assert sets.notes == ()
    assert [train_angles(c.pretext) for _, c in sets.trials()] == [(0.0, 90.0),
                                                                   (0.0, 120.0, 240.0)]
    evals = load_study(write(tmp_path, {"name": "x", "axes": {"saliency.eval_angles": [0, 90]}}))
    assert [c.saliency.eval_angles for _, c in evals.trials()] == [(0.0,), (90.0,)]


def test_a_grid_point_that_no_single_axis_value_breaks_is_still_checked(tmp_path: Path) -> None:
    # alexnet_bn needs 31 px or more: fine at 64 px, refused only in the combination with 16
    data = {"name": "x", "axes": {"model.backbone": ["small_cnn", "alexnet_bn"],
                                  "data.image_size": [64, 16]}}
    with pytest.raises(ConfigError) as err:
        load_study(write(tmp_path, data))
    assert [p.split(": ", 1)[1] for p in err.value.problems] == [
        "axes (data.image_size=16, model.backbone=alexnet_bn): model.backbone 'alexnet_bn' "
        "needs data.image_size >= 31, got 16"]


RANGE = {"start": 0, "stop": 135, "step": 45}


def problems_of(tmp_path: Path, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_study(write(tmp_path, raw))
    return [p.split(": ", 1)[1] for p in caught.value.problems]


def test_a_range_axis_with_one_typo_elsewhere_gives_exactly_one_line(tmp_path: Path) -> None:
    """Issue 21 item 2: a valid range axis is never reported, whatever else is wrong."""
    raw = {"name": "r", "axes": {"pretext.params.angles": RANGE}, "train": {"epoch": 3}}
    problems = problems_of(tmp_path, raw)
    assert len(problems) == 1 and problems[0].startswith(
        "train: unknown key 'epoch' (did you mean 'epochs'?)"), problems
    raw["train"] = {"epochs": 3}
    study = load_study(write(tmp_path, raw))
    assert study.keys.axes["pretext.params.angles"] == [[0.0], [45.0], [90.0]]


@pytest.mark.parametrize("where", ["axes.pretext.params.angles", "axes.seed",
                                   "saliency.eval_angles"])
@pytest.mark.parametrize("typo", [False, True])
def test_a_step_of_zero_is_named_at_its_key_wherever_a_range_appears(
        tmp_path: Path, where: str, typo: bool) -> None:
    zero = {**RANGE, "step": 0}
    raw: dict = {"name": "r", "train": {"epoch": 3} if typo else {"epochs": 1}}
    if where.startswith("axes."):
        raw["axes"] = {where.removeprefix("axes."): zero}
    else:
        raw["saliency"] = {"eval_angles": zero}
    problems = problems_of(tmp_path, raw)
    assert f"{where}.step: 0 must be > 0" in problems
    assert len(problems) == 1 + typo, problems  # the typo, and nothing about lists


def test_a_range_on_a_key_without_angles_says_so(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, {"name": "r", "axes": {"seed": RANGE}})
    assert problems == ["axes.seed: a range {start, stop, step} is one angle per trial only on "
                        "an angle-set key (e.g. pretext.params.angles); expected a non-empty "
                        "list of values"]


def test_validate_prints_exactly_one_error_line_for_a_range_study_with_one_typo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from study.cli.main import main

    path = write(tmp_path, {"name": "r", "axes": {"pretext.params.angles": RANGE},
                            "train": {"epoch": 3}})
    assert main(["validate", str(path), "--no-data"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'epoch'" in err[0], err
