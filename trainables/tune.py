"""The Ray Tune function trainable: config dict → restore → :func:`run_trial` → ``tune.report``.

The only module under ``trainables/`` that imports Ray (and never MLflow: the driver is the only
process that talks to the tracking server). Per-angle rows go to Parquet inside the trial; Tune
gets one small dict per epoch (Ray's guidance: few results per second).

What this wrapper adds to the plain trial, all through the study's storage (a shared path or a
``pyarrow.fs`` URI; nothing here assumes the driver's disk):

* **Resume.** After every epoch the pre-training state is saved as the trial's one state file
  (``<storage>/state/<trial_id>.pt``, replaced atomically, removed when the trial ends), and a
  retried or resumed trial continues from it. Tune's own checkpoint folders are not used: a
  killed driver's experiment state lags the trials by up to Tune's save period (≥ 10 s) and
  may name no checkpoint, or one already deleted, while the trial's own file is always its
  newest epoch. A trial that already finished in a killed launch (its *done* record exists)
  replays its final result instead of running again.
* **Per-epoch rows.** The ``pretext`` part is rewritten after every epoch, so a trial that ASHA
  stops early, or that is interrupted, keeps the epochs it ran.
* **Placement.** The final result names the node and the device, and a trial that Ray gave no
  GPU never sees one (``train.device: auto`` then picks the CPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import ray
import torch
from ray import tune

from rotsweep.storage import exists, join, read_bytes, resolve, write_bytes
from rotsweep.tables import write_part
from trainables.config import TrialConfig, config_hash
from trainables.models.init import load_tensors
from trainables.spec import build_trial
from trainables.storage import save_torch
from trainables.train import TrainState, resolve_device
from trainables.trial import TrialContext, meta_pick, run_trial, trial_meta

Report = Callable[..., None]
# torch's thread count in this worker before any trial changed it (Ray sets OMP_NUM_THREADS to
# the trial's CPUs); a reused worker returns to it for a trial with train.num_threads = 0
DEFAULT_THREADS = torch.get_num_threads()


def trial_config(config: dict[str, Any]) -> TrialConfig:
    """The trial's config: the study's ``base`` with the grid's and the searcher's ``axes``,
    built by :func:`trainables.spec.build_trial` (the study builds its grid the same way;
    here Optuna's values are only known at run time)."""
    return build_trial(config["base"], config.get("axes", {}))


def mlflow_run_id(runs_root: str, trial_id: str, wait_s: float = 10.0) -> str | None:
    """The MLflow run the driver opened for this trial: its MLflow thread writes
    ``<runs_root>/<id>.json`` once the trial has started, ahead of other queued MLflow work
    (``run_id`` is null while the tracking server is unreachable); waits up to ``wait_s``."""
    path = join(runs_root, f"{trial_id}.json")
    deadline = time.monotonic() + wait_s
    while not exists(path):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    return json.loads(read_bytes(path)).get("run_id")


def hide_gpus_unless_given(gpu_ids: list[Any]) -> None:
    """A trial without a GPU of its own must not train on one that happens to be visible (Ray
    leaves ``CUDA_VISIBLE_DEVICES`` alone when told not to set it)."""
    if not gpu_ids:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def placement(cfg: TrialConfig) -> dict[str, Any]:
    """Where the trial ran: Ray node id and IP, the torch device and the GPUs Ray assigned."""
    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "device": str(resolve_device(cfg.train)),
            "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids())}


# -- state -----------------------------------------------------------------------------------
def load_state(state_file: str, cfg: TrialConfig) -> TrainState | None:
    """The trial's saved pre-training state, or ``None`` for a fresh start (also when the file
    belongs to another config)."""
    if not exists(state_file):
        return None
    # through the checkpoint wrapper: a crafted file is refused naming it and its global
    blob = load_tensors(read_bytes(state_file), state_file, "trial state file")
    if blob.get("config_hash") != config_hash(cfg):
        return None
    return TrainState(**blob["state"])


def pretext_rows(cfg: TrialConfig, trial_id: str, history: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The trial's ``pretext`` table rows (one per epoch so far)."""
    meta = meta_pick(trial_meta(cfg, trial_id), "pretext")
    return [{**meta, **row} for row in history]


# -- the trainable ---------------------------------------------------------------------------
class TrialReporter:
    """The trial's ``report`` and ``save_state`` callbacks for :func:`run_trial`.

    Args:
        cfg: the trial config.
        ctx: ids and storage locations.
        files: ``done`` (the final result, for replay after a killed launch) and ``state``
            (the pre-training state after the last epoch) in the study's storage.
        report: Tune's ``report`` (a test may wrap it).
    """

    def __init__(self, cfg: TrialConfig, ctx: TrialContext, files: dict[str, str],
                 report: Report = tune.report) -> None:
        self.cfg, self.ctx, self.files, self.tune_report = cfg, ctx, files, report

    def report(self, metrics: dict[str, Any]) -> None:
        if metrics.get("done"):
            metrics = {**metrics, **placement(self.cfg)}
            write_bytes(self.files["done"], json.dumps(
                {"config_hash": config_hash(self.cfg), "result": metrics}).encode())
            delete(self.files["state"])
        self.tune_report(metrics)

    def save_state(self, state: TrainState, metrics: dict[str, Any]) -> None:
        write_part(self.ctx.results_root, "pretext",
                   pretext_rows(self.cfg, self.ctx.trial_id, state.history), key=self.ctx.trial_id)
        save_torch({"config_hash": config_hash(self.cfg), "state": vars(state)},
                   self.files["state"])
        self.tune_report(metrics)


def delete(target: str) -> None:
    """Remove a file of the storage if it is there."""
    fs, path = resolve(target)
    with contextlib.suppress(OSError):  # absent, or a store that refuses: it is only space
        fs.delete_file(path)


def replay(done_file: str, cfg: TrialConfig, report: Report = tune.report) -> bool:
    """Report the recorded final result of an identical, finished run of this trial, if any."""
    if not exists(done_file):
        return False
    record = json.loads(read_bytes(done_file))
    if record.get("config_hash") != config_hash(cfg):
        return False
    report({**record["result"], "replayed": True})
    return True


def run_tune_trial(config: dict[str, Any], report: Report = tune.report) -> None:
    """The body of :func:`rotsweep_trainable`, reporting through ``report``."""
    rt = config["runtime"]
    hide_gpus_unless_given(ray.get_gpu_ids())
    cfg = trial_config(config)
    torch.set_num_threads(cfg.train.num_threads or DEFAULT_THREADS)
    trial_id = tune.get_context().get_trial_id()
    files = {"done": join(rt["done_root"], f"{trial_id}.json"),
             "state": join(rt["state_root"], f"{trial_id}.pt")}
    if replay(files["done"], cfg, report):
        return
    ctx = TrialContext(
        trial_id=trial_id,
        results_root=rt["results_root"],
        cache_root=rt["cache_root"],
        artifacts_root=rt["artifacts_root"],
        # read when the saliency rows are written: the driver's MLflow thread opens the run
        # while the trial trains (waiting for it here cost ~0.2 s a trial: bench/RESULTS.md)
        run_id_lookup=(lambda: mlflow_run_id(rt["runs_root"], trial_id))
        if rt.get("runs_root") else None,
    )
    reporter = TrialReporter(cfg, ctx, files, report)
    run_trial(cfg, ctx, reporter.report, resume=load_state(files["state"], cfg),
              save_state=reporter.save_state)


def rotsweep_trainable(config: dict[str, Any]) -> None:
    """Tune function trainable. ``config``: ``base`` (the study's trial dict), ``axes`` (dotted
    overrides chosen by the grid or the searcher) and ``runtime`` (storage locations)."""
    run_tune_trial(config)
