"""The study file: YAML (+ ``--set`` overrides, + ``--smoke``) → a validated :class:`StudyConfig`.

A study file holds study keys (``name``, ``axes``, ``search``, ``resources``, ...) and the base
trial config (``seed``, ``data``, ``model``, ``pretext``, ``train``, ``saliency``, ``hog``),
layered over ``conf/defaults.yaml``. ``axes`` maps a dotted trial key to the values it takes;
the trials are the product of all axes (× ``search.num_samples``). A value that is a mapping is
merged into the section at that key (e.g. one axis over whole ``data`` sections).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from trainables.config import ConfigError, TrialConfig, parse_trial, to_dict
from trainables.config.overrides import apply_overrides, deep_merge
from trainables.config.parse import build

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
DEFAULTS_FILE = CONF_DIR / "defaults.yaml"
TRIAL_KEYS = ("seed", "data", "model", "pretext", "train", "saliency", "hog")

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


@dataclass(frozen=True)
class SearchConfig:
    """How trials are chosen beyond the grid.

    Attributes:
        algorithm: ``grid`` (axes only) or ``optuna`` (TPE over ``params``, via OptunaSearch).
        metric: the reported metric searched and early-stopped on.
        mode: ``max`` or ``min``.
        num_samples: repeats of the grid (``grid``) or Optuna trials per grid point.
        params: dotted trial key → :class:`SearchParam`.
        scheduler: ``none`` or ``asha`` (early stopping on ``metric`` by epoch).
        grace_period: ASHA's minimum epochs before stopping a trial.
    """

    algorithm: Literal["grid", "optuna"] = "grid"
    metric: str = "dice_mean"
    mode: Literal["max", "min"] = "max"
    num_samples: int = field(default=1, metadata={"ge": 1})
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scheduler: Literal["none", "asha"] = "none"
    grace_period: int = field(default=1, metadata={"ge": 1})


@dataclass(frozen=True)
class Resources:
    """Per-trial resources: CPUs and (fractional) GPUs."""

    cpu: float = field(default=1.0, metadata={"gt": 0.0})
    gpu: float = field(default=0.0, metadata={"ge": 0.0})


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


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; errors name the file."""
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
    return data


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
    study's own ``smoke:`` section), ``--set`` overrides.

    Raises:
        ConfigError: every problem found, one message each, naming the file and the key.
    """
    path = Path(path)
    raw = deep_merge(load_yaml(defaults) if defaults else {}, load_yaml(path))
    if smoke:
        raw = apply_overrides(raw, SMOKE)
        raw = apply_overrides(raw, raw.get("smoke") or {})
    raw = apply_overrides(raw, parse_sets(sets))
    return validate_raw(raw, source=str(path))


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
