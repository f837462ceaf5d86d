"""Backbones: the registry and how a trial's model is built and initialised.

Adding a backbone = one ``build_x(params, image_size) -> Backbone`` function, its
``model.params`` dataclass, and one line in :data:`BACKBONES`:
``"name": Entry(build_x, XParams),``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from trainables.config import ModelConfig
from trainables.models.alexnet_bn import AlexNetBnParams, build_alexnet_bn
from trainables.models.base import IMAGENET_MEAN, IMAGENET_STD, Backbone
from trainables.models.init import LoadReport, load_weights
from trainables.models.nin import NinParams, build_nin
from trainables.models.six_layer import SixLayerParams, build_six_layer
from trainables.models.small import SmallCnnParams, build_small_cnn
from trainables.models.torchvision_nets import (
    TorchvisionParams,
    build_convnext_tiny,
    build_efficientnet_b0,
    build_mobilenet_v2,
    build_resnet18,
    build_resnet50,
)
from trainables.models.vit import VitParams, build_vit_b_16
from trainables.registry import Entry, lookup

log = logging.getLogger(__name__)

# each entry: ``build(params, image_size) -> Backbone`` and its ``model.params`` dataclass, so
# a config is checked without building a model (trainables.spec)
BACKBONES: dict[str, Entry[Callable[[Mapping[str, Any], int], Backbone]]] = {
    "alexnet_bn": Entry(build_alexnet_bn, AlexNetBnParams),
    "convnext_tiny": Entry(build_convnext_tiny, TorchvisionParams),
    "efficientnet_b0": Entry(build_efficientnet_b0, TorchvisionParams),
    "mobilenet_v2": Entry(build_mobilenet_v2, TorchvisionParams),
    "nin": Entry(build_nin, NinParams),
    "resnet18": Entry(build_resnet18, TorchvisionParams),
    "resnet50": Entry(build_resnet50, TorchvisionParams),
    "six_layer": Entry(build_six_layer, SixLayerParams),
    "small_cnn": Entry(build_small_cnn, SmallCnnParams),
    "vit_b_16": Entry(build_vit_b_16, VitParams),
}

__all__ = ["BACKBONES", "Backbone", "LoadReport", "build_backbone", "image_size_problem",
           "load_weights"]


def image_size_problem(cfg: ModelConfig, image_size: int) -> str | None:
    """Why ``cfg``'s backbone can not take ``image_size`` px inputs (``None`` when it can):
    too small for its downsampling, or not a multiple of ViT's patch. Builds on the meta device,
    so it costs no memory or initialisation (for checking a config before anything runs)."""
    import torch

    if cfg.backbone not in BACKBONES:
        return None
    try:
        with torch.device("meta"):
            model = BACKBONES[cfg.backbone](cfg.params, image_size)
    except ValueError as err:
        return str(err)
    if image_size < model.min_size:
        return (f"model.backbone {cfg.backbone!r} needs data.image_size >= {model.min_size}, "
                f"got {image_size}")
    return None


def build_backbone(cfg: ModelConfig, image_size: int = 224) -> Backbone:
    """The backbone ``cfg.backbone`` with ``cfg.params`` for ``image_size`` px inputs,
    initialised as ``cfg.init`` says (``random``, or a local ``torchvision`` / ``moco_v2``
    weight file, see :mod:`trainables.models.init`) and normalising its inputs as
    ``cfg.input_norm`` says.

    Raises:
        KeyError: the backbone is not registered; the message lists the registered names.
        ValueError: ``image_size`` is too small for the architecture, or the weight file is
            not of the ``init`` kind or does not fit the backbone.
    """
    builder = lookup(BACKBONES, cfg.backbone, "model.backbone", "backbone")
    model = builder(cfg.params, image_size)
    if image_size < model.min_size:
        raise ValueError(image_size_problem(cfg, image_size))
    if cfg.init != "random":
        assert cfg.weights is not None  # ModelConfig checks it
        report = load_weights(model, cfg.init, cfg.weights, cfg.backbone)
        log.info("model.weights %s: %d tensors loaded into %s", report.path, report.loaded,
                 cfg.backbone)
    if cfg.normalizes_input:
        model.set_input_norm(IMAGENET_MEAN, IMAGENET_STD)
    return model
