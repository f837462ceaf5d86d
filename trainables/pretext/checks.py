"""What the seed-004 tasks refuse in the rest of a trial, found before anything runs (each
task's ``PretextParams.trial_problems``, called by ``rotsweep validate``).

* The tile and patch tasks feed the backbone inputs much smaller than the image (a jigsaw tile
  of a 64-px image is 18 px): the backbone must take them (``alexnet_bn`` needs 31 px, a ViT
  sides that are multiples of 16, ``convnext_tiny`` 32 px). The message names the smallest
  ``data.image_size`` that would do and the backbones made for small inputs.
* Colorization predicts colour per location from the last block's feature map: the map must
  have more than one location at ``data.image_size`` (ResNets at 32 px end in 1×1).
* The tasks that classify positions refuse a field-of-view crop (its black corners would fall
  on the outer tiles only and give their positions away), and no task here has the rotation
  head that the ``rotation_logit``/``rotation_max`` saliency targets differentiate.

Backbones are built on the meta device (no memory, no initialisation).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from trainables.config import TrialConfig, to_dict
from trainables.models import BACKBONES

SMALL_INPUT_BACKBONES = "small_cnn, six_layer, nin, resnet18"
MAX_IMAGE_SIZE = 1024  # DataConfig's largest data.image_size
ROTATION_HEAD_TARGETS = ("rotation_logit", "rotation_max")


def _params_json(cfg: TrialConfig) -> str:
    return json.dumps(to_dict(cfg.model.params), sort_keys=True)


@functools.lru_cache(maxsize=64)
def _min_size(backbone: str, params_json: str) -> int:
    """The backbone's smallest input side (built once, at a size every backbone takes)."""
    import torch

    with torch.device("meta"):
        return BACKBONES[backbone](json.loads(params_json), 224).min_size


@functools.lru_cache(maxsize=512)
def input_problem(backbone: str, params_json: str, side: int) -> str | None:
    """Why ``backbone`` cannot encode ``side``-px inputs (``None`` when it can)."""
    import torch

    try:
        smallest = _min_size(backbone, params_json)
        if side < smallest:
            return f"it needs inputs of at least {smallest} px"
        with torch.device("meta"):
            BACKBONES[backbone](json.loads(params_json), side)
    except ValueError as err:  # e.g. ViT: not a multiple of its patch
        text = str(err).replace("data.image_size", "input side")
        return text.split(": ", 1)[1] if text.startswith("model.backbone") else text
    return None


@functools.lru_cache(maxsize=512)
def feature_map_side(backbone: str, params_json: str, image_size: int) -> int | None:
    """The smaller side of the last block's feature map for ``image_size``-px inputs (``None``
    when the backbone cannot take them)."""
    import torch

    if input_problem(backbone, params_json, image_size) is not None:
        return None
    with torch.device("meta"):
        model = BACKBONES[backbone](json.loads(params_json), image_size).eval()
        out = model.features(torch.empty(2, 3, image_size, image_size))
    return int(min(out.shape[-2:]))


def _smallest_size(cfg: TrialConfig, ok: Callable[[int], bool]) -> int | None:
    return next((s for s in range(cfg.data.image_size + 1, MAX_IMAGE_SIZE + 1) if ok(s)), None)


def patch_size_problems(cfg: TrialConfig, task: str, what: str,
                        side_at: Callable[[int], int]) -> list[str]:
    """A message when the backbone does not take the task's patches.

    Args:
        cfg: the trial.
        task: the pretext name, for the message.
        what: what the patches are called (``3×3 tiles``), for the message.
        side_at: the patch side in pixels for an image size.
    """
    backbone, params, size = cfg.model.backbone, _params_json(cfg), cfg.data.image_size
    side = side_at(size)

    def fits(s: int) -> bool:
        return side_at(s) >= 1 and input_problem(backbone, params, side_at(s)) is None

    if fits(size):
        return []
    problem = (input_problem(backbone, params, side) if side >= 1
               else "no room for them")
    need = _smallest_size(cfg, fits)
    fix = f"e.g. data.image_size: {need}" if need else "a larger data.image_size"
    return [f"pretext.name {task!r}: its {what} are {side} px at data.image_size {size}, which "
            f"model.backbone {backbone!r} does not take ({problem}); use {fix}, or a backbone "
            f"that takes small inputs ({SMALL_INPUT_BACKBONES})"]


def feature_map_problems(cfg: TrialConfig, task: str, min_side: int = 2) -> list[str]:
    """A message when the backbone's last feature map has fewer than ``min_side`` locations a
    side at ``data.image_size`` (or the backbone cannot take that size: reported by
    ``trainables.spec`` itself)."""
    backbone, params, size = cfg.model.backbone, _params_json(cfg), cfg.data.image_size
    side = feature_map_side(backbone, params, size)
    if side is None or side >= min_side:
        return []

    def fits(s: int) -> bool:
        got = feature_map_side(backbone, params, s)
        return got is not None and got >= min_side

    need = _smallest_size(cfg, fits)
    fix = f"data.image_size: {need} or more" if need else "a larger data.image_size"
    return [f"pretext.name {task!r}: predicts per location of the last block's feature map, "
            f"which is {side}×{side} for model.backbone {backbone!r} at data.image_size {size};"
            f" it needs at least {min_side}×{min_side}: use {fix}, or a backbone that keeps a "
            "spatial map (small_cnn with fewer blocks, six_layer, nin)"]


def crop_problems(cfg: TrialConfig, task: str, what: str) -> list[str]:
    """A message when ``pretext.crop`` would mark the outer patches of a position task."""
    if cfg.pretext.crop == "none":
        return []
    return [f"pretext.crop {cfg.pretext.crop!r}: the field of view's black corners would fall "
            f"on {task}'s outer {what} only and give their positions away; set pretext.crop: "
            "none"]


def saliency_target_problems(cfg: TrialConfig, task: str) -> list[str]:
    """A message when the saliency target needs a rotation head the task does not have."""
    if cfg.saliency.target not in ROTATION_HEAD_TARGETS:
        return []
    return [f"saliency.target {cfg.saliency.target!r}: needs a rotation head and pretext "
            f"{task!r} has none; use 'pair_similarity' or 'embedding_max'"]
