"""Pretext tasks: the registry. Adding one = a :class:`Pretext` subclass, a ``build_x(encoder,
cfg)`` function and one line in :data:`PRETEXTS` (seed 004's jigsaw, counting, context and
colorization go here)."""

from __future__ import annotations

from collections.abc import Callable

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult
from trainables.pretext.moco import build_moco_rotation
from trainables.pretext.rotnet import build_rotnet

PRETEXTS: dict[str, Callable[[Backbone, PretextConfig], Pretext]] = {
    "moco_rotation": build_moco_rotation,
    "rotnet": build_rotnet,
}

__all__ = ["PRETEXTS", "Pretext", "StepResult", "build_pretext"]


def build_pretext(encoder: Backbone, cfg: PretextConfig) -> Pretext:
    """The pretext task ``cfg.name`` around ``encoder``.

    Raises:
        KeyError: the name is not registered; the message lists the registered names.
    """
    try:
        builder = PRETEXTS[cfg.name]
    except KeyError:
        raise KeyError(
            f"pretext.name: unknown pretext {cfg.name!r}; expected one of {sorted(PRETEXTS)}"
        ) from None
    return builder(encoder, cfg)
