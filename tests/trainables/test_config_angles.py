"""Angles as researchers write them (issue 13): floats, ranges, mod 360, errors that name the
key and the accepted forms; and errors that keep their problem list across processes."""

from __future__ import annotations

import doctest
import pickle

import pytest

import trainables.config.angles
import trainables.config.names
from trainables.config import ConfigError
from trainables.config.angles import FORMS, angle_range, format_angles, parse_angles
from trainables.spec import parse_trial


def test_doctests() -> None:
    for module in (trainables.config.angles, trainables.config.names):
        assert doctest.testmod(module).failed == 0


def test_a_tenth_of_a_degree_range_is_exact() -> None:
    angles = parse_angles({"start": 0, "stop": 360, "step": 0.1}, "x")
    assert len(angles) == 3600
    assert angles[:4] == (0.0, 0.1, 0.2, 0.3) and angles[-1] == 359.9
    assert angles[3] == 0.3  # not 0.30000000000000004
    assert all(a == round(k / 10, 6) for k, a in enumerate(angles))


@pytest.mark.parametrize(("written", "expected"), [
    (90, (90.0,)),
    ([0, 90, 180, 270], (0.0, 90.0, 180.0, 270.0)),
    ([-90, 450, 12.34], (270.0, 90.0, 12.34)),
    ([-0.1], (359.9,)),
    ({"start": -45, "stop": 46, "step": 45}, (315.0, 0.0, 45.0)),
    ({"step": 90}, (0.0, 90.0, 180.0, 270.0)),  # start 0, stop 360 by default
    ([5, {"start": 10, "stop": 20, "step": 2.5}], (5.0, 10.0, 12.5, 15.0, 17.5)),
    ([270, 0], (270.0, 0.0)),  # the order is kept (RotNet's class i is angles[i])
])
def test_forms_of_an_angle_set(written: object, expected: tuple[float, ...]) -> None:
    assert parse_angles(written, "x") == expected


@pytest.mark.parametrize(("written", "message"), [
    ([0, 360], "x: 0 and 360 are the same angle (0 mod 360); give each angle once"),
    ([10, -350.0], "x: 10 and -350 are the same angle"),
    ({"start": 0, "stop": 720, "step": 90}, "x: 0 and 360 are the same angle"),
    ([], f"x: needs at least one angle; write {FORMS}"),
    ("90", f"x: expected angles in degrees: {FORMS}; got str '90'"),
    ([0, True], "x[1]: expected angles in degrees"),
    ([float("nan")], "x[0]: expected angles in degrees"),
    ({"start": 0, "stop": 360, "step": 0}, "x.step: 0 must be > 0"),
    ({"start": 0, "stop": 360}, "x: a range needs a step"),
    ({"start": 10, "stop": 10, "step": 1}, "x: empty range; stop 10 must be above start 10"),
    ({"from": 0, "step": 1}, "x: unknown range key 'from'"),
    ({"step": 1e-4}, "x: 3600000 angles; at most 360000 per range"),
])
def test_bad_angles_name_the_key_and_the_forms(written: object, message: str) -> None:
    problems: list[str] = []
    assert parse_angles(written, "x", problems) is None
    assert any(p.startswith(message) for p in problems), problems
    with pytest.raises(ValueError, match=r"^x"):
        parse_angles(written, "x")


def test_angle_keys_of_a_trial_take_every_form() -> None:
    cfg = parse_trial({"pretext": {"name": "rotnet", "params": {"angles": {"step": 45}}},
                       "saliency": {"eval_angles": {"start": -30, "stop": 31, "step": 30}}})
    assert cfg.saliency.eval_angles == (330.0, 0.0, 30.0)
    from trainables.pretext import pretraining, train_angles

    assert train_angles(cfg.pretext) == tuple(float(a) for a in range(0, 360, 45))
    assert pretraining(cfg.pretext) == "rotnet {0,45,90,135,180,225,270,315}"
    with pytest.raises(ConfigError) as err:
        parse_trial({"saliency": {"eval_angles": [0, 360.0]}})
    assert err.value.problems == ["saliency.eval_angles: 0 and 360 are the same angle "
                                  "(0 mod 360); give each angle once"]


def test_labels_of_angle_sets() -> None:
    assert format_angles((0.0, 90.0, 180.0, 270.0)) == "{0,90,180,270}"
    assert format_angles((12.5,)) == "{12.5}"
    assert format_angles(angle_range(0, 360, 0.1)) == "{0,0.1,…,359.9} (3600)"


def test_config_error_pickles_with_its_problem_list() -> None:
    err = ConfigError(["data.root: no such folder /x", "model.weights: missing"])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfigError
    assert back.problems == err.problems  # not a list of characters (issue 14)
    assert str(back) == str(err)
    with pytest.raises(ConfigError) as raised:
        parse_trial({"train": {"epoch": 1}, "data": {"name": "nope"}})
    again = pickle.loads(pickle.dumps(raised.value))
    assert again.problems == raised.value.problems and len(again.problems) == 2
