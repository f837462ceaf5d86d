"""torchvision convolutional architectures as named-block backbones (built with
``weights=None``: nothing is ever downloaded; ``model.init`` loads local weight files).

Each classifier (``fc`` / ``classifier``) is left out: the pretext tasks put their own heads on
the pooled embedding. Block names follow each architecture's stages, and ``source_prefixes``
map them back to torchvision's state-dict names so torchvision and MoCo files load directly.

| key | blocks (output stride) | embedding |
|---|---|---|
| ``resnet18``/``50`` | stem (4), layer1 (4), layer2 (8), layer3 (16), layer4 (32) | 512/2048 |
| ``mobilenet_v2`` | stem (2), stage2 (4), stage3 (8), stage4 (16), stage5 (32), last_conv | 1280 |
| ``efficientnet_b0`` | as ``mobilenet_v2`` | 1280 |
| ``convnext_tiny`` | stem (4), stage1 (4), stage2 (8), stage3 (16), stage4 (32) | 768 |

ConvNeXt's final LayerNorm sits in torchvision's classifier and is left out with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from trainables.config.parse import build
from trainables.models.base import Backbone, children, named

if TYPE_CHECKING:
    from types import ModuleType


def _tvm() -> ModuleType:
    """torchvision's ``models``, imported when a torchvision backbone is built (1 s of torch's
    compiler modules that the driver, which only validates configs, never needs)."""
    from torchvision import models

    return models


@dataclass(frozen=True)
class TorchvisionParams:
    """``model.params`` of the torchvision backbones: none (the architectures are fixed)."""


def _check(params: Mapping[str, Any]) -> None:
    build(TorchvisionParams, params, "model.params")


def _resnet(factory: Callable[..., nn.Module], embed_dim: int) -> Backbone:
    net = factory(weights=None)
    blocks: OrderedDict = OrderedDict()
    blocks["stem"] = named(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
    prefixes = {"stem": ""}
    for name in ("layer1", "layer2", "layer3", "layer4"):
        blocks[name] = getattr(net, name)
        prefixes[name] = f"{name}."
    return Backbone(blocks, embed_dim, source_prefixes=prefixes)


def _staged(features: nn.Module, stages: dict[str, list[int]], embed_dim: int,
            min_size: int = 1) -> Backbone:
    """Group torchvision's ``features`` children into named stages (keeping their indices, so
    ``blocks.stage2.2.conv...`` is torchvision's ``features.2.conv...``)."""
    blocks: OrderedDict = OrderedDict(
        (name, children(features, [str(i) for i in idx])) for name, idx in stages.items())
    return Backbone(blocks, embed_dim, source_prefixes={n: "features." for n in stages},
                    min_size=min_size)


def build_resnet18(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision ResNet-18 (He et al. 2016) without ``fc``; 11.2M parameters."""
    _check(params)
    return _resnet(_tvm().resnet18, 512)


def build_resnet50(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision ResNet-50 without ``fc``: MoCo v2's encoder (seed 000); 23.5M parameters."""
    _check(params)
    return _resnet(_tvm().resnet50, 2048)


def build_mobilenet_v2(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision MobileNetV2 (seed 002: "around 3.4M parameters" with its classifier)."""
    _check(params)
    stages = {"stem": [0, 1], "stage2": [2, 3], "stage3": [4, 5, 6],
              "stage4": list(range(7, 14)), "stage5": list(range(14, 18)), "last_conv": [18]}
    return _staged(_tvm().mobilenet_v2(weights=None).features, stages, 1280)


def build_efficientnet_b0(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision EfficientNet-B0 (seed 002: "around 5.3M parameters" with its classifier)."""
    _check(params)
    stages = {"stem": [0, 1], "stage2": [2], "stage3": [3], "stage4": [4, 5],
              "stage5": [6, 7], "last_conv": [8]}
    return _staged(_tvm().efficientnet_b0(weights=None).features, stages, 1280)


def build_convnext_tiny(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision ConvNeXt-T without its classifier (final LayerNorm included there)."""
    _check(params)
    stages = {"stem": [0], "stage1": [1], "stage2": [2, 3], "stage3": [4, 5],
              "stage4": [6, 7]}
    # 4×4/4 stem and three 2×2/2 downsamplings without padding
    return _staged(_tvm().convnext_tiny(weights=None).features, stages, 768, min_size=32)
