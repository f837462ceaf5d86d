"""Every registered pretext task, parametrised: a few training steps on its known-answer data
(finite loss that falls, the same numbers from the same seed), its ``pretraining`` label and
train angles; what the seed-004 tasks refuse at validation, with the message; ``rotsweep list
pretexts``."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from pretext_task_data import FEW_STEP_PARAMS, KNOWN_ANSWER_DATA, build_small_task, train_steps

from study.cli.main import main as rotsweep
from trainables.config import ConfigError
from trainables.pretext import PRETEXTS, pretext_params, pretraining, train_angles
from trainables.spec import parse_trial

SEED004 = ("colorization", "context", "counting", "jigsaw")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_every_pretext_learns_on_its_known_answer_data(name: str) -> None:
    assert name in KNOWN_ANSWER_DATA, (
        f"pretext {name!r} has no known-answer data: add a generator to KNOWN_ANSWER_DATA in "
        "tests/trainables/pretext_task_data.py")
    images = KNOWN_ANSWER_DATA[name](128, 48, torch.Generator().manual_seed(1))
    task = build_small_task(name, FEW_STEP_PARAMS.get(name), size=48)
    losses = train_steps(task, images, steps=40, batch=16, lr=3e-3)
    assert all(math.isfinite(v) for v in losses), losses
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, (name, first, last)
    again = build_small_task(name, FEW_STEP_PARAMS.get(name), size=48)
    assert train_steps(again, images, steps=2, batch=16, lr=3e-3) == losses[:2]  # same seed


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_every_pretext_labels_its_pretraining(name: str) -> None:
    cfg = parse_trial({"pretext": {"name": name, "crop": "none"}}).pretext
    label = pretraining(cfg)
    assert label.startswith(name) and len(label) < 40
    angles = train_angles(cfg)
    assert (angles is None) == (name in SEED004)


def test_seed004_labels() -> None:
    def label(name: str, **params: Any) -> str:
        return pretraining(parse_trial({"pretext": {"name": name, "crop": "none",
                                                    "params": params}}).pretext)

    assert label("jigsaw") == "jigsaw perms=100"
    assert label("jigsaw", permutations=1000) == "jigsaw perms=1000"
    assert label("counting") == "counting M=10"
    assert label("counting", contrast_weight=0.1) == "counting M=10 w=0.1"
    assert label("context") == "context gap=0.5"
    assert label("colorization") == "colorization Q=261"
    assert label("colorization", rebalance=True) == "colorization Q=261 rebalanced"


REFUSALS = [
    # tiles smaller than AlexNet's 31 px, with the image size that fixes it
    ({"pretext": {"name": "jigsaw", "crop": "none"}, "model": {"backbone": "alexnet_bn"}},
     "pretext.name 'jigsaw': its 3×3 tiles are 18 px at data.image_size 64, which "
     "model.backbone 'alexnet_bn' does not take (it needs inputs of at least 31 px); use e.g. "
     "data.image_size: 108, or a backbone that takes small inputs"),
    ({"pretext": {"name": "context", "crop": "none"}, "model": {"backbone": "alexnet_bn"},
      "data": {"image_size": 128}},
     "its patches are 30 px at data.image_size 128, which model.backbone 'alexnet_bn' does "
     "not take (it needs inputs of at least 31 px); use e.g. data.image_size: 129"),
    ({"pretext": {"name": "counting"}, "model": {"backbone": "alexnet_bn"},
      "data": {"image_size": 32}},
     "its 2×2 tiles and downscaled images are 16 px at data.image_size 32"),
    ({"pretext": {"name": "counting"}, "train": {"batch_size": 1}},
     "train.batch_size: 1; counting contrasts each image with another of its batch"),
    # no spatial map to colour
    ({"pretext": {"name": "colorization"}, "model": {"backbone": "alexnet_bn"},
      "data": {"image_size": 32}},
     "which is 1×1 for model.backbone 'alexnet_bn' at data.image_size 32; it needs at least "
     "2×2: use data.image_size: 47 or more"),
    ({"pretext": {"name": "colorization"}, "model": {"backbone": "small_cnn",
                                                     "params": {"blocks": 6}}},
     "which is 1×1 for model.backbone 'small_cnn' at data.image_size 64"),
    # the field of view would mark the outer tiles
    ({"pretext": {"name": "jigsaw", "crop": "disk"}},
     "pretext.crop 'disk': the field of view's black corners would fall on jigsaw's outer "
     "tiles only"),
    ({"pretext": {"name": "context", "crop": "square"}}, "pretext.crop 'square'"),
    # no rotation head
    ({"pretext": {"name": "colorization"}, "saliency": {"target": "rotation_max"}},
     "saliency.target 'rotation_max': needs a rotation head and pretext 'colorization' has "
     "none"),
    # params of another task, and out of range
    ({"pretext": {"name": "jigsaw", "crop": "none", "params": {"angles": [0, 90]}}},
     "pretext.params: unknown key 'angles'"),
    ({"pretext": {"name": "jigsaw", "crop": "none", "params": {"permutations": 5000}}},
     "pretext.params.permutations: 5000 is out of range; expected a value in [2, 1000]"),
]


@pytest.mark.parametrize("raw,message", REFUSALS)
def test_seed004_tasks_refuse_what_they_cannot_use(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_trial(raw)
    assert any(message in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("raw", [
    {"pretext": {"name": "jigsaw", "crop": "none"}, "model": {"backbone": "alexnet_bn"},
     "data": {"image_size": 108}},
    {"pretext": {"name": "context", "crop": "none"}, "model": {"backbone": "alexnet_bn"},
     "data": {"image_size": 129}},
    {"pretext": {"name": "counting"}, "model": {"backbone": "alexnet_bn"},
     "data": {"image_size": 62}},
    {"pretext": {"name": "colorization"}, "model": {"backbone": "alexnet_bn"},
     "data": {"image_size": 64}},
    {"pretext": {"name": "colorization"}, "model": {"backbone": "resnet18"}},
    {"pretext": {"name": "jigsaw", "crop": "none"}, "model": {"backbone": "nin"},
     "data": {"image_size": 32}},
])
def test_seed004_tasks_take_the_sizes_they_suggest(raw: dict[str, Any]) -> None:
    parse_trial(raw)


def test_colorization_checkpoint_leaves_its_running_prior_out() -> None:
    task = build_small_task("colorization", {"rebalance": True}, size=32)
    images = KNOWN_ANSWER_DATA["colorization"](32, 32, torch.Generator().manual_seed(1))
    losses = train_steps(task, images, steps=3, batch=16, lr=3e-3)
    assert all(math.isfinite(v) for v in losses)
    assert not torch.allclose(task.prior, torch.full_like(task.prior, 1 / task.prior.numel()))
    state = task.evaluation_state()
    assert "prior" not in state and "centres" not in state  # rebuilt from the params
    fresh = build_small_task("colorization", {"rebalance": True}, size=32, seed=1)
    fresh.load_evaluation_state(state)
    task.eval(), fresh.eval()
    torch.testing.assert_close(fresh.predict_ab(images[:2]), task.predict_ab(images[:2]))


def test_jigsaw_permutation_set_is_rebuilt_from_its_params() -> None:
    task = build_small_task("jigsaw", {"permutations": 30, "permutation_seed": 2}, size=36)
    assert "perms" not in task.state_dict()
    cfg = parse_trial({"pretext": {"name": "jigsaw", "crop": "none",
                                   "params": {"permutations": 30, "permutation_seed": 2}}})
    assert pretext_params(cfg.pretext).permutations == task.perms.shape[0] == 30


def test_rotsweep_list_pretexts_shows_seed004_and_rotation_tasks(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert rotsweep(["list", "pretexts"]) == 0
    shown = capsys.readouterr().out.split()
    assert set(shown) >= {"rotnet", "counting", "jigsaw", "context", "colorization",
                          "moco_rotation", "simclr_rotation"}
