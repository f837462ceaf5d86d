"""Pretext tasks: the registry.

Adding one = a :class:`Pretext` subclass (``step(images, g) -> StepResult`` on a batch of
``(N, 3, S, S)`` images in [0, 1], ``after_optimizer_step()`` if it keeps state, ``encoder`` =
the backbone being studied), a ``build_x(encoder, cfg)`` function and one line in
:data:`PRETEXTS`. This is where seed 004's other tasks go: ``jigsaw`` (9 tiles, 1000 fixed
permutations as classes), ``counting`` (Noroozi et al. 2017: feature of the whole = sum of the
tiles' features, with a contrastive term), ``context`` (inpainting a removed square with an
encoder-decoder) and ``colorization`` (predicting colour from the L channel). Each needs its
own options in ``PretextConfig``, its pseudo-labels built inside ``step`` from the image batch
(with ``g`` for every draw) and, where it has one, a ``logits`` method so saliency can target
its head. None is registered until it is implemented.
"""

from __future__ import annotations

from collections.abc import Callable

from trainables.config import PretextConfig
from trainables.models import Backbone
from trainables.pretext.base import Pretext, StepResult
from trainables.pretext.moco import build_moco_rotation
from trainables.pretext.rotnet import build_rotnet
from trainables.pretext.simclr import build_simclr_rotation

PRETEXTS: dict[str, Callable[[Backbone, PretextConfig], Pretext]] = {
    "moco_rotation": build_moco_rotation,
    "rotnet": build_rotnet,
    "simclr_rotation": build_simclr_rotation,
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
