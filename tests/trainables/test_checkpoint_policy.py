"""train.checkpoint_cache: what each policy keeps on disk, that the key ignores it, and what the
cache costs (trainables/checkpoints.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainables import checkpoints
from trainables.config import ConfigError
from trainables.config.overrides import apply_overrides
from trainables.spec import parse_trial
from trainables.trial import TrialContext, build_task, pretrain_stage

TRAINING_ONLY = ("encoder_k.", "head_k.", "queue")  # MoCo's, left out for evaluation


def config(tiny, policy: str):
    return parse_trial(apply_overrides(tiny(), {"train.checkpoint_cache": policy}))


def test_each_policy_keeps_what_it_says(tiny, tmp_path: Path) -> None:
    sizes = {}
    for policy in ("evaluation", "keep", "none"):
        cfg = config(tiny, policy)
        task = build_task(cfg, torch.device("cpu"))
        root = str(tmp_path / policy)
        path = checkpoints.save_pretrained(root, cfg, task, [{"epoch": 1, "loss": 1.0}])
        sizes[policy] = checkpoints.cache_bytes(root)
        if policy == "none":
            assert path is None and sizes[policy] == 0
            assert not (tmp_path / policy).exists()
            continue
        assert sizes[policy] == Path(path).stat().st_size
        state = torch.load(path, weights_only=True)["state_dict"]
        held_back = [k for k in task.state_dict() if k.startswith(TRAINING_ONLY)]
        assert held_back and (set(held_back) <= set(state)) == (policy == "keep")
        assert set(task.evaluation_state()) <= set(state)
    # the key encoder and its head double the weights; the queue comes on top
    assert sizes["keep"] > 1.8 * sizes["evaluation"]
    keys = {checkpoints.pretrain_key(config(tiny, p)) for p in ("evaluation", "keep", "none")}
    assert len(keys) == 1  # where and how much is kept never changes what was trained


def test_a_kept_checkpoint_serves_an_evaluation_trial(tiny, tmp_path: Path) -> None:
    keep = config(tiny, "keep")
    trained = build_task(keep, torch.device("cpu"))
    checkpoints.save_pretrained(str(tmp_path), keep, trained, [])
    blob = checkpoints.load_pretrained(str(tmp_path), config(tiny, "evaluation"))
    assert blob is not None and blob["contents"] == "keep"
    fresh = build_task(config(tiny, "evaluation"), torch.device("cpu"))
    fresh.load_evaluation_state(blob["state_dict"])
    for name, value in trained.evaluation_state().items():
        assert torch.equal(fresh.state_dict()[name], value)


def test_none_trains_every_time_and_writes_nothing(tiny, tmp_path: Path) -> None:
    cfg = config(tiny, "none")
    cache = tmp_path / "cache"
    checkpoints.save_pretrained(str(cache), config(tiny, "evaluation"),
                                build_task(cfg, torch.device("cpu")), [])  # another study's
    ctx = TrialContext(trial_id="t", results_root=str(tmp_path / "results"),
                       cache_root=str(cache), artifacts_root=str(tmp_path / "art"))
    reports: list[dict] = []
    pretrain_stage(cfg, ctx, torch.device("cpu"), torch.Generator().manual_seed(0),
                   reports.append, None, None)
    assert [r["reused_checkpoint"] for r in reports] == [False]  # trained, not reused
    assert len(list(cache.rglob("*.pt"))) == 1  # and nothing added


def test_an_unknown_policy_is_refused_with_the_choices(tiny) -> None:
    with pytest.raises(ConfigError, match="checkpoint_cache"):
        config(tiny, "sometimes")


def test_the_default_keeps_float32_evaluation_weights_and_smoke_keeps_none(
        tiny, tmp_path: Path) -> None:
    # known answer: an `evaluation` file is the evaluation state's float32 values, 4 bytes each
    # (ResNet-18 MoCo: 46 MB a pre-training; a 6-trial smoke study kept 264 MB before --smoke
    # set `none`)
    cfg = parse_trial(apply_overrides(tiny(model={"backbone": "resnet18", "params": {}}), {}))
    assert cfg.train.checkpoint_cache == "evaluation"
    task = build_task(cfg, torch.device("cpu"))
    checkpoints.save_pretrained(str(tmp_path), cfg, task, [])
    values = sum(v.numel() for v in task.evaluation_state().values() if v.is_floating_point())
    assert 11e6 < values < 12e6
    assert 4 * values < checkpoints.cache_bytes(str(tmp_path)) < 4 * values * 1.01

    from study.config.load import load_study

    smoke = Path(__file__).resolve().parents[2] / "conf" / "studies" / "smoke.yaml"
    assert load_study(smoke).base.train.checkpoint_cache == "evaluation"
    assert load_study(smoke, smoke=True).base.train.checkpoint_cache == "none"
    kept = load_study(smoke, ["train.checkpoint_cache=evaluation"], smoke=True)
    assert kept.base.train.checkpoint_cache == "evaluation"  # --set wins over --smoke
