"""``saliency.*``: how saliency is measured at every evaluation angle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class SaliencyConfig:
    """The per-angle saliency evaluation.

    Attributes:
        method: registry key in ``trainables.saliency.SALIENCY_METHODS``
            (``rotsweep list saliency``); seed 000: ``smoothgrad``.
        target: the scalar differentiated: ``pair_similarity`` (cosine similarity of the
            embeddings of the rotated view and the reference view), ``rotation_logit``,
            ``embedding_max``.
        noise_level: SmoothGrad σ as a fraction of each image's value range (Smilkov et al.: 0.15).
        n_samples: noisy copies per image and angle (Smilkov et al.: 50).
        reduction: how the channel axis of the input gradient is reduced: ``max_abs``,
            ``mean_abs`` or ``l2``.
        normalize: ``minmax`` (per map to [0, 1]) or ``none``.
        blur_sigma: Gaussian blur of the map in pixels (0 = none).
        eval_angles: the angles at which saliency is measured (seed 000: every degree).
        max_batch: most (image, angle, noise) inputs in one forward/backward pass.
        threshold_rule: how a map is binarised for Dice/IoU: ``fixed`` (``threshold``),
            ``percentile`` (top ``threshold`` share), ``otsu``, ``match_mask_area``.
        threshold: the value used by ``fixed`` / ``percentile``.
        random_init_baseline: also evaluate a random-init copy of the model (seed 002).
    """

    method: str = "smoothgrad"
    target: Literal["pair_similarity", "rotation_logit", "embedding_max"] = "pair_similarity"
    noise_level: float = field(default=0.15, metadata={"ge": 0.0})
    n_samples: int = field(default=8, metadata={"ge": 1})
    reduction: Literal["max_abs", "mean_abs", "l2"] = "max_abs"
    normalize: Literal["minmax", "none"] = "minmax"
    blur_sigma: float = field(default=0.0, metadata={"ge": 0.0})
    eval_angles: tuple[int, ...] = field(
        default=tuple(range(0, 360, 15)), metadata={"ge": 0, "lt": 360}
    )
    max_batch: int = field(default=256, metadata={"ge": 1})
    threshold_rule: Literal["fixed", "percentile", "otsu", "match_mask_area"] = "match_mask_area"
    threshold: float = field(default=0.5, metadata={"ge": 0.0, "le": 1.0})
    random_init_baseline: bool = False

    def __post_init__(self) -> None:
        if not self.eval_angles:
            raise ValueError("saliency.eval_angles: needs at least one angle")
