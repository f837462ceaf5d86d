"""The study file: YAML (+ ``--set`` overrides, + ``--smoke``) → a validated :class:`StudyConfig`.

A study file holds study keys (``name``, ``axes``, ``search``, ``resources``, ...;
``study/config/keys.py``) and the base trial config (``seed``, ``data``, ``model``,
``pretext``, ``train``, ``saliency``, ``hog``, ``probe``), layered over ``conf/defaults.yaml``
(study-level defaults only: a trial's defaults are its dataclasses'). ``axes`` maps a dotted
trial key to the values it takes; the trials are the product of all axes (×
``search.num_samples``). A value that is a mapping is merged into the section at that key (e.g.
one axis over whole ``data`` sections). An axis over an angle-set key written as single angles
(``pretext.params.angles: [0, 45, 90]`` or a range) is one angle per trial, with a note.

Every trial of the grid is built once, through :func:`trainables.spec.build_trial`, while the
study is validated; :meth:`StudyConfig.trial` hands the built configs on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from study.config.checks import (
    angle_axes,
    axis_problems,
    check_grid,
    grid_points,
    max_epochs,
    point_key,
    search_problems,
)
from study.config.keys import Mode, Resources, SearchConfig, SearchParam, StudyKeys
from study.config.study_file import default_home, load_yaml, parse_sets
from trainables.config import ConfigError, TrialConfig, build, to_dict
from trainables.config.overrides import apply_overrides, deep_merge
from trainables.spec import angle_keys, build_trial, parse_trial

__all__ = ["SMOKE", "Mode", "Resources", "SearchConfig", "SearchParam", "StudyConfig",
           "StudyKeys", "load_study", "max_epochs", "parse_sets", "search_problems",
           "validate_raw"]

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
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
    # a rehearsal's 1-epoch weights are not worth disk (ResNet-18: 45 MB a trial; trainables/
    # checkpoints.py); --set train.checkpoint_cache=evaluation keeps them
    "train.checkpoint_cache": "none",
}


@dataclass(frozen=True)
class StudyConfig:
    """A validated study: its keys, the base trial, the parsed search params, and its grid's
    trials, built once.

    Attributes:
        keys: the study-level keys (``axes`` as the trials see them: angle axes made explicit).
        base: the base trial (every grid point is ``base`` with the point's overrides).
        params: the searched parameters by dotted key.
        source: the study file, for messages.
        notes: one line per thing the study file was read as that a researcher should know
            (e.g. a flat angle list on an axis taken as one angle per trial); ``validate`` and
            ``run`` print them.
    """

    keys: StudyKeys
    base: TrialConfig
    params: Mapping[str, SearchParam]
    source: str = ""
    notes: tuple[str, ...] = ()
    # set by validate_raw only: a copy made with dataclasses.replace (another name, other
    # axes) starts without them and builds its trials from its own ``base``
    raw_base: Mapping[str, Any] = field(default_factory=dict, init=False, compare=False,
                                        repr=False)
    _trials: dict[str, TrialConfig] = field(default_factory=dict, init=False, compare=False,
                                            repr=False)

    @property
    def name(self) -> str:
        return self.keys.name

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the axes, as ``{dotted key: value}`` dicts (one ``{}`` if none)."""
        return list(grid_points(self.keys.axes))

    def n_trials(self) -> int:
        return len(self.grid()) * self.keys.search.num_samples

    def trial(self, overrides: Mapping[str, Any]) -> TrialConfig:
        """The trial config of one grid point (plus searched values): the one built while the
        study was validated, or built now by the same :func:`~trainables.spec.build_trial`."""
        cached = self._trials.get(point_key(overrides))
        if cached is not None:
            return cached
        return build_trial(self.raw_base or to_dict(self.base), overrides)

    def trials(self) -> Iterator[tuple[dict[str, Any], TrialConfig]]:
        """``(grid point, trial config)`` for every grid point, in grid order."""
        for point in grid_points(self.keys.axes):
            yield point, self.trial(point)


def absolute_paths(raw: Any, cwd: Path) -> Any:
    """Relative paths a study names made absolute against the folder ``rotsweep`` was started
    in, once, on the driver: trials run in other folders (Ray Tune moves each into its own) and
    on other nodes.

    Anywhere in the tree (the base trial, axis values, ``probe.downstream`` entries): every
    ``weights`` and data ``home`` path. The base ``data`` section gets ``home`` when unset (the
    folder a relative ``root`` is read from): ``$ROTSWEEP_DATA`` when set, else ``cwd``,
    whatever the study file writes elsewhere; each downstream set without a home takes the base
    data's, so one ``--set data.home=DIR`` (or ``ROTSWEEP_DATA=DIR``) moves every dataset of a
    study; an axis value without a home keeps the base one. URIs are left alone.
    """

    def absolute(value: Any) -> Any:
        if isinstance(value, str) and "://" not in value:
            return str((cwd / Path(value).expanduser()).resolve())
        return value

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        for key in ("weights", "home", "data.home", "model.weights", "probe.weights"):
            if key in out:
                value = out[key]
                out[key] = [absolute(v) for v in value] if isinstance(value, list) else (
                    absolute(value))
        return out

    out = walk(raw)
    data = dict(out.get("data") or {})
    data.setdefault("home", absolute(default_home()))
    out["data"] = data

    def with_home(sets: Any) -> Any:
        return ([{"home": data["home"], **d} if isinstance(d, dict) else d for d in sets]
                if isinstance(sets, list) else sets)

    probe = out.get("probe")
    if isinstance(probe, dict) and "downstream" in probe:
        probe["downstream"] = with_home(probe["downstream"])
    axes = out.get("axes")
    if isinstance(axes, dict) and isinstance(axes.get("probe.downstream"), list):
        axes["probe.downstream"] = [with_home(v) for v in axes["probe.downstream"]]
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
    notes: list[str] = []
    raw = resolve_fallbacks(absolute_paths(raw, Path.cwd()), notes)
    study = validate_raw(raw, source=str(path))
    if notes:
        object.__setattr__(study, "notes", (*notes, *study.notes))  # frozen: set once, here
    return study


def resolve_fallbacks(raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Data sections with a ``fallback`` (the base ``data``, each value of a ``data`` axis and
    each ``probe.downstream`` set):
    the section itself when its ``root`` exists, else its ``fallback`` section (e.g. a synthetic
    phantom of the same kind of image), with a note naming the missing folder, so a study of
    real datasets still runs where they are absent and says so. ``fallback`` never reaches the
    trial config."""

    def pick(section: Any, where: str) -> Any:
        if not isinstance(section, Mapping) or "fallback" not in section:
            return section
        chosen = {k: v for k, v in section.items() if k != "fallback"}
        root = chosen.get("root")
        home = chosen.get("home") or (raw.get("data") or {}).get("home") or "."
        folder = Path(home) / str(root) if root is not None else None
        if folder is not None and folder.exists():
            return chosen
        fallback = dict(section["fallback"] or {})
        label = fallback.get("label") or fallback.get("name")
        notes.append(f"{where}: {folder} not found; running its fallback "
                     f"{fallback.get('name')} {dict(fallback.get('params') or {})} as "
                     f"{label!r} instead (set data.home or ROTSWEEP_DATA to the real data)")
        return {**{k: v for k, v in chosen.items() if k in ("home", "image_size", "n_train",
                                                           "n_eval", "resize", "split_seed",
                                                           "eval_fraction")},
                **fallback}

    out = dict(raw)
    out["data"] = pick(raw.get("data"), "data")
    axes = raw.get("axes")
    if isinstance(axes, Mapping) and isinstance(axes.get("data"), list):
        out["axes"] = {**axes, "data": [pick(v, f"axes.data[{i}]")
                                        for i, v in enumerate(axes["data"])]}
    probe = raw.get("probe")
    if isinstance(probe, Mapping) and isinstance(probe.get("downstream"), list):
        out["probe"] = {**probe, "downstream": [pick(v, f"probe.downstream[{i}]")
                                                for i, v in enumerate(probe["downstream"])]}
    return out


def validate_raw(raw: Mapping[str, Any], source: str = "<study>") -> StudyConfig:
    """Validate a merged study mapping and build its grid's trials; see :func:`load_study`."""
    problems: list[str] = []
    study_raw = {k: v for k, v in raw.items() if k not in TRIAL_KEYS}
    trial_raw = {k: v for k, v in raw.items() if k in TRIAL_KEYS}
    name = raw.get("name")
    trial_raw["study"] = name if isinstance(name, str) else "study"
    base = _collect(problems, source, lambda: parse_trial(trial_raw))
    notes: list[str] = []
    ranges: list[str] = []  # bad ranges on axes, each named at its key
    study_raw["axes"] = angle_axes(study_raw.get("axes", {}),
                                   angle_keys(base) if base is not None else None, notes, ranges)
    problems.extend(f"{source}: {p}" for p in ranges)
    keys = _collect(problems, source, lambda: build(StudyKeys, study_raw, ""))
    params: dict[str, SearchParam] = {}
    if keys is not None:
        for dotted, spec in keys.search.params.items():
            p = _collect(problems, source,
                         lambda spec=spec, dotted=dotted: build(SearchParam, spec,
                                                               f"search.params.{dotted}"))
            if p is not None:
                params[dotted] = p
        problems.extend(f"{source}: {p}" for p in axis_problems(keys.axes, base is not None))
        if keys.search.algorithm == "grid" and params:
            problems.append(f"{source}: search.params needs search.algorithm: optuna")
    trials: dict[str, TrialConfig] = {}
    if base is not None and keys is not None and not problems:
        problems.extend(f"{source}: {p}"
                        for p in check_grid(keys, base, trial_raw, params, trials))
    if problems:
        raise ConfigError(problems)
    assert keys is not None and base is not None
    study = StudyConfig(keys=keys, base=base, params=params, source=source, notes=tuple(notes))
    object.__setattr__(study, "raw_base", trial_raw)  # frozen: set once, here
    study._trials.update(trials)
    return study


def _collect(problems: list[str], source: str, fn: Any) -> Any:
    try:
        return fn()
    except ConfigError as err:
        problems.extend(f"{source}: {p}" for p in err.problems)
        return None
