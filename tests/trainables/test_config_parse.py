"""The config parser: types, ranges, unknown keys with suggestions, round trips, flattening."""

from __future__ import annotations

import doctest
from dataclasses import dataclass, field

import pytest

import trainables.config.overrides
import trainables.config.parse
from trainables.config import ConfigError, TrialConfig, config_hash, flatten, to_dict
from trainables.config.parse import build
from trainables.spec import parse_trial


def test_doctests() -> None:
    for module in (trainables.config.parse, trainables.config.overrides):
        assert doctest.testmod(module).failed == 0


def test_defaults_round_trip_and_hash_is_stable() -> None:
    cfg = parse_trial({})
    assert cfg == TrialConfig()
    again = parse_trial(to_dict(cfg))
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(parse_trial({"seed": 1})) != config_hash(cfg)


def test_flatten_gives_dotted_keys() -> None:
    flat = flatten(parse_trial({"train": {"lr": 0.5}, "pretext": {"params": {"angles": [0, 90]}},
                                "saliency": {"eval_angles": [0, 450]}}))
    assert flat["train.lr"] == 0.5
    assert flat["pretext.params.angles"] == [0, 90]  # params stay as written
    assert flat["saliency.eval_angles"] == (0.0, 90.0)
    assert "data.params.kind" not in flat  # empty params stay one key
    flat = flatten(parse_trial({"data": {"params": {"kind": "discs"}}}))
    assert flat["data.params.kind"] == "discs"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"epoch": 3}}, "train: unknown key 'epoch' (did you mean 'epochs'?)"),
        ({"trian": {}}, "top level: unknown key 'trian' (did you mean 'train'?)"),
        ({"train": {"lr": "fast"}}, "train.lr: expected a number, got str 'fast'"),
        ({"train": {"epochs": 2.5}}, "train.epochs: expected an integer, got float 2.5"),
        ({"train": {"epochs": True}}, "train.epochs: expected an integer, got bool True"),
        ({"train": {"amp": "yes"}}, "train.amp: expected true or false, got str 'yes'"),
        ({"train": {"epochs": 0}}, "train.epochs: 0 is out of range; expected a value in [1, inf)"),
        ({"pretext": {"params": {"angles": [0, 360]}}},
         "pretext.params.angles: 0 and 360 are the same angle (0 mod 360)"),
        ({"pretext": {"params": {"angles": []}}}, "pretext.params.angles: needs at least one"),
        ({"pretext": {"params": {"angles": ["a"]}}},
         "pretext.params.angles[0]: expected angles in degrees: a number, a list of numbers, "
         "or a range {start: 0, stop: 360, step: 15} (stop exclusive); got str 'a'"),
        ({"pretext": {"params": {"queue": 5}}},
         "pretext.params: unknown key 'queue' (did you mean 'queue_size'?)"),
        ({"pretext": {"name": "rotnet", "params": {"queue_size": 5}}},
         "pretext.params: unknown key 'queue_size'"),
        ({"pretext": {"params": {"pairing": "both"}}},
         "pretext.params.pairing: expected one of ['shared', 'independent']"),
        ({"pretext": {"angles": [90]}}, "pretext: unknown key 'angles'"),
        ({"data": {"label": "../up"}}, "data.label: '../up' is not a safe name; allowed:"),
        ({"data": {"params": {"kind": "hexagons"}}}, "data.params.kind: expected one of"),
        ({"train": {"optimizer": "lbfgs"}},
         "train.optimizer: expected one of ['sgd', 'adam', 'rmsprop'], got str 'lbfgs'"),
        ({"data": {"name": "imagenet"}}, "data.name: unknown name 'imagenet'; expected one of"),
        ({"model": {"backbone": "resnet1000"}}, "model.backbone: unknown name 'resnet1000'"),
        ({"pretext": {"name": "jigsaw_xl"}}, "pretext.name: unknown name 'jigsaw_xl'"),
        ({"saliency": {"method": "lime"}}, "saliency.method: unknown name 'lime'"),
        ({"model": {"init": "moco_v2"}}, "model.weights: init 'moco_v2' needs a weights file"),
        ({"data": 3}, "data: expected a mapping of keys, got int 3"),
    ],
)
def test_each_problem_is_named_by_its_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_trial(raw)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_trial({"train": {"epoch": 1, "lr": "x"}, "data": {"name": "nope"},
                     "saliency": {"eval_angles": ["720"]}})
    assert len(err.value.problems) == 4


@dataclass(frozen=True)
class Inner:
    size: int | None = field(default=None, metadata={"ge": 1})


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    pair: tuple[int, float] = (1, 2.0)


def test_optional_and_nested_types() -> None:
    assert build(Outer, {"inner": {"size": None}}).inner.size is None
    assert build(Outer, {"pair": [3, 4]}).pair == (3, 4.0)
    with pytest.raises(ConfigError, match=r"outer.inner.size: 0 is out of range"):
        build(Outer, {"inner": {"size": 0}}, "outer")
    with pytest.raises(ConfigError, match="expected a list of 2 items"):
        build(Outer, {"pair": [1]})
