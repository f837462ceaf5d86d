"""``alexnet_bn``: AlexNet with BatchNorm after every convolution (seed 004; seed 003's ImageNet
RotNet: "no local response normalization, dropout or groups ... batch normalization after each
linear layer").

The convolutional part of the RotNet authors' AlexNet (gidariss/FeatureLearningRotNet,
``architectures/AlexNet.py``): conv 11×11/4 → 64, max-pool 3/2, conv 5×5 → 192, max-pool 3/2,
conv 3×3 → 384, 256, 256, each conv (with bias) followed by BatchNorm and ReLU. The fully
connected layers (and seed 004's dropout in them) belong to the tasks' heads here: the
embedding is the 256-channel ``conv5`` map pooled. Needs inputs of at least 31 px.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from trainables.config.parse import build
from trainables.models.base import Backbone


@dataclass(frozen=True)
class AlexNetBnParams:
    """``model.params`` of ``alexnet_bn``: none (the architecture is fixed)."""


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int | None = None
          ) -> list[nn.Module]:
    pad = kernel // 2 if padding is None else padding
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def build_alexnet_bn(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """Blocks ``conv1`` … ``conv5``; ``conv2`` and ``conv3`` start with AlexNet's max-pools."""
    build(AlexNetBnParams, params, "model.params")
    pool = lambda: nn.MaxPool2d(3, stride=2)  # noqa: E731
    blocks: OrderedDict = OrderedDict()
    blocks["conv1"] = nn.Sequential(*_conv(3, 64, 11, stride=4, padding=2))
    blocks["conv2"] = nn.Sequential(pool(), *_conv(64, 192, 5))
    blocks["conv3"] = nn.Sequential(pool(), *_conv(192, 384, 3))
    blocks["conv4"] = nn.Sequential(*_conv(384, 256, 3))
    blocks["conv5"] = nn.Sequential(*_conv(256, 256, 3))
    # conv1 out = (S + 4 - 11) // 4 + 1; two 3/2 max-pools without padding need >= 7 there
    return Backbone(blocks, embed_dim=256, min_size=31)
