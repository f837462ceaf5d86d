"""One trial, start to end, as a plain function: pre-train → evaluate → write the tables.

No Ray and no MLflow here: the caller passes a ``report`` callback (tests pass ``list.append``,
the Tune trainable passes ``tune.report``) and a place to keep resumable state.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from rotsweep.storage import join, write_bytes
from rotsweep.tables import write_part
from rotsweep.vocabulary import PRETRAINED, UNTRAINED, angle_set, angle_set_text
from trainables import checkpoints
from trainables.config import TrialConfig, flatten, to_dict
from trainables.data import ImageSet, build_dataset, collate, load_split
from trainables.data.base import Subset
from trainables.evaluate import evaluate_saliency
from trainables.models import build_backbone
from trainables.pretext import Pretext, build_pretext, pretraining, train_angles
from trainables.probes.stage import probe_stage
from trainables.spec import resolved_dict
from trainables.train import EpochMetrics, TrainState, pretrain, resolve_device

Report = Callable[[dict[str, Any]], None]
SaveState = Callable[[TrainState, dict[str, Any]], None]


@dataclass(frozen=True)
class TrialContext:
    """Where a trial belongs and writes.

    Attributes:
        trial_id: unique in the study; the key of the trial's table parts.
        results_root: the study's results folder or URI (tables go under it).
        cache_root: content-addressed checkpoints (shared across studies).
        artifacts_root: where the trial's artifacts (PNG, config) go, one folder per trial.
        run_id_lookup: where the trial's MLflow run id comes from (under Tune: the driver's
            trial → run map, which its MLflow thread fills while the trial trains); called
            once, when the ``saliency`` rows are written, so no trial waits for MLflow.
    """

    trial_id: str
    results_root: str
    cache_root: str
    artifacts_root: str
    run_id_lookup: Callable[[], str | None] | None = None

    def run_id(self) -> str | None:
        """The trial's MLflow run id, looked up now; None without tracking."""
        return self.run_id_lookup() if self.run_id_lookup is not None else None


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init) and return the trial's own generator."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def epoch_batches(data: Subset, cfg: TrialConfig) -> Callable[[int], Iterator[torch.Tensor]]:
    """``epoch -> image batches``, shuffled by a generator seeded with (seed, epoch), so a
    resumed run sees the same batches as an uninterrupted one."""

    def batches(epoch: int) -> Iterator[torch.Tensor]:
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        loader = torch.utils.data.DataLoader(
            data, batch_size=cfg.train.batch_size, shuffle=True, generator=g,
            drop_last=len(data) > cfg.train.batch_size, collate_fn=collate)
        for batch in loader:
            yield batch["image"]

    return batches


def trial_meta(cfg: TrialConfig, trial_id: str) -> dict[str, Any]:
    """The columns that say which trial a row belongs to, shared by every table (each keeps
    those it has, :func:`meta_pick`): ``study, dataset, trial_id, backbone, pretext,
    pretraining`` (the task's own label, e.g. ``moco_rotation θ=90°``), ``train_angles`` (the
    rotation tasks' angle set, sorted; ``None`` for other tasks), ``train_angle_set`` (its
    canonical text, ``"0,90"``; ``""`` for other tasks: rotsweep/vocabulary.py) and ``seed``.
    The driver's ``trials`` rows are built from it too (study/launch/runner.py)."""
    angles = train_angles(cfg.pretext)
    return {"study": cfg.study, "dataset": cfg.data.tag, "trial_id": trial_id,
            "backbone": cfg.model.backbone, "pretext": cfg.pretext.name,
            "pretraining": pretraining(cfg.pretext),
            "train_angles": list(angle_set(angles)) if angles is not None else None,
            "train_angle_set": angle_set_text(angles), "seed": cfg.seed}


def build_task(cfg: TrialConfig, device: torch.device) -> Pretext:
    """The pretext task around a freshly built backbone for ``data.image_size`` inputs, on
    ``device``.

    ``model.init`` weights are loaded into the backbone *before* the task is built around it,
    so MoCo's key encoder starts as a copy of the loaded query encoder and its queue starts
    fresh (a MoCo checkpoint's own key encoder and queue are never used).
    """
    encoder = build_backbone(cfg.model, image_size=cfg.data.image_size)
    return build_pretext(encoder, cfg.pretext).to(device)


def pretrain_stage(cfg: TrialConfig, ctx: TrialContext, device: torch.device,
                   g: torch.Generator, report: Report, resume: TrainState | None,
                   save_state: SaveState | None, dataset: ImageSet | None = None
                   ) -> tuple[Pretext, list[dict[str, Any]]]:
    """Pre-train, or reuse the content-addressed checkpoint of an identical pre-training.
    ``dataset``: the trial's dataset when already built (files are decoded once per trial)."""
    task = build_task(cfg, device)
    cached = checkpoints.load_pretrained(ctx.cache_root, cfg)
    if cached is not None:
        task.load_evaluation_state(cached["state_dict"])
        history = cached["history"]
        for row in history:
            report({**row, "reused_checkpoint": True})
        return task, history

    def on_epoch(m: EpochMetrics, snapshot: Callable[[], TrainState]) -> None:
        metrics = {**m.as_dict(), "reused_checkpoint": False}
        if save_state is not None:
            save_state(snapshot(), metrics)
        else:
            report(metrics)

    train = load_split(cfg.data, "train", dataset)
    history = [m.as_dict() for m in
               pretrain(task, epoch_batches(train, cfg), cfg.train, device, g, on_epoch, resume)]
    checkpoints.save_pretrained(ctx.cache_root, cfg, task, history)  # train.checkpoint_cache
    return task, history


def run_trial(cfg: TrialConfig, ctx: TrialContext, report: Report,
              resume: TrainState | None = None, save_state: SaveState | None = None
              ) -> dict[str, Any]:
    """Run one trial: pre-train (or reuse), evaluate saliency per angle, write the tables.

    Args:
        cfg: the validated trial config.
        ctx: ids and storage locations.
        report: receives one dict per epoch (``epoch, loss, pretext_accuracy, lr``) and a final
            summary (``done: True`` and the mean metrics).
        resume: pre-training state to continue from.
        save_state: when given, called every epoch with a state snapshot and the epoch's
            metrics *instead of* ``report`` (the Tune wrapper reports both together).

    Returns:
        The final summary metrics.
    """
    start = time.perf_counter()
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    g = seed_everything(cfg.seed)
    device = resolve_device(cfg.train)
    dataset = build_dataset(cfg.data)  # decoded once for pre-training and evaluation
    task, history = pretrain_stage(cfg, ctx, device, g, report, resume, save_state, dataset)
    meta = trial_meta(cfg, ctx.trial_id)
    write_part(ctx.results_root, "pretext",
               [{**meta_pick(meta, "pretext"), **row} for row in history], key=ctx.trial_id)

    rows, baseline = evaluate_stage(cfg, ctx, task, meta, device, dataset)
    probe_rows = probe_stage(cfg, task.encoder, meta, device, report, ctx.cache_root)
    if probe_rows:
        write_part(ctx.results_root, "probe", probe_rows, key=ctx.trial_id)
    summary = summarize(rows, history)
    if baseline:
        summary.update({f"random_baseline_{k}": v for k, v in summarize(baseline, []).items()})
    summary.update(done=True, wall_s=time.perf_counter() - start)
    report(summary)
    return summary


def evaluate_stage(cfg: TrialConfig, ctx: TrialContext, task: Pretext, meta: dict[str, Any],
                   device: torch.device, dataset: ImageSet | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Saliency per angle of the trained task and, with ``saliency.random_init_baseline``, of a
    random-init copy (seed 002), written as one ``saliency`` part; example figures and the
    config as artifacts.

    The baseline is rebuilt from the trial's seed with ``model.init = random``, so for a
    random-init trial it is exactly the network before pre-training. Its rows carry
    ``network = "untrained"`` (and, as in schema v2, ``init = "random_baseline"``) and the same
    ``trial_id``; the trained task's rows ``network = "pretrained"`` and ``init = model.init``.

    Returns:
        ``(rows, baseline_rows)`` without the table's metadata columns (``[]`` without baseline).
    """
    from trainables.figures import angle_curve_png, grid_title, saliency_grid_png  # matplotlib

    evalset = load_split(cfg.data, "eval", dataset)
    batch = collate([evalset[i] for i in range(len(evalset))])
    images = batch["image"].to(device)
    boxes = batch.get("boxes")
    art = join(ctx.artifacts_root, ctx.trial_id)
    common = {**meta, "method": cfg.saliency.method, "target": cfg.saliency.target,
              "threshold_rule": cfg.saliency.threshold_rule, "mlflow_run_id": ctx.run_id()}
    models = [(cfg.model.init, PRETRAINED, task, "saliency_examples.png")]
    if cfg.saliency.random_init_baseline:
        torch.manual_seed(cfg.seed)
        # the same input normalisation as the trained model (ImageNet statistics stay on for the
        # baseline of a pre-trained init)
        norm = "imagenet" if cfg.model.normalizes_input else "none"
        random_cfg = replace(cfg, model=replace(cfg.model, init="random", weights=None,
                                                input_norm=norm))
        models.append(("random_baseline", UNTRAINED, build_task(random_cfg, device),
                       "saliency_examples_random_baseline.png"))
    table: list[dict[str, Any]] = []
    results: list[list[dict[str, Any]]] = []
    for init, network, model, figure in models:
        rows, maps = evaluate_saliency(model, images, batch["mask"], batch["image_id"], cfg,
                                       boxes)
        table += [{**common, "init": init, "network": network, **r} for r in rows]
        results.append(rows)
        write_bytes(join(art, figure), saliency_grid_png(
            batch["image"], batch["mask"], maps, cfg.saliency.eval_angles,
            title=grid_title(ctx.trial_id, common, init)))
    write_part(ctx.results_root, "saliency", table, key=ctx.trial_id)
    write_bytes(join(art, "saliency_curve.png"),
                angle_curve_png(results[0], results[1] if len(results) > 1 else []))
    write_bytes(join(art, "trial_config.json"),
                json.dumps(to_dict(cfg), indent=2, sort_keys=True).encode())
    return results[0], results[1] if len(results) > 1 else []


def meta_pick(meta: dict[str, Any], table: str) -> dict[str, Any]:
    """The columns of ``meta`` that ``table`` has."""
    from rotsweep.schema import columns

    keep = set(columns(table))
    return {k: v for k, v in meta.items() if k in keep}


def summarize(rows: list[dict[str, Any]], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Trial-level metrics for Tune and MLflow: means over images and angles, last epoch's loss."""
    out: dict[str, Any] = {}
    for name in ("dice", "soft_dice", "auc", "mass_in_mask", "iou"):
        vals = torch.tensor([r[name] for r in rows], dtype=torch.float64)
        out[f"{name}_mean"] = float(torch.nanmean(vals)) if len(vals) else float("nan")
    if history:
        out["final_loss"] = float(history[-1]["loss"])
        acc = history[-1].get("pretext_accuracy")
        if acc is not None:
            out["final_pretext_accuracy"] = float(acc)
    return out


def trial_params(cfg: TrialConfig) -> dict[str, Any]:
    """Flattened config for MLflow params: dotted keys, ``model.params`` and
    ``pretext.params`` with every default filled in, lists as JSON strings (a long evenly
    spaced angle list as ``range(start, stop, step)``, so 3,600 angles stay one short value)."""
    return {k: (_list_text(v) if isinstance(v, list | tuple) else v)
            for k, v in flatten(resolved_dict(cfg)).items()}


def _list_text(values: list[Any] | tuple[Any, ...]) -> str:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(values) > 8 and len(numbers) == len(values):
        step = round(numbers[1] - numbers[0], 6)
        if step > 0 and all(abs(b - a - step) < 1e-6 for a, b in itertools.pairwise(numbers)):
            return f"range({numbers[0]:g}, {round(numbers[-1] + step, 6):g}, {step:g})"
    return json.dumps(list(values))
