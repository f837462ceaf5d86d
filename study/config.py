"""The study file: YAML (+ ``--set`` overrides, + ``--smoke``) → a validated :class:`StudyConfig`.

A study file holds study keys (``name``, ``axes``, ``search``, ``resources``, ...) and the base
trial config (``seed``, ``data``, ``model``, ``pretext``, ``train``, ``saliency``, ``hog``),
layered over ``conf/defaults.yaml``. ``axes`` maps a dotted trial key to the values it takes;
the trials are the product of all axes (× ``search.num_samples``). A value that is a mapping is
merged into the section at that key (e.g. one axis over whole ``data`` sections).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from trainables.config import ConfigError, TrialConfig, parse_trial, to_dict
from trainables.config.overrides import apply_overrides, deep_merge
from trainables.config.parse import build

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
DEFAULTS_FILE = CONF_DIR / "defaults.yaml"
# every TrialConfig section (``study`` is the study's name, set from ``name``)
TRIAL_KEYS = tuple(f.name for f in fields(TrialConfig) if f.name != "study")

# What --smoke does to any study: 1 epoch, few images and angles, small images. A study's own
# `smoke:` section is applied after this (e.g. to keep a backbone's minimum input size).
SMOKE: dict[str, Any] = {
    "train.epochs": 1,
    "data.n_train": 32,
    "data.n_eval": 4,
    "data.image_size": 32,
    "saliency.eval_angles": [0, 45, 90, 135, 180, 225, 270, 315],
    "saliency.n_samples": 2,
    "hog.n_images": 16,
    "hog.image_size": 32,
    "hog.pixels_per_cell": 8,
    "hog.cv_folds": 2,
    "hog.c_grid": [1.0],
    "hog.gamma_grid": [0.01],
}


@dataclass(frozen=True)
class SearchParam:
    """A searched hyper-parameter: ``uniform``/``loguniform`` over [low, high], ``randint`` over
    [low, high), or ``choice`` among ``values``."""

    kind: Literal["uniform", "loguniform", "randint", "choice"]
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "choice":
            if not self.values:
                raise ValueError("kind 'choice' needs 'values'")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"kind {self.kind!r} needs low < high")
        if self.kind == "loguniform" and (self.low or 0) <= 0:
            raise ValueError("kind 'loguniform' needs low > 0")
        if self.kind == "randint" and (self.low != int(self.low or 0)
                                       or self.high != int(self.high or 0)):
            raise ValueError("kind 'randint' needs whole numbers for low and high")


Mode = Literal["max", "min"]


@dataclass(frozen=True)
class SearchConfig:
    """How trials are chosen beyond the grid, and which of them stop early.

    Every grid point (one combination of ``axes``) gets ``num_samples`` trials. With
    ``algorithm: optuna`` each grid point has its own Optuna TPE study over ``params`` (a
    dataset's best learning rate says nothing about another's), so the grid is covered exactly
    and the search happens inside each point.

    Attributes:
        algorithm: ``grid`` (axes only) or ``optuna`` (TPE over ``params``, via Tune's
            ``OptunaSearch``).
        metric: the final metric searched on (``dice_mean``, ...; ``rotsweep`` lists them in the
            error for an unknown one), or a list of them for multi-objective search.
        mode: ``max`` or ``min``; a list (one per metric) for multi-objective search.
        num_samples: trials per grid point; more than 1 needs ``optuna`` (repeats of a
            deterministic trial give the same numbers: put seeds on an axis instead).
        params: dotted trial key → :class:`SearchParam`.
        scheduler: ``none`` or ``asha`` (asynchronous successive halving: stops the worse
            trials of each rung early, Li et al. 2018).
        scheduler_metric: the per-epoch metric ASHA compares (``loss`` or
            ``pretext_accuracy``: the final metrics do not exist until a trial ends).
        scheduler_mode: ``min`` or ``max`` for ``scheduler_metric``.
        grace_period: epochs every trial runs before ASHA may stop it.
        reduction_factor: ASHA keeps the best 1/``reduction_factor`` of the trials at each rung.
    """

    algorithm: Literal["grid", "optuna"] = "grid"
    metric: str | tuple[str, ...] = "dice_mean"
    mode: Mode | tuple[Mode, ...] = "max"
    num_samples: int = field(default=1, metadata={"ge": 1})
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scheduler: Literal["none", "asha"] = "none"
    scheduler_metric: str = "loss"
    scheduler_mode: Mode = "min"
    grace_period: int = field(default=1, metadata={"ge": 1})
    reduction_factor: float = field(default=2.0, metadata={"gt": 1.0})

    def __post_init__(self) -> None:
        if isinstance(self.metric, tuple) and not self.metric:
            raise ValueError("search.metric: expected a metric name or a non-empty list")
        if isinstance(self.mode, tuple) and len(self.mode) != len(self.metrics):
            raise ValueError(f"search.mode: {len(self.mode)} modes for "
                             f"{len(self.metrics)} metrics; give one mode per metric")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The searched metric(s) as a tuple."""
        return self.metric if isinstance(self.metric, tuple) else (self.metric,)

    @property
    def modes(self) -> tuple[Mode, ...]:
        """One mode per metric (a single ``mode`` applies to every metric)."""
        return self.mode if isinstance(self.mode, tuple) else (self.mode,) * len(self.metrics)


@dataclass(frozen=True)
class Resources:
    """Per-trial resources requested from Ray.

    Attributes:
        cpu: CPUs per trial (fractions allowed).
        gpu: GPUs per trial; a fraction below 1 packs several trials on one GPU (0.25: four).
            A trial given a GPU trains on CUDA, one given none on the CPU.
    """

    cpu: float = field(default=1.0, metadata={"gt": 0.0})
    gpu: float = field(default=0.0, metadata={"ge": 0.0})

    def __post_init__(self) -> None:
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise ValueError(f"resources.gpu: {self.gpu}; Ray shares a GPU only in fractions "
                             "below 1, so more than one GPU must be a whole number")


@dataclass(frozen=True)
class StudyKeys:
    """The study-level keys of a study file (everything that is not the base trial)."""

    name: str
    description: str = ""
    axes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    search: SearchConfig = field(default_factory=SearchConfig)
    resources: Resources = field(default_factory=Resources)
    max_failures: int = field(default=1, metadata={"ge": 0})
    max_concurrent: int = field(default=0, metadata={"ge": 0})
    smoke: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class StudyConfig:
    """A validated study: its keys, the base trial and the parsed search params."""

    keys: StudyKeys
    base: TrialConfig
    params: Mapping[str, SearchParam]
    source: str = ""

    @property
    def name(self) -> str:
        return self.keys.name

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the axes, as ``{dotted key: value}`` dicts (one ``{}`` if none)."""
        keys = list(self.keys.axes)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(self.keys.axes[k] for k in keys))]

    def n_trials(self) -> int:
        return len(self.grid()) * self.keys.search.num_samples

    def trial(self, overrides: Mapping[str, Any]) -> TrialConfig:
        """The trial config for one grid point (plus searched values)."""
        return parse_trial(apply_overrides(to_dict(self.base), overrides))


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(value: Any) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string of a YAML tree, from the environment
    (an unset variable without a default is left as written, so the error names it)."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m[1], m[2] if m[2] is not None else m[0]),
                        value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def absolute_paths(raw: Any, cwd: Path) -> Any:
    """Relative paths a study names made absolute against the folder ``rotsweep`` was started
    in, once, on the driver: trials run in other folders (Ray Tune moves each into its own) and
    on other nodes.

    Anywhere in the tree (the base trial, axis values, ``probe.downstream`` entries): every
    ``weights`` and data ``home`` path. The base ``data`` section and each downstream set, which
    are not merged into anything, get ``home = cwd`` when unset (the folder a relative ``root``
    is read from); an axis value without a home keeps the base one. URIs are left alone.
    """

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and "://" not in value:
            return str((cwd / Path(value).expanduser()).resolve())
        return value

    def walk(node: Any, needs_home: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(v, needs_home) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v, needs_home=k.endswith("downstream")) for k, v in node.items()}
        for key in ("weights", "home", "data.home", "model.weights", "probe.weights"):
            if key in out:
                value = out[key]
                out[key] = [absolute(v) for v in value] if isinstance(value, list) else (
                    absolute(value))
        if needs_home and "home" not in out:
            out["home"] = absolute(".")
        return out

    out = walk(raw)
    out["data"] = walk(dict(out.get("data") or {}), needs_home=True)
    return out


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, ``${VAR:-default}`` expanded; errors name the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such study file"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([f"{path}: not valid YAML ({err})"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return expand_env(data)


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML syntax, so ``3``, ``0.1``, ``true``, ``[0, 90]``, ``null``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", ...]`` → ``{"a.b": 1}``; a missing ``=`` is an error naming the argument."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"--set {item!r}: expected key=value, e.g. train.epochs=3"])
        out[key.strip()] = parse_value(value)
    return out


def load_study(path: str | Path, sets: Sequence[str] = (), smoke: bool = False,
               defaults: Path | None = DEFAULTS_FILE) -> StudyConfig:
    """Load, merge and validate a study file.

    Layers, later wins: ``conf/defaults.yaml``, the study file, ``--smoke`` shrinking (then the
    study's own ``smoke:`` section), ``--set`` overrides. Relative paths are then made absolute
    against the current folder (:func:`absolute_paths`).

    Raises:
        ConfigError: every problem found, one message each, naming the file and the key.
    """
    path = Path(path)
    raw = deep_merge(load_yaml(defaults) if defaults else {}, load_yaml(path))
    if smoke:
        raw = apply_overrides(raw, SMOKE)
        raw = apply_overrides(raw, raw.get("smoke") or {})
    raw = apply_overrides(raw, parse_sets(sets))
    return validate_raw(absolute_paths(raw, Path.cwd()), source=str(path))


def validate_raw(raw: Mapping[str, Any], source: str = "<study>") -> StudyConfig:
    """Validate a merged study mapping; see :func:`load_study`."""
    problems: list[str] = []
    study_raw = {k: v for k, v in raw.items() if k not in TRIAL_KEYS}
    trial_raw = {k: v for k, v in raw.items() if k in TRIAL_KEYS}
    keys = _collect(problems, source, lambda: build(StudyKeys, study_raw, ""))
    name = keys.name if keys else str(raw.get("name", "study"))
    base = _collect(problems, source, lambda: parse_trial({**trial_raw, "study": name}))
    params: dict[str, SearchParam] = {}
    if keys is not None:
        for dotted, spec in keys.search.params.items():
            p = _collect(problems, source,
                         lambda spec=spec, dotted=dotted: build(SearchParam, spec,
                                                               f"search.params.{dotted}"))
            if p is not None:
                params[dotted] = p
        for dotted, values in keys.axes.items():
            if not isinstance(values, list) or not values:
                problems.append(f"{source}: axes.{dotted}: expected a non-empty list of values")
        if keys.search.algorithm == "grid" and params:
            problems.append(f"{source}: search.params needs search.algorithm: optuna")
    if base is not None and keys is not None and not problems:
        _check_grid(keys, base, params, source, problems)
    if problems:
        raise ConfigError(problems)
    assert keys is not None and base is not None
    return StudyConfig(keys=keys, base=base, params=params, source=source)


def _collect(problems: list[str], source: str, fn: Any) -> Any:
    try:
        return fn()
    except ConfigError as err:
        problems.extend(f"{source}: {p}" for p in err.problems)
        return None


def _check_grid(keys: StudyKeys, base: TrialConfig, params: Mapping[str, SearchParam],
                source: str, problems: list[str]) -> None:
    """Every axis value, and every searched key, must make a valid trial."""
    base_dict = to_dict(base)
    for dotted, values in keys.axes.items():
        for i, value in enumerate(values):
            try:
                parse_trial(apply_overrides(base_dict, {dotted: value}))
            except ConfigError as err:
                problems.extend(f"{source}: axes.{dotted}[{i}]: {p}" for p in err.problems)
    for dotted, p in params.items():
        sample = p.values[0] if p.kind == "choice" else (
            int(p.low) if p.kind == "randint" else p.low)  # type: ignore[arg-type]
        try:
            parse_trial(apply_overrides(base_dict, {dotted: sample}))
        except ConfigError as err:
            problems.extend(f"{source}: search.params.{dotted}: {q}" for q in err.problems)
    problems.extend(f"{source}: {p}" for p in search_problems(keys, base, params))
    if not problems:
        problems.extend(f"{source}: {p}" for p in label_problems(keys, base))


def label_problems(keys: StudyKeys, base: TrialConfig) -> list[str]:
    """Different data on the axes under one ``dataset`` label would pool their curves in every
    table (rectangles and discs both as ``synthetic``): each needs its own ``data.label``."""
    from dataclasses import replace

    from trainables.config import config_hash

    base_dict = to_dict(base)
    points = [dict(zip(keys.axes, combo, strict=True))
              for combo in itertools.islice(itertools.product(*keys.axes.values()), 10_000)]
    seen: dict[str, set[str]] = {}
    for point in points:
        data = parse_trial(apply_overrides(base_dict, point)).data
        key = config_hash(replace(data, n_train=None, n_eval=1, label=None))
        seen.setdefault(data.tag, set()).add(key)
    return [f"data: the axes give {len(v)} different datasets the one label {tag!r}; give "
            f"each its own data.label (e.g. data: [{{..., label: {tag}_a}}, ...])"
            for tag, v in sorted(seen.items()) if len(v) > 1]


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
    from contextlib import suppress

    base_dict = to_dict(base)
    epochs = [base.train.epochs]
    for dotted, values in keys.axes.items():
        for value in values:
            with suppress(ConfigError):  # a bad value is reported by the axis check
                epochs.append(parse_trial(apply_overrides(base_dict, {dotted: value})).train.epochs)
    p = params.get("train.epochs")
    if p is not None:
        epochs.append(int(max(p.values)) if p.kind == "choice" else int(p.high or 0) - 1)
    return max(epochs)
