"""Backbones: the registry and how a trial's model is built and initialised.

Adding a backbone = one ``build_x(params) -> Backbone`` function + one line in :data:`BACKBONES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from trainables.config import ModelConfig
from trainables.models.base import Backbone
from trainables.models.small import build_small_cnn

BACKBONES: dict[str, Callable[[Mapping[str, Any]], Backbone]] = {
    "small_cnn": build_small_cnn,
}

__all__ = ["BACKBONES", "Backbone", "build_backbone"]


def build_backbone(cfg: ModelConfig) -> Backbone:
    """The backbone ``cfg.backbone`` with ``cfg.params``, initialised as ``cfg.init`` says.

    Raises:
        KeyError: the backbone is not registered; the message lists the registered names.
    """
    try:
        builder = BACKBONES[cfg.backbone]
    except KeyError:
        raise KeyError(
            f"model.backbone: unknown backbone {cfg.backbone!r}; expected one of "
            f"{sorted(BACKBONES)}"
        ) from None
    model = builder(cfg.params)
    if cfg.init != "random":
        raise NotImplementedError(f"model.init {cfg.init!r} is not available yet")
    return model
