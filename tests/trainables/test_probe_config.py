"""``probe.*``: parsing, defaults, round trips and the errors a bad probe section gives."""

from __future__ import annotations

from typing import Any

import pytest

from trainables.config import ConfigError, TrialConfig, flatten, to_dict
from trainables.config.overrides import apply_overrides
from trainables.config.parse import build
from trainables.config.probe import ALL_ITEMS, ProbeConfig, downstream_data
from trainables.probes import PROBES
from trainables.spec import parse_trial

GOOD: dict[str, Any] = {
    "probes": ["linear", "segmentation"],
    "blocks": ["block2", "block4"],
    "downstream": [{"name": "synthetic", "label": "discs", "params": {"kind": "discs"}}],
    "pretrain_data": True,
    "fractions": [0.01, 0.1, 1.0],
    "baselines": ["random"],
}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_trial(raw)
    return err.value.problems


def test_default_is_off_and_every_section_round_trips(tiny: Any) -> None:
    assert parse_trial({}).probe == ProbeConfig()
    assert ProbeConfig().probes == ()
    cfg = parse_trial(tiny(probe=GOOD))
    assert cfg.probe.fractions == (0.01, 0.1, 1.0)
    assert cfg.probe.baselines == ("random",)
    assert build(TrialConfig, to_dict(cfg)) == cfg
    flat = flatten(cfg)
    assert flat["probe.blocks"] == ("block2", "block4")
    assert flat["probe.downstream"][0]["params"] == {"kind": "discs"}


def test_a_downstream_entry_is_a_data_section_with_probe_defaults() -> None:
    label, data = downstream_data(0, {"name": "digits"}, image_size=48)
    assert label == "digits"
    assert (data.name, data.image_size, data.n_train, data.n_eval) == ("digits", 48, None,
                                                                       ALL_ITEMS)
    label, data = downstream_data(1, {"name": "synthetic", "label": "s", "image_size": 32,
                                      "n_eval": 10}, image_size=48)
    assert (label, data.image_size, data.n_eval) == ("s", 32, 10)


def test_fraction_and_block_can_be_swept_on_an_axis(tiny: Any) -> None:
    base = to_dict(parse_trial(tiny(probe=GOOD)))
    for value in ([0.01], [0.1], [1.0]):
        assert parse_trial(apply_overrides(base, {"probe.fractions": value})).probe.fractions \
            == tuple(value)
    cfg = parse_trial(apply_overrides(base, {"probe.blocks": ["block1"]}))
    assert cfg.probe.blocks == ("block1",)
    # a list is replaced as a whole (a mapping would be merged)
    cfg = parse_trial(apply_overrides(base, {"probe.downstream": [{"name": "digits"}]}))
    assert [d["name"] for d in cfg.probe.downstream] == ["digits"]


@pytest.mark.parametrize("probe, expected", [
    ({"probes": ["linear", "knn"], "downstream": [{"name": "digits"}]},
     "probe.probes[1]: unknown probe 'knn'; expected one of " + str(sorted(PROBES))),
    ({"probes": ["linear"], "downstream": [{"name": "cifar100"}]},
     "probe.downstream[0].name: unknown dataset 'cifar100'"),
    ({"probes": ["linear"], "blocks": ["block2", "conv9"], "downstream": [{"name": "digits"}]},
     "probe.blocks[1]: unknown block 'conv9' of this backbone; expected one of ['block1', "
     "'block2', 'block3', 'block4']"),
    ({"fractions": [0.0]}, "probe.fractions[0]: 0.0 is out of range"),
    ({"fractions": [1.5]}, "probe.fractions[0]: 1.5 is out of range"),
    ({"fractions": [0.1, 0.1]}, "probe.fractions: repeated value in [0.1, 0.1]"),
    ({"probes": ["mlp"]}, "probe.downstream: the probes need at least one downstream set"),
    ({"baselines": ["torchvision"]},
     "probe.weights: baseline 'torchvision' needs a weights file path"),
    ({"baselines": ["imagenet"]}, "probe.baselines[0]: expected one of ['random', 'torchvision']"),
    ({"downstream": [{"name": "digits", "imagesize": 32}]},
     "probe.downstream[0]: unknown key 'imagesize' (did you mean 'image_size'?)"),
    ({"downstream": [{"name": "digits", "image_size": 8}]},
     "probe.downstream[0].image_size: 8 is out of range"),
    ({"downstream": [{"root": "x"}]}, "probe.downstream[0].name: required key is missing"),
    ({"downstream": ["digits"]}, "probe.downstream[0]: expected a mapping of data keys"),
    ({"downstream": [{"name": "digits"}, {"name": "digits"}]},
     "probe.downstream: repeated labels ['digits']"),
    ({"epochs": 0}, "probe.epochs: 0 is out of range"),
    ({"pool": 0}, "probe.pool: 0 is out of range"),
    ({"optimiser": "sgd"}, "probe: unknown key 'optimiser' (did you mean 'optimizer'?)"),
])
def test_bad_probe_sections_are_named(tiny: Any, probe: dict[str, Any], expected: str) -> None:
    found = problems_of(tiny(probe=probe))
    assert any(expected in p for p in found), found


def test_blocks_are_checked_against_the_configured_backbone(tiny: Any) -> None:
    nin = {"backbone": "nin", "params": {"blocks": 3}}
    probe = {"probes": ["mlp"], "blocks": ["conv1", "conv3"], "downstream": [{"name": "digits"}]}
    assert parse_trial(tiny(model=nin, probe=probe)).probe.blocks == ("conv1", "conv3")
    found = problems_of(tiny(model=nin, probe={**probe, "blocks": ["conv4"]}))
    assert found == ["probe.blocks[0]: unknown block 'conv4' of this backbone; expected one of "
                     "['conv1', 'conv2', 'conv3']"]
