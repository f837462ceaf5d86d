"""Checks of a study beyond single values: the grid, the axes of angles, labels, the search.

Every grid point is built once, through :func:`trainables.spec.build_trial`, by
:func:`check_grid`; the other checks read those built trials.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from study.config.keys import SearchParam, StudyKeys
from trainables.config import ConfigError, TrialConfig, config_hash, to_dict
from trainables.config.angles import is_scalar_angle_list, parse_angles
from trainables.spec import build_trial

# grid points checked one by one at validation (beyond it: each axis value on its own)
MAX_CHECKED_POINTS = 100_000


def grid_points(axes: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every combination of the axes as ``{dotted key: value}`` (one ``{}`` without axes)."""
    keys = list(axes)
    for combo in itertools.product(*(axes[k] for k in keys)):
        yield dict(zip(keys, combo, strict=True))


def angle_axes(axes: Any, angle_keys: set[str] | None, notes: list[str],
               problems: list[str] | None = None) -> Any:
    """Axes over angle sets written as single angles, made explicit: a flat list
    ``[0, 45, 90]`` or a range ``{start: 0, stop: 360, step: 15}`` on an angle-set key is one
    angle per trial (``[[0], [45], [90]]``); each such axis adds a line to ``notes``.

    Args:
        axes: the study's ``axes`` as written.
        angle_keys: the trial keys that hold angle sets; ``None`` when the base trial could
            not be built (then no key is made explicit, but every range is still checked).
        notes: collects one line per axis made explicit.
        problems: collects one line per range that is not one (e.g. ``axes.K.step: 0 must be
            > 0``), named at its key, so the axis is not also called "not a list"
            (:func:`axis_problems`).
    """
    if not isinstance(axes, Mapping):
        return axes
    out = dict(axes)
    for key, values in axes.items():
        if is_range(values):
            found: list[str] = []
            angles = parse_angles(values, f"axes.{key}", found)
            if problems is not None:
                problems.extend(found)
            if angles is None or angle_keys is None or key not in angle_keys:
                continue  # reported here, or by axis_problems
            out[key] = [[a] for a in angles]
            form = "a range"
        elif angle_keys is not None and key in angle_keys and is_scalar_angle_list(values):
            out[key] = [[v] for v in values]
            form = f"{values}" if len(values) <= 6 else "a flat list"
        else:
            continue
        notes.append(f"axes.{key}: {form} taken as one angle per trial ({len(out[key])} "
                     f"trials); write a list of lists, e.g. [[0, 90], [0, 45]], for angle sets")
    return out


def is_range(value: Any) -> bool:
    """A mapping written as a range: keys among ``start``, ``stop``, ``step`` only."""
    return isinstance(value, Mapping) and bool(value) and set(value) <= {"start", "stop", "step"}


def axis_problems(axes: Mapping[str, Any], trial_built: bool) -> list[str]:
    """Axes that are not a non-empty list of values, once :func:`angle_axes` made angle ranges
    explicit. A range left as a mapping was either reported by :func:`angle_axes` (a bad range),
    or is on a key that takes no angles, which is said only when the base trial was built (a
    typo elsewhere must not make a valid range axis look wrong)."""
    out = []
    for dotted, values in axes.items():
        if is_range(values):
            if trial_built and parse_angles(values, dotted, []) is not None:
                out.append(f"axes.{dotted}: a range {{start, stop, step}} is one angle per "
                           "trial only on an angle-set key (e.g. pretext.params.angles); "
                           "expected a non-empty list of values")
        elif not isinstance(values, list) or not values:
            out.append(f"axes.{dotted}: expected a non-empty list of values")
    return out


def check_grid(keys: StudyKeys, base: TrialConfig, raw_base: Mapping[str, Any],
               params: Mapping[str, SearchParam], cache: dict[str, TrialConfig]) -> list[str]:
    """Every axis value and searched key must make a valid trial, and so must every grid point
    (e.g. a backbone × image-size combination). Trials are built from ``raw_base`` (the trial
    keys as written: fewer values to check than the full ``base``) and go into ``cache``
    (keyed by :func:`point_key`) when the grid is small enough to keep; a study with one axis
    builds each trial once."""
    problems = []
    single = len(keys.axes) == 1
    for dotted, values in keys.axes.items():
        for i, value in enumerate(values):
            try:
                cfg = build_trial(raw_base, {dotted: value})
            except ConfigError as err:
                problems.extend(f"axes.{dotted}[{i}]: {p}" for p in err.problems)
                continue
            if single and len(cache) < cache_limit():
                cache[point_key({dotted: value})] = cfg
    for dotted, p in params.items():
        sample = p.values[0] if p.kind == "choice" else (
            int(p.low) if p.kind == "randint" else p.low)  # type: ignore[arg-type]
        try:
            build_trial(raw_base, {dotted: sample})
        except ConfigError as err:
            problems.extend(f"search.params.{dotted}: {q}" for q in err.problems)
    if problems:
        return problems
    labels: dict[str, set[str]] = {}
    for point in itertools.islice(grid_points(keys.axes), MAX_CHECKED_POINTS):
        cfg = cache.get(point_key(point)) if single else None
        try:
            cfg = cfg or build_trial(raw_base, point)
        except ConfigError as err:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            problems.extend(f"axes ({where}): {p}" for p in err.problems)
            continue
        if len(cache) < cache_limit():
            cache[point_key(point)] = cfg
        data = cfg.data
        labels.setdefault(data.tag, set()).add(
            config_hash(replace(data, n_train=None, n_eval=1, label=None)))
    if problems:
        return problems
    problems += search_problems(keys, base, params)
    problems += [f"data: the axes give {len(v)} different datasets the one label {tag!r}; "
                 f"give each its own data.label (e.g. data: [{{..., label: {tag}_a}}, ...])"
                 for tag, v in sorted(labels.items()) if len(v) > 1]
    return problems


def cache_limit() -> int:
    """Most built trials a study keeps (beyond it, each is rebuilt when asked: ~0.2 ms)."""
    return 4096


def point_key(point: Mapping[str, Any]) -> str:
    """The cache key of a grid point (plus searched values)."""
    return json.dumps(point, sort_keys=True, default=str)


def search_problems(keys: StudyKeys, base: TrialConfig, params: Mapping[str, SearchParam]
                    ) -> list[str]:
    """What is wrong with ``search`` beyond single values: metrics that are never reported (or
    not per epoch, for the scheduler), a grace period no trial reaches, repeats of identical
    trials, a key both on an axis and searched."""
    from study.metrics import SCHEDULER_METRICS, final_metric_names

    s = keys.search
    problems = []
    finals = final_metric_names(base.saliency.random_init_baseline)
    for metric in s.metrics:
        if metric not in finals:
            problems.append(f"search.metric: {metric!r} is not in a trial's final result; "
                            f"expected one of {finals}")
    if len(s.metrics) > 1 and s.algorithm != "optuna":
        problems.append("search.metric: several metrics (multi-objective) need "
                        "search.algorithm: optuna")
    if s.algorithm == "optuna" and not params:
        problems.append("search.algorithm: optuna needs search.params (what to search)")
    if s.algorithm == "grid" and s.num_samples > 1:
        problems.append(f"search.num_samples: {s.num_samples} identical repeats of each grid "
                        "point give the same numbers; put seeds on an axis instead "
                        "(axes: {seed: [0, 1, 2]}) or search with algorithm: optuna")
    for dotted in sorted(set(params) & set(keys.axes)):
        problems.append(f"search.params.{dotted}: is also an axis; a key is either a grid axis "
                        "or searched")
    if s.scheduler == "asha":
        if s.scheduler_metric not in SCHEDULER_METRICS:
            problems.append(f"search.scheduler_metric: {s.scheduler_metric!r} is not reported "
                            f"every epoch; expected one of {list(SCHEDULER_METRICS)}")
        epochs = max_epochs(keys, base, params)
        if s.grace_period >= epochs:
            problems.append(f"search.grace_period: {s.grace_period} epochs; no trial runs more "
                            f"than {epochs}, so ASHA could never stop one early")
    return problems


def max_epochs(keys: StudyKeys, base: TrialConfig, params: Mapping[str, SearchParam]) -> int:
    """The most pre-training epochs any trial of the study can run (ASHA's ``max_t``)."""
    base_dict = to_dict(base)
    epochs = [base.train.epochs]
    for dotted, values in keys.axes.items():
        for value in values:
            with suppress(ConfigError):  # a bad value is reported by the axis check
                epochs.append(build_trial(base_dict, {dotted: value}).train.epochs)
    p = params.get("train.epochs")
    if p is not None:
        epochs.append(int(max(p.values)) if p.kind == "choice" else int(p.high or 0) - 1)
    return max(epochs)
