"""Content-addressed pre-training checkpoints: which fields change the key, atomic round trips,
and a second run with other evaluation settings reusing the first one's pre-training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainables import checkpoints
from trainables.config.overrides import apply_overrides
from trainables.spec import parse_trial
from trainables.trial import TrialContext, run_trial


def key(raw: dict, **overrides) -> str:
    return checkpoints.pretrain_key(parse_trial(apply_overrides(raw, overrides)))


@pytest.mark.parametrize("override", [
    {"study": "another_study"},
    {"saliency.n_samples": 50},
    {"saliency.eval_angles": [0, 1, 2]},
    {"hog.n_images": 64},
    {"data.n_eval": 75},
    {"data.home": "/elsewhere"},
    {"train.num_threads": 2},
    {"train.device": "cpu"},
])
def test_evaluation_settings_keep_the_key(tiny, override) -> None:
    assert key(tiny(), **override) == key(tiny())


@pytest.mark.parametrize("override", [
    {"seed": 1},
    {"pretext.params.angles": [45]},
    {"pretext.params.temperature": 0.5},
    {"pretext.params.pairing": "independent"},
    {"train.lr": 0.02},
    {"train.epochs": 2},
    {"data.n_train": 16},
    {"data.params": {"kind": "discs", "n_images": 48}},
    {"model.params": {"width": 4}},
])
def test_training_settings_change_the_key(tiny, override) -> None:
    assert key(tiny(), **override) != key(tiny())


def test_weights_are_keyed_by_content_not_path(tiny, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "c.pth"
    torch.save({"w": torch.ones(2)}, a)
    b.write_bytes(a.read_bytes())
    torch.save({"w": torch.zeros(2)}, c)
    ka, kb, kc = (key(tiny(), **{"model.init": "torchvision", "model.weights": str(p)})
                  for p in (a, b, c))
    assert ka == kb != kc
    # with random init the weights path plays no part
    assert key(tiny(), **{"model.weights": str(a)}) == key(tiny())


def test_save_and_load_round_trip(tiny, tmp_path: Path) -> None:
    cfg = parse_trial(tiny())
    root = str(tmp_path / "cache")
    assert checkpoints.load_pretrained(root, cfg) is None
    state = {"w": torch.arange(3.0)}
    path = checkpoints.save_pretrained(root, cfg, state, [{"epoch": 1, "loss": 0.5}])
    assert path.endswith(f"{checkpoints.pretrain_key(cfg)}.pt")
    blob = checkpoints.load_pretrained(root, cfg)
    assert blob is not None and torch.equal(blob["state_dict"]["w"], state["w"])
    assert blob["history"] == [{"epoch": 1, "loss": 0.5}]
    assert blob["config"]["seed"] == cfg.seed
    assert not list(Path(path).parent.glob(".*.tmp"))  # written atomically, nothing left over


def test_second_study_with_other_evaluation_reuses_the_pretraining(tiny, tmp_path: Path,
                                                                   monkeypatch) -> None:
    cache = str(tmp_path / "cache")

    def context(study: str) -> TrialContext:
        return TrialContext(trial_id=f"{study}_0", results_root=str(tmp_path / study / "results"),
                            cache_root=cache, artifacts_root=str(tmp_path / study / "art"))

    first_reports: list[dict] = []
    first = parse_trial(tiny(study="first"))
    run_trial(first, context("first"), first_reports.append)
    assert [r["reused_checkpoint"] for r in first_reports if "epoch" in r] == [False]

    def no_training(*args, **kwargs):
        raise AssertionError("pre-training ran although a checkpoint exists")

    monkeypatch.setattr("trainables.trial.pretrain", no_training)
    second_reports: list[dict] = []
    second = parse_trial(tiny(study="second", saliency={"n_samples": 3, "eval_angles": [0, 30]}))
    summary = run_trial(second, context("second"), second_reports.append)
    epochs = [r for r in second_reports if "epoch" in r]
    assert epochs and all(r["reused_checkpoint"] for r in epochs)
    assert epochs[0]["loss"] == next(r for r in first_reports if "epoch" in r)["loss"]
    assert summary["done"]


def test_cached_moco_state_leaves_out_the_key_encoder_and_queue() -> None:
    from trainables.trial import build_task

    cfg = parse_trial({"data": {"image_size": 32}, "model": {"params": {"width": 4}}})
    task = build_task(cfg, torch.device("cpu"))
    state = task.evaluation_state()
    assert not any(k.startswith(("encoder_k.", "head_k.", "queue")) for k in state)
    assert any(k.startswith("encoder.") for k in state) and any(k.startswith("head_q.")
                                                                  for k in state)
    fresh = build_task(cfg, torch.device("cpu"))
    fresh.load_evaluation_state(state)
    for key, value in state.items():
        assert torch.equal(fresh.state_dict()[key], value)
    with pytest.raises(KeyError, match="missing"):
        fresh.load_evaluation_state({k: v for k, v in state.items() if "head_q" not in k})
