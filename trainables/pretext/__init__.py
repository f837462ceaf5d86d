"""Pretext tasks: the registry, and what a trial asks of its task's params.

Adding a task = one module and one line in :data:`PRETEXTS`:

* a :class:`Pretext` subclass, constructed as ``Task(encoder, cfg, params)`` (``cfg`` the
  generic ``pretext.*`` settings: ``crop``, ``augment``; ``params`` its own settings), whose
  ``step(images, g) -> StepResult`` makes the pseudo-labels from a batch of ``(N, 3, S, S)``
  images in [0, 1] with ``g`` for every draw and returns the loss; ``after_optimizer_step()``
  if it keeps state, a ``logits`` method where saliency can target its head;
* a frozen params dataclass subclassing :class:`PretextParams` for ``pretext.params`` (its
  ``describe()`` is the ``pretraining`` column, ``train_angles()`` the angle set of a rotation
  task, ``trial_problems(cfg)`` what it refuses, e.g. a backbone);
* the line ``"name": Entry(Task, TaskParams),``. A task without settings may register the bare
  class (``"name": Task,``): any key under its ``params`` is then an error.

``rotsweep validate`` checks ``pretext.params`` against the params class before anything runs
(:mod:`trainables.spec`); the checkpoint key, the ``pretraining`` and ``train_angles`` columns
and MLflow's params all come from the built params.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from trainables.config import PretextConfig
from trainables.config.parse import build, to_dict
from trainables.models import Backbone
from trainables.pretext.base import Pretext, PretextParams, StepResult
from trainables.pretext.colorization import Colorization, ColorizationParams
from trainables.pretext.context import Context, ContextParams
from trainables.pretext.counting import Counting, CountingParams
from trainables.pretext.jigsaw import Jigsaw, JigsawParams
from trainables.pretext.moco import MocoRotation, MocoRotationParams
from trainables.pretext.rotnet import RotNet, RotNetParams
from trainables.pretext.simclr import SimclrRotation, SimclrRotationParams
from trainables.registry import Entry, lookup, params_class

PRETEXTS: dict[str, Any] = {
    "colorization": Entry(Colorization, ColorizationParams),
    "context": Entry(Context, ContextParams),
    "counting": Entry(Counting, CountingParams),
    "jigsaw": Entry(Jigsaw, JigsawParams),
    "moco_rotation": Entry(MocoRotation, MocoRotationParams),
    "rotnet": Entry(RotNet, RotNetParams),
    "simclr_rotation": Entry(SimclrRotation, SimclrRotationParams),
}

__all__ = ["PRETEXTS", "Entry", "Pretext", "PretextParams", "StepResult", "build_pretext",
           "pretext_params", "pretraining", "train_angles"]


def pretext_params(cfg: PretextConfig) -> Any:
    """``cfg.params`` built as the params dataclass of task ``cfg.name`` (defaults filled in,
    angles normalised).

    Raises:
        KeyError: the task is not registered; the message lists the registered names.
        ConfigError: a key, type or value of ``pretext.params`` does not fit the task.
    """
    entry = lookup(PRETEXTS, cfg.name, "pretext.name", "pretext")
    return _built(params_class(entry), json.dumps(to_dict(cfg.params), sort_keys=True))


@lru_cache(maxsize=256)
def _built(cls: type, params_json: str) -> Any:
    return build(cls, json.loads(params_json), "pretext.params")


def pretraining(cfg: PretextConfig) -> str:
    """The ``pretraining`` column: what the pre-training was, e.g. ``moco_rotation θ=90°``,
    ``rotnet {0,90,180,270}``; the task's name when its params say nothing more."""
    params = pretext_params(cfg)
    text = params.describe() if isinstance(params, PretextParams) else ""
    return text or cfg.name


def train_angles(cfg: PretextConfig) -> tuple[float, ...] | None:
    """The train angles of a rotation task (the ``train_angles`` column); ``None`` for a task
    that does not rotate."""
    params = pretext_params(cfg)
    return params.train_angles() if isinstance(params, PretextParams) else None


def build_pretext(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The pretext task ``cfg.name`` around ``encoder``, with its params built from
    ``cfg.params``.

    Raises:
        KeyError: the name is not registered; the message lists the registered names.
        ConfigError: ``pretext.params`` does not fit the task.
    """
    entry = lookup(PRETEXTS, cfg.name, "pretext.name", "pretext")
    params = pretext_params(cfg)
    return entry(encoder, cfg, params) if isinstance(entry, Entry) else entry(encoder, cfg)
