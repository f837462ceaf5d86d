"""The typed trial config: one frozen object, built from a dict in exactly one place.

``parse_trial(raw)`` is that place: it builds every section (unknown keys, wrong types and
out-of-range values are errors with their dotted path) and then checks registry names
(dataset, backbone, pretext, saliency method) against the registries that own them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainables.config.data import DataConfig
from trainables.config.hog import HogConfig
from trainables.config.model import ModelConfig
from trainables.config.parse import ConfigError, build, flatten, to_dict
from trainables.config.pretext import PretextConfig
from trainables.config.probe import ProbeConfig, probe_name_problems
from trainables.config.saliency import SaliencyConfig
from trainables.config.train import TrainConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "HogConfig",
    "ModelConfig",
    "PretextConfig",
    "ProbeConfig",
    "SaliencyConfig",
    "TrainConfig",
    "TrialConfig",
    "config_hash",
    "flatten",
    "parse_trial",
    "to_dict",
]


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial needs: pre-training, evaluation and where it belongs.

    Attributes:
        study: the study's name (a column of every table; the MLflow experiment).
        seed: the trial's random seed; the same config and seed give the same numbers on CPU.
        data, model, pretext, train, saliency, hog, probe: the sections, see each class.
    """

    study: str = "default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretext: PretextConfig = field(default_factory=PretextConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    hog: HogConfig = field(default_factory=HogConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)


def parse_trial(raw: Mapping[str, Any] | None, path: str = "") -> TrialConfig:
    """Build and validate a :class:`TrialConfig` from plain data (YAML, a Tune config dict).

    Raises:
        ConfigError: one message per problem, each naming its dotted key.
    """
    names = check_registry_names(raw or {}, path)
    try:
        cfg = build(TrialConfig, raw, path)
    except ConfigError as err:
        raise ConfigError(names + [p for p in err.problems if p not in names]) from None
    if names:
        raise ConfigError(names)
    from trainables.models import image_size_problem

    size = image_size_problem(cfg.model, cfg.data.image_size)
    if size:
        raise ConfigError([f"{path}.{size}" if path else size])
    return cfg


def check_registry_names(raw: Mapping[str, Any], path: str = "") -> list[str]:
    """Messages for every registry name given in ``raw`` that is not registered (names left at
    their defaults are registered by construction)."""
    from trainables.data import DATASETS
    from trainables.models import BACKBONES
    from trainables.pretext import PRETEXTS
    from trainables.saliency import SALIENCY_METHODS

    prefix = f"{path}." if path else ""
    checks = [
        ("data", "name", DATASETS),
        ("model", "backbone", BACKBONES),
        ("pretext", "name", PRETEXTS),
        ("saliency", "method", SALIENCY_METHODS),
    ]
    problems = []
    for section, key, registry in checks:
        sub = raw.get(section)
        if not isinstance(sub, Mapping) or key not in sub:
            continue
        value = sub[key]
        if not isinstance(value, str) or value not in registry:
            problems.append(f"{prefix}{section}.{key}: unknown name {value!r}; expected one of "
                            f"{sorted(registry)}")
    problems += probe_name_problems(raw.get("probe"), raw.get("model"), prefix)
    return problems


def config_hash(obj: Any, length: int = 16) -> str:
    """A stable content hash of a config (or any section of it), for content-addressed caches."""
    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
