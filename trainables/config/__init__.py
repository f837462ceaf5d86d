"""The typed trial config: frozen dataclasses, one per section, and the generic builder.

This package is the bottom of the house: it imports nothing else from ``trainables`` (a test,
``tests/test_imports.py``, holds it to that). It checks what a section can check on its own
(unknown keys, types, ranges, cross-field rules, with dotted paths); the checks that need the
registries (registered names, each entry's ``params``, image sizes, probe blocks) are one layer
up, in :func:`trainables.spec.parse_trial` / :func:`trainables.spec.build_trial`, the one
place a trial config is built from plain data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from trainables.config.data import DataConfig
from trainables.config.hog import HogConfig
from trainables.config.model import ModelConfig
from trainables.config.parse import ConfigError, build, flatten, to_dict
from trainables.config.pretext import PretextConfig
from trainables.config.probe import ProbeConfig
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
    "build",
    "config_hash",
    "flatten",
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


def config_hash(obj: Any, length: int = 16) -> str:
    """A stable content hash of a config (or any section of it), for content-addressed caches."""
    text = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
