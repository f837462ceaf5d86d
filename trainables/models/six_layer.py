"""``six_layer``: seed 002's custom six-layer network (conv-BN-ReLU, no residuals, ~100k
parameters).

Seed 002 gives the recipe (six convolutions, each followed by BatchNorm and ReLU, no residual
connections, "around 100 thousand parameters") but not the widths; the defaults below are ours
and give 106,960 parameters: 3×3 convolutions with 16-32-32-64-64-64 channels, stride 2 at the
first, second, fourth and sixth layer (128 px in → 8×8×64 out).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainables.config.parse import build
from trainables.models.base import Backbone, conv_bn_relu

Six = tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class SixLayerParams:
    """``model.params`` of ``six_layer``.

    Attributes:
        widths: output channels of the six 3×3 convolutions.
        strides: their strides (1 or 2).
    """

    widths: Six = field(default=(16, 32, 32, 64, 64, 64), metadata={"ge": 1})
    strides: Six = field(default=(2, 2, 1, 2, 1, 2), metadata={"ge": 1, "le": 2})


def build_six_layer(params: Mapping[str, Any], image_size: int = 128) -> Backbone:
    """Six conv-BN-ReLU layers named ``conv1`` … ``conv6`` (seed 002)."""
    p = build(SixLayerParams, params, "model.params")
    blocks: OrderedDict = OrderedDict()
    c_in = 3
    for i, (c_out, stride) in enumerate(zip(p.widths, p.strides, strict=True)):
        blocks[f"conv{i + 1}"] = conv_bn_relu(c_in, c_out, kernel=3, stride=stride)
        c_in = c_out
    return Backbone(blocks, embed_dim=c_in)
