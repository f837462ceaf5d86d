"""What a trial's MLflow run holds, built from the trial's config and its records in storage.

One function per part of a run, used both live (when a trial ends) and when the tracker
completes runs a launch could not log (study/tracking/sync.py), so both give the same run:

* :func:`trial_info`: the run's name, its tags and params, from the trial config;
* :func:`epoch_metrics`: ``loss``, ``pretext_accuracy``, ``lr`` at step = epoch, from the
  ``pretext`` table;
* :func:`final_metrics`: the trial's means (``dice_mean``, ...) at step 0 (one value each, which
  MLflow's UI draws as a bar per run, not as a lone dot on the epoch axis), from the final
  result (or the trial's *done* record);
* :func:`angle_metrics`: ``dice_by_angle``, ``soft_dice_by_angle``, ``auc_by_angle``, ... the
  image mean at each evaluation angle at step = the angle in tenths of a degree (45° → 450,
  22.5° → 225), from the ``saliency`` table; the random-init baseline's curves (seed 002) as
  ``random_baseline_<metric>_by_angle``.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from rotsweep.storage import exists, join, read_bytes
from rotsweep.vocabulary import angle_set_text
from study.metrics import EPOCH_METRICS, final_result_keys

if TYPE_CHECKING:  # imported where a metric is made: `import study.tracking.tracker` stays light
    from mlflow.entities import Metric

#: step = round(angle × ANGLE_SCALE): tenths of a degree, the angles' configured precision.
ANGLE_SCALE = 10
ANGLE_STEP_TAG = "rotsweep.angle_step"
ANGLE_STEP_NOTE = "step of *_by_angle metrics = evaluation angle in tenths of a degree (450 = 45°)"
SALIENCY_METRICS = ("dice", "soft_dice", "auc", "iou", "mass_in_mask", "q_bbox")
BASELINE_INIT = "random_baseline"
LOGGED_FINAL = final_result_keys()
#: axes whose value the run name already shows (dataset label, pre-training, seed)
_NAMED = ("data", "data.name", "data.label", "seed", "pretext", "pretext.name",
          "pretext.angles", "pretext.params", "pretext.params.angles")


@dataclass(frozen=True)
class TrialInfo:
    """A trial as its MLflow run shows it.

    Attributes:
        name: the run name: dataset label, pre-training and seed, then any other axis value
            of the trial (``kvasir_seg moco_rotation θ=45° seed 0``).
        tags: dataset, backbone, pretext, pretraining, seed, init, train_angles (UI grouping).
        params: the flattened trial config.
        study: the study's name (the tables' ``study`` partition).
        dataset: the dataset label (the tables' ``dataset`` partition).
    """

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    study: str = ""
    dataset: str = ""


def trial_info(config: Mapping[str, Any], trial_id: str) -> TrialInfo:
    """The run of the trial whose Tune config is ``config`` (``base`` + ``axes``)."""
    from trainables.trial import trial_params
    from trainables.tune import trial_config

    if "base" not in config:  # a foreign trainable's config: no names to give
        return TrialInfo(trial_id, params=trial_params_of(dict(config)))
    cfg = trial_config(dict(config))
    described, angles = pretraining_of(cfg)
    tags = {"dataset": cfg.data.tag, "backbone": cfg.model.backbone, "pretext": cfg.pretext.name,
            "pretraining": described, "seed": str(cfg.seed), "init": cfg.model.init}
    if angles is not None:
        tags["train_angles"] = angle_set_text(angles)  # the train_angle_set column's text
    parts = [cfg.data.tag, described, f"seed {cfg.seed}"]
    parts += [f"{key.rsplit('.', 1)[-1]}={_short(value)}"
              for key, value in sorted((config.get("axes") or {}).items()) if key not in _NAMED]
    return TrialInfo(" ".join(parts)[:250], tags, trial_params(cfg), cfg.study, cfg.data.tag)


def trial_params_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """MLflow params of a trial: its flattened trial config (any other config: flattened)."""
    from ray.tune.utils import flatten_dict

    if "base" not in config:
        return flatten_dict(dict(config), delimiter=".")
    from trainables.trial import trial_params
    from trainables.tune import trial_config

    return trial_params(trial_config(dict(config)))


def pretraining_of(cfg: Any) -> tuple[str, tuple[float, ...] | None]:
    """The pre-training's one-line description and train angles (None: the task does not
    rotate), from the task's params (``trainables.pretext``)."""
    try:
        from trainables.pretext import pretraining, train_angles

        return pretraining(cfg.pretext), train_angles(cfg.pretext)
    except ImportError:  # a trainables without per-task params: the angles are the task's
        pass
    except Exception:  # params the task refuses: validated before any trial, never fatal here
        return cfg.pretext.name, None
    angles = tuple(float(a) for a in getattr(cfg.pretext, "angles", ()))
    theta = (f"θ={_number(angles[0])}°" if len(angles) == 1
             else "θ∈{" + ",".join(_number(a) for a in angles) + "}°")
    return (f"{cfg.pretext.name} {theta}" if angles else cfg.pretext.name), angles or None


def _number(value: float) -> str:
    return f"{value:g}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_short(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))[:60]
    return str(value)


# -- metrics ---------------------------------------------------------------------------------
def _now() -> int:
    return int(time.time() * 1000)


def _number_or_none(value: Any) -> float | None:
    # numbers.Real: Python's and numpy's numbers alike (a float32 column's means are float32)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def final_metrics(result: Mapping[str, Any]) -> list[Metric]:
    """The trial's final numbers (means over images and angles, wall time) at step 0."""
    from mlflow.entities import Metric

    now = _now()
    out = []
    for key in sorted(LOGGED_FINAL & set(result)):
        value = _number_or_none(result[key])
        if value is not None:
            out.append(Metric(key, value, now, 0))
    return out


def epoch_metrics(rows: pd.DataFrame | None) -> list[Metric]:
    """Per-epoch pre-training metrics at step = epoch, from the trial's ``pretext`` rows."""
    from mlflow.entities import Metric

    if rows is None or rows.empty or "epoch" not in rows:
        return []
    now = _now()
    out = []
    for row in rows.sort_values("epoch").itertuples(index=False):
        for key in EPOCH_METRICS:
            value = _number_or_none(getattr(row, key, None))
            if value is not None:
                out.append(Metric(key, value, now, int(row.epoch)))
    return out


def angle_step(angle: float) -> int:
    """The metric step of evaluation angle ``angle`` (degrees): tenths of a degree."""
    return round(float(angle) * ANGLE_SCALE)


def angle_metrics(rows: pd.DataFrame | None) -> list[Metric]:
    """Per-angle curves from the trial's ``saliency`` rows: for each metric, the mean over
    images at each evaluation angle (rows marked ``degenerate`` left out), at step =
    :func:`angle_step`; the random-init baseline's under ``random_baseline_``."""
    from mlflow.entities import Metric

    if rows is None or rows.empty or "eval_angle" not in rows:
        return []
    if "degenerate" in rows:
        rows = rows[rows["degenerate"].fillna(False).astype(bool) == False]  # noqa: E712
    now = _now()
    out = []
    baseline = rows["init"] == BASELINE_INIT if "init" in rows else False
    for prefix, part in (("", rows[~baseline]), (f"{BASELINE_INIT}_", rows[baseline])):
        metrics = [m for m in SALIENCY_METRICS if m in part]
        if part.empty or not metrics:
            continue
        means = part.groupby("eval_angle")[metrics].mean()
        for angle, values in means.iterrows():
            for metric in metrics:
                value = _number_or_none(values[metric])
                if value is not None:
                    out.append(Metric(f"{prefix}{metric}_by_angle", value, now,
                                      angle_step(angle)))
    return out


# -- records in storage ----------------------------------------------------------------------
def done_result(done_root: str, trial_id: str) -> dict[str, Any] | None:
    """The final result in the trial's *done* record, if it finished."""
    path = join(done_root, f"{trial_id}.json")
    if not exists(path):
        return None
    try:
        return dict(json.loads(read_bytes(path)).get("result") or {})
    except ValueError:
        return None


def trial_rows(results_root: str, table: str, trials: Sequence[tuple[str, str, str]],
               columns: Iterable[str] | None = None, scan: bool = True
               ) -> dict[str, pd.DataFrame]:
    """The rows of ``table`` of each ``(study, dataset, trial_id)``: from the trial's own part
    file where it is (a few milliseconds), else, with ``scan``, from one filtered read of the
    whole table (parts merged by compaction). Trials without rows are left out.

    A trial that just ended has its own parts (compaction runs when a launch ends), so the
    live path reads without ``scan``: a trial with no part of a table (stopped early, failed)
    then costs no pass over every other trial's files."""
    import pyarrow.parquet as pq

    from rotsweep.storage import resolve
    from rotsweep.tables import part_path, read_table

    fs, root = resolve(results_root)
    found: dict[str, pd.DataFrame] = {}
    missing = []
    for study, dataset, trial_id in trials:
        try:
            with fs.open_input_file(part_path(root, table, study, dataset, trial_id)) as handle:
                found[trial_id] = pq.read_table(handle).to_pandas()
        except (FileNotFoundError, OSError):
            missing.append(trial_id)
    if missing and scan:
        try:
            rows = read_table(results_root, table, filters=[("trial_id", "in", missing)])
        except (FileNotFoundError, OSError, ValueError, KeyError):
            rows = pd.DataFrame()
        for trial_id, part in rows.groupby("trial_id") if not rows.empty else []:
            found[str(trial_id)] = part
    if columns is not None:
        keep = list(columns)
        found = {t: df[[c for c in keep if c in df]] for t, df in found.items()}
    return found
