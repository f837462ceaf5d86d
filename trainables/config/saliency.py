"""``saliency.*``: how saliency is measured at every evaluation angle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trainables.config.angles import Angles


@dataclass(frozen=True)
class SaliencyConfig:
    """The per-angle saliency evaluation.

    Attributes:
        method: registry key in ``trainables.saliency.SALIENCY_METHODS``
            (``rotsweep list saliency``): ``gradient``, ``smoothgrad`` (seed 000),
            ``smoothgrad_sq``, ``grad_x_input``, ``guided_backprop``, ``integrated_gradients``,
            ``gradcam``, or the preset ``explain_cl`` (the choices of the code seed 000 adapted;
            it fixes the reduction, the blur and the noise rule itself).
        target: the scalar differentiated: ``pair_similarity`` (cosine similarity of the
            embeddings of the rotated view and the unrotated reference view, as contrastive
            saliency does), ``rotation_logit`` (the logit of the rotation class predicted for the
            clean rotated input), ``rotation_max`` (seed 002: one map per rotation logit,
            combined by an element-wise max), ``embedding_max`` (seed 002: one map per
            embedding neuron, combined by an element-wise max; ``n_neurons`` of them).
        noise_level: SmoothGrad σ as a fraction of each image's value range (Smilkov et al.
            2017: 0.15); ``explain_cl`` divides by the range instead (see its docs).
        n_samples: noisy copies per image and angle for the noise methods, or path steps for
            ``integrated_gradients``. Default 8, small enough for the CPU demo; Smilkov et al.
            2017 and seed 000 use 50 (the study files say so).
        reduction: how the channel axis of the (averaged) input gradient is reduced to a map:
            ``max_abs`` (max over channels of |g|; Simonyan et al. 2014), ``mean_abs``, ``l2``.
        normalize: ``minmax`` (each map to [0, 1] inside the evaluation region) or ``none``.
        blur_sigma: Gaussian blur of each map, σ in pixels (0 = none).
        blur_kernel: the blur's kernel side in pixels, odd; 0 = ``2·⌈3σ⌉ + 1``.
        cam_block: the backbone block ``gradcam`` reads (its named blocks); ``None`` = the last.
        n_neurons: ``embedding_max``: how many embedding neurons get their own map (each one
            backward pass per input); 0 = every neuron (the exact definition of seed 002).
        neuron_choice: ``embedding_max``: ``top_activation`` (the most active neurons on the
            unrotated image, per image) or ``random`` (one seeded subset for all images).
        eval_margin: pixels by which the field of view is eroded for the metrics, to exclude
            the hard rim every angle shares (``apply_fov`` cuts the image there). 0 by default:
            on the smoke setting (small CNN, MoCo at 45°, 64 px) the outer 3-px ring holds 16 %
            of the saliency for 17 % of the area, and saliency is *lowest* near the centre
            (where the objects are), so the low Dice there is not a rim artefact and a margin
            mostly shifts the chance level (0.14 → 0.18 at 4 px).
        eval_angles: the angles at which saliency is measured, in degrees (seed 000: every
            degree, ``{start: 0, stop: 360, step: 1}``); a number, a list, or a range
            ``{start, stop, step}`` (stop exclusive), each angle taken mod 360 (see
            :mod:`trainables.config.angles`). Default: every 15°.
        max_batch: most (image, angle, noise, neuron) inputs in one forward/backward pass;
            ``None`` = by device: 64 on the CPU (measured 1.3–1.6× faster there than 256,
            ``bench/saliency.py``), 256 on CUDA.
        threshold_rule: how a map is binarised for Dice/IoU/Q: ``fixed`` (``threshold``),
            ``percentile`` (the top ``threshold`` share of the region), ``otsu``,
            ``match_mask_area`` (as many pixels as the mask has).
        threshold: the value used by ``fixed`` / ``percentile``.
        random_init_baseline: also evaluate a random-init copy of the model the same way
            (seed 002); its rows have ``init = "random_baseline"``.
    """

    method: str = "smoothgrad"
    target: Literal["pair_similarity", "rotation_logit", "rotation_max", "embedding_max"] = (
        "pair_similarity")
    noise_level: float = field(default=0.15, metadata={"ge": 0.0})
    n_samples: int = field(default=8, metadata={"ge": 1})
    reduction: Literal["max_abs", "mean_abs", "l2"] = "max_abs"
    normalize: Literal["minmax", "none"] = "minmax"
    blur_sigma: float = field(default=0.0, metadata={"ge": 0.0})
    blur_kernel: int = field(default=0, metadata={"ge": 0})
    cam_block: str | None = None
    n_neurons: int = field(default=16, metadata={"ge": 0})
    neuron_choice: Literal["top_activation", "random"] = "top_activation"
    eval_margin: int = field(default=0, metadata={"ge": 0})
    eval_angles: Angles = tuple(float(a) for a in range(0, 360, 15))
    max_batch: int | None = field(default=None, metadata={"ge": 1})
    threshold_rule: Literal["fixed", "percentile", "otsu", "match_mask_area"] = "match_mask_area"
    threshold: float = field(default=0.5, metadata={"ge": 0.0, "le": 1.0})
    random_init_baseline: bool = False

    def __post_init__(self) -> None:
        if not self.eval_angles:
            raise ValueError("saliency.eval_angles: needs at least one angle")
        if self.blur_kernel and self.blur_kernel % 2 == 0:
            raise ValueError(f"saliency.blur_kernel: {self.blur_kernel} must be odd (or 0)")
