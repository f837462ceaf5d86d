"""The house without upward arrows (issue 12): registries that say their params classes, one
place that builds a trial, one source of defaults, and a pretext task added by a test with one
module-level class and one registry line, available to validation, trials and the tables."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from toy_pretext import Darkened

from rotsweep.tables import read_table
from study.config.load import DEFAULTS_FILE, TRIAL_KEYS, load_study, validate_raw
from trainables import checkpoints
from trainables.config import ConfigError, TrialConfig, config_hash, to_dict
from trainables.data import DATASETS
from trainables.models import BACKBONES
from trainables.pretext import PRETEXTS, pretraining
from trainables.registry import Entry, NoParams, params_class
from trainables.spec import build_trial, parse_trial
from trainables.trial import TrialContext, run_trial, trial_params


@pytest.fixture
def darkened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRETEXTS, "darkened", Entry(Darkened, Darkened.Params))  # the one line


@pytest.mark.parametrize("registry", [BACKBONES, DATASETS, PRETEXTS], ids=["models", "data",
                                                                           "pretexts"])
def test_every_entry_says_its_params_class(registry: dict[str, Any]) -> None:
    for name, entry in registry.items():
        cls = params_class(entry)
        assert dataclasses.is_dataclass(cls), name
        if registry is DATASETS and name in ("kvasir_seg", "lung_mask"):
            assert cls is params_class(DATASETS["image_folder_masks"])  # presets share one
    assert params_class(lambda: None) is NoParams


def test_toy_task_is_validated_like_every_task(darkened: None, tmp_path: Path,
                                               tiny: Any) -> None:
    raw = {**tiny(pretext={"name": "darkened", "params": {"factor": 0.5}}), "name": "toy",
           "axes": {"pretext.params.factor": [0.2, 0.5]}}
    raw.pop("study")
    study = validate_raw(raw, source="toy.yaml")
    assert study.n_trials() == 2
    assert [pretraining(cfg.pretext) for _, cfg in study.trials()] == [
        "darkened ×0.2", "darkened ×0.5"]
    with pytest.raises(ConfigError) as err:
        validate_raw({**raw, "axes": {"pretext.params.factor": [0.2, 1.5]}}, source="toy.yaml")
    assert err.value.problems == ["toy.yaml: axes.pretext.params.factor[1]: "
                                  "pretext.params.factor: 1.5 is out of range; expected a value "
                                  "in [0.0, 1.0)"]
    with pytest.raises(ConfigError, match=r"pretext.params: unknown key 'angles'; expected one "
                                          r"of \['factor'\]"):
        parse_trial(tiny(pretext={"name": "darkened", "params": {"angles": [90]}}))


def test_toy_task_runs_a_trial_and_labels_its_rows(darkened: None, tmp_path: Path,
                                                   tiny: Any) -> None:
    cfg = build_trial(tiny(pretext={"name": "darkened", "augment": "none", "params": {}},
                           train={"epochs": 3, "lr": 0.05}, hog={"enabled": False}))
    ctx = TrialContext("toy_00000", str(tmp_path / "results"), str(tmp_path / "cache"),
                       str(tmp_path / "artifacts"))
    reports: list[dict[str, Any]] = []
    summary = run_trial(cfg, ctx, reports.append)
    losses = [r["loss"] for r in reports if "loss" in r and not r.get("done")]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # darkening by 0.3 is easy to see
    pretext = read_table(tmp_path / "results", "pretext")
    assert set(pretext["pretext"]) == {"darkened"}
    assert set(pretext["pretraining"]) == {"darkened ×0.3"}
    assert pretext["train_angles"].isna().all()  # not a rotation task
    saliency = read_table(tmp_path / "results", "saliency")
    assert set(saliency["pretraining"]) == {"darkened ×0.3"} and len(saliency) > 0
    assert summary["done"]
    assert trial_params(cfg)["pretext.params.factor"] == 0.3  # MLflow shows the default


def test_defaults_have_one_source(tmp_path: Path) -> None:
    """Issue 11: conf/defaults.yaml holds study-level keys only, so a study file and
    ``parse_trial`` build the same trial from the dataclasses' defaults."""
    defaults = yaml.safe_load(DEFAULTS_FILE.read_text())
    assert not set(defaults) & {*TRIAL_KEYS, "study"}, sorted(defaults)
    path = tmp_path / "empty.yaml"
    path.write_text("name: empty\n")
    study = load_study(path)
    assert replace(study.base, data=replace(study.base.data, home=None)) == parse_trial(
        {"study": "empty"})
    assert study.base == build_trial(to_dict(study.base))  # round trip through the Tune dict
    # the embedded defaults are the CPU demo's (paper values are the studies' to state)
    cfg = TrialConfig()
    assert (cfg.train.batch_size, cfg.train.lr, cfg.saliency.n_samples) == (32, 0.03, 8)
    from trainables.pretext import pretext_params

    moco = pretext_params(cfg.pretext)
    assert (moco.queue_size, moco.momentum, moco.angles, moco.pairing) == (1024, 0.99, (90.0,),
                                                                           "shared")


def test_checkpoint_key_is_built_from_the_tasks_own_settings(tiny: Any) -> None:
    def key(params: dict[str, Any], name: str = "moco_rotation") -> str:
        return checkpoints.pretrain_key(parse_trial(tiny(pretext={"name": name,
                                                                  "params": params})))

    written = {"angles": [90], "queue_size": 1024, "momentum": 0.99, "pairing": "shared"}
    assert key({}) == key(written) == key({"angles": -270}) == key({"angles": [450.0]})
    assert key({}) != key({"pairing": "independent"}) != key({"angles": [45]})
    assert key({}, "simclr_rotation") != key({})


def test_a_study_builds_each_trial_once(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\naxes:\n  pretext.params.angles: [0, 45, 90]\n  seed: [0, 1]\n")
    study = load_study(path)
    assert study.n_trials() == 6
    points = study.grid()
    assert all(study.trial(p) is study.trial(p) for p in points)  # built once, handed on
    assert config_hash(study.trial(points[0])) == config_hash(
        build_trial(to_dict(study.base), points[0]))  # what the Tune trainable builds


# Loaded as ``sitecustomize`` by every Python process of the slow test below (the driver and
# Ray's workers, which import the registries afresh): once ``trainables.pretext`` is imported,
# the one registry line runs there too. Nothing is imported before that.
SITECUSTOMIZE = '''
import importlib.abc, importlib.util, sys

class _AfterPretexts(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "trainables.pretext":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            sys.path.insert(0, {tests!r})
            import toy_pretext as toy
            from trainables.registry import Entry
            module.PRETEXTS["darkened"] = Entry(toy.Darkened, toy.Darkened.Params)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _AfterPretexts())
'''


@pytest.mark.slow
def test_toy_task_through_rotsweep_run(tmp_path: Path) -> None:
    """``rotsweep validate`` and ``rotsweep run`` (a real local Ray, MLflow and Parquet) on a
    study of the toy task registered by one line: two trials, rows labelled by its params."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE.format(tests=str(Path(__file__).parent)))
    study = tmp_path / "toy.yaml"
    study.write_text(yaml.safe_dump({
        "name": "toy", "axes": {"pretext.params.factor": [0.2, 0.5]},
        "data": {"image_size": 32, "n_train": 32, "n_eval": 2,
                 "params": {"kind": "rectangles", "n_images": 40}},
        "model": {"params": {"width": 8}},
        "pretext": {"name": "darkened", "augment": "none"},
        "train": {"epochs": 1, "batch_size": 16},
        "saliency": {"n_samples": 2, "eval_angles": [0, 90]},
        "hog": {"enabled": False}}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(repo)])}
    cli = [sys.executable, "-m", "study.cli.main"]
    checked = subprocess.run([*cli, "validate", str(study), "--no-data"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr
    ran = subprocess.run([*cli, "run", str(study), "--out", str(tmp_path / "out"),
                          "--num-cpus", "2"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    pretext = read_table(tmp_path / "out" / "results", "pretext")
    assert sorted(set(pretext["pretraining"])) == ["darkened ×0.2", "darkened ×0.5"]
    assert pretext["train_angles"].isna().all()
    saliency = read_table(tmp_path / "out" / "results", "saliency")
    assert sorted(set(saliency["pretraining"])) == ["darkened ×0.2", "darkened ×0.5"]
