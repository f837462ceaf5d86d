"""Saliency at every evaluation angle: methods (the registry), targets and the batched engine.

``SALIENCY_METHODS`` and :func:`get_method` live in :mod:`~trainables.saliency.methods`, the
targets (``pair_similarity``, ``rotation_logit``, ``embedding_max``) in
:mod:`~trainables.saliency.targets`, and the engine that batches images × angles × noisy copies
on the device in :mod:`~trainables.saliency.engine`.
"""

from __future__ import annotations

from trainables.saliency.engine import iter_saliency, noise_for, noise_sigma, saliency_maps
from trainables.saliency.methods import (
    SALIENCY_METHODS,
    Method,
    blur_maps,
    get_method,
    guided_relus,
    reduce_channels,
)
from trainables.saliency.targets import TARGETS, Jobs, Target, build_target, degenerate_at

__all__ = [
    "SALIENCY_METHODS",
    "TARGETS",
    "Jobs",
    "Method",
    "Target",
    "blur_maps",
    "build_target",
    "degenerate_at",
    "get_method",
    "guided_relus",
    "iter_saliency",
    "noise_for",
    "noise_sigma",
    "reduce_channels",
    "saliency_maps",
]
