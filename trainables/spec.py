"""The one place a trial config is built from plain data, with every check that needs the
registries.

``trainables.config`` (the sections and the generic builder) sits at the bottom of the house and
imports no registry; the registries (``BACKBONES``, ``DATASETS``, ``PRETEXTS``,
``SALIENCY_METHODS``, ``PROBES``) build on it; this module sits above both. :func:`build_trial`
(a base dict plus dotted overrides) and :func:`parse_trial` (one dict) build the frozen
:class:`~trainables.config.TrialConfig` and check, collecting every problem with its dotted key:

1. the sections' own keys, types, ranges and cross-field rules (``trainables.config``);
2. registered names: ``data.name``, ``model.backbone``, ``pretext.name``, ``saliency.method``,
   ``probe.probes``, ``probe.downstream[i].name``;
3. each ``params`` mapping against the params dataclass of its registry entry (``model``,
   ``data``, ``pretext``, every downstream set); a backbone or dataset registered as a bare
   builder checks its own params when it runs, a bare pretext task takes none;
4. what needs a built architecture (on the meta device, no memory): the image size a backbone
   takes and the block names ``probe.blocks`` refers to; and what the pretext task refuses in
   the rest of the trial (its params' ``trial_problems``).

The study (``study/config/load.py``) builds every trial of its grid through :func:`build_trial`
once and passes the built configs on; the Tune trainable builds its trial from its config dict
through the same function (Optuna picks values at run time).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Annotated, Any, get_origin, get_type_hints

from trainables.config import ConfigError, ModelConfig, TrialConfig, build, to_dict
from trainables.config.angles import AngleSet
from trainables.config.overrides import apply_overrides
from trainables.config.probe import downstream_data
from trainables.data import DATASETS
from trainables.models import BACKBONES, image_size_problem
from trainables.pretext import PRETEXTS, PretextParams, pretext_params
from trainables.probes import PROBES
from trainables.registry import Entry, params_class
from trainables.saliency import SALIENCY_METHODS, get_method
from trainables.saliency.methods import guidable_problem

__all__ = ["angle_keys", "build_trial", "parse_trial", "resolved_dict"]

# section -> (its registry key field, the registry, what an entry is)
REGISTERED: dict[str, tuple[str, Mapping[str, Any], str]] = {
    "data": ("name", DATASETS, "dataset"),
    "model": ("backbone", BACKBONES, "backbone"),
    "pretext": ("name", PRETEXTS, "pretext"),
    "saliency": ("method", SALIENCY_METHODS, "method"),
}
# the sections whose ``params`` are validated by their entry's params dataclass
WITH_PARAMS = ("data", "model", "pretext")


def build_trial(base: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                path: str = "") -> TrialConfig:
    """The trial of a study: ``base`` (a plain trial dict) with dotted ``overrides`` (a grid
    point's axes, searched values) applied, built and checked by :func:`parse_trial`.

    Raises:
        ConfigError: one message per problem, each naming its dotted key.
    """
    return parse_trial(apply_overrides(base, overrides) if overrides else base, path)


def parse_trial(raw: Mapping[str, Any] | None, path: str = "") -> TrialConfig:
    """Build and validate a :class:`TrialConfig` from plain data (YAML, a Tune config dict).

    Raises:
        ConfigError: one message per problem, each naming its dotted key.
    """
    raw = raw or {}
    prefix = f"{path}." if path else ""
    names = name_problems(raw, prefix)
    try:
        cfg = build(TrialConfig, raw, path)
    except ConfigError as err:
        raise ConfigError(names + [p for p in err.problems if p not in names]) from None
    if names:
        raise ConfigError(names)
    problems = params_problems(cfg, prefix)
    if not problems:
        problems = [prefix + p for p in built_problems(cfg)]
    if problems:
        raise ConfigError(problems)
    return cfg


def name_problems(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Messages for every registry name in ``raw`` that is not registered (names left at
    their defaults are registered by construction)."""
    problems = []
    for section, (key, registry, _) in REGISTERED.items():
        sub = raw.get(section)
        if not isinstance(sub, Mapping) or key not in sub:
            continue
        value = sub[key]
        if not isinstance(value, str) or value not in registry:
            problems.append(f"{prefix}{section}.{key}: unknown name {value!r}; expected one of "
                            f"{sorted(registry)}")
    probe = raw.get("probe")
    if not isinstance(probe, Mapping):
        return problems
    probes = probe.get("probes", ())
    for i, name in enumerate(probes if isinstance(probes, list | tuple) else ()):
        if name not in PROBES:
            problems.append(f"{prefix}probe.probes[{i}]: unknown probe {name!r}; expected one "
                            f"of {sorted(PROBES)}")
    sets = probe.get("downstream", ())
    for i, entry in enumerate(sets if isinstance(sets, list | tuple) else ()):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if name is not None and name not in DATASETS:
            problems.append(f"{prefix}probe.downstream[{i}].name: unknown dataset "
                            f"{name!r}; expected one of {sorted(DATASETS)}")
    return problems


def params_problems(cfg: TrialConfig, prefix: str = "") -> list[str]:
    """``model.params``, ``data.params``, ``pretext.params`` and each downstream set's
    ``params`` checked against their registry entries' params dataclasses."""
    checks: list[tuple[str, Mapping[str, Any], str, Mapping[str, Any]]] = [
        (section, REGISTERED[section][1], getattr(getattr(cfg, section),
                                                  REGISTERED[section][0]),
         getattr(cfg, section).params)
        for section in WITH_PARAMS]
    for i, entry in enumerate(cfg.probe.downstream):
        data = downstream_data(i, entry)[1]  # ProbeConfig checked the entry itself
        checks.append((f"probe.downstream[{i}]", DATASETS, data.name, data.params))
    problems = []
    for where, registry, name, params in checks:
        if not isinstance(registry[name], Entry) and where != "pretext":
            continue  # a bare builder reads (and checks) its own params when it runs
        try:
            build(params_class(registry[name]), params, f"{prefix}{where}.params")
        except ConfigError as err:
            problems += err.problems
    return problems


def built_problems(cfg: TrialConfig) -> list[str]:
    """What needs the architecture or the task's params: the image size, ``probe.blocks``, a
    guided method on a backbone with smooth activations, and the pretext task's
    ``trial_problems``."""
    params_json = json.dumps(to_dict(cfg.model.params), sort_keys=True)
    size = _image_size_problem(cfg.model.backbone, params_json, cfg.data.image_size)
    problems = [size] if size else []
    known = _block_names(cfg.model.backbone, params_json)
    problems += [f"probe.blocks[{i}]: unknown block {block!r} of this backbone; expected one "
                 f"of {list(known)}" for i, block in enumerate(cfg.probe.blocks)
                 if known is not None and block not in known]
    if get_method(cfg.saliency.method).guided:
        unguidable = _guided_problem(cfg.model.backbone, params_json)
        problems += [f"saliency.method: {unguidable} ({cfg.model.backbone})"] if unguidable else []
    task = pretext_params(cfg.pretext)
    if isinstance(task, PretextParams):
        problems += task.trial_problems(cfg)
    return problems


@functools.lru_cache(maxsize=64)
def _guided_problem(backbone: str, params_json: str) -> str | None:
    """Why guided backprop cannot run on this backbone (smooth activations), if it cannot."""
    import torch

    try:
        with torch.device("meta"):
            model = BACKBONES[backbone](json.loads(params_json))
    except Exception:  # an image-size or params problem, reported with its own key
        return None
    return guidable_problem(model)


@functools.lru_cache(maxsize=256)
def _image_size_problem(backbone: str, params_json: str, image_size: int) -> str | None:
    model = ModelConfig(backbone=backbone, params=json.loads(params_json))
    return image_size_problem(model, image_size)


@functools.lru_cache(maxsize=64)
def _block_names(backbone: str, params_json: str) -> tuple[str, ...] | None:
    """The block names of a backbone, built on the meta device (no memory, no init)."""
    import torch

    try:
        with torch.device("meta"):
            model = BACKBONES[backbone](json.loads(params_json))
    except Exception:  # an image-size or params problem, reported with its own key
        return None
    return tuple(model.block_names)


def resolved_dict(cfg: TrialConfig) -> dict[str, Any]:
    """``to_dict(cfg)`` with ``model.params`` and ``pretext.params`` as their built params
    (every default filled in, angles normalised): what MLflow shows and caches key on, so
    ``params: {}`` and the same values written out are one configuration."""
    out = to_dict(cfg)
    backbone = BACKBONES[cfg.model.backbone]
    if isinstance(backbone, Entry):
        out["model"]["params"] = to_dict(build(backbone.params, cfg.model.params,
                                               "model.params"))
    out["pretext"]["params"] = to_dict(pretext_params(cfg.pretext))
    return out


def angle_keys(cfg: TrialConfig) -> set[str]:
    """The dotted keys of ``cfg`` typed as angle sets (``saliency.eval_angles``, and
    ``pretext.params.angles`` for a rotation task): where an axis of single angles means one
    angle per trial."""
    keys = set(_angle_fields(TrialConfig, ""))
    for section in WITH_PARAMS:
        entry = REGISTERED[section][1][getattr(getattr(cfg, section), REGISTERED[section][0])]
        keys |= set(_angle_fields(params_class(entry), f"{section}.params."))
    return keys


def _angle_fields(cls: type, prefix: str) -> list[str]:
    out = []
    hints = get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if get_origin(tp) is Annotated and any(isinstance(h, AngleSet) for h in tp.__metadata__):
            out.append(prefix + f.name)
        elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
            out += _angle_fields(tp, f"{prefix}{f.name}.")
    return out
