"""The Ray Tune function trainable: config dict → restore → :func:`run_trial` → ``tune.report``.

The only module under ``trainables/`` that imports Ray. Per-angle rows go to Parquet inside the
trial; Tune gets one small dict per epoch (Ray's guidance: few results per second).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from ray import tune

from trainables.config import parse_trial
from trainables.config.overrides import apply_overrides
from trainables.storage import exists, join, read_bytes
from trainables.train import TrainState
from trainables.trial import TrialContext, run_trial

STATE_FILE = "train_state.pt"


def mlflow_run_id(runs_root: str, trial_id: str, wait_s: float = 10.0) -> str | None:
    """The MLflow run the driver opened for this trial (it writes ``<runs_root>/<id>.json``)."""
    path = join(runs_root, f"{trial_id}.json")
    deadline = time.monotonic() + wait_s
    while not exists(path):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    return json.loads(read_bytes(path))["run_id"]


def _load_state() -> TrainState | None:
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        blob = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    return TrainState(**blob)


def _save_state(state: TrainState, metrics: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        torch.save(vars(state), Path(folder) / STATE_FILE)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def rotsweep_trainable(config: dict[str, Any]) -> None:
    """Tune function trainable. ``config``: ``base`` (the study's trial dict), ``axes`` (dotted
    overrides chosen by the grid or the searcher) and ``runtime`` (storage locations)."""
    rt = config["runtime"]
    cfg = parse_trial(apply_overrides(config["base"], config.get("axes", {})))
    trial_id = tune.get_context().get_trial_id()
    ctx = TrialContext(
        trial_id=trial_id,
        results_root=rt["results_root"],
        cache_root=rt["cache_root"],
        artifacts_root=rt["artifacts_root"],
        mlflow_run_id=mlflow_run_id(rt["runs_root"], trial_id) if rt.get("runs_root") else None,
    )
    run_trial(cfg, ctx, tune.report, resume=_load_state(), save_state=_save_state)
