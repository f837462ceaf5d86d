"""``small_cnn``: the embedded default, small enough for sweeps on a laptop CPU."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainables.config.parse import build
from trainables.models.base import Backbone, conv_bn_relu


@dataclass(frozen=True)
class SmallCnnParams:
    """``model.params`` of ``small_cnn``: ``width`` channels in the first block, doubled at
    each later block up to ``4 * width``; ``blocks`` stride-2 blocks."""

    width: int = field(default=16, metadata={"ge": 4})
    blocks: int = field(default=4, metadata={"ge": 1, "le": 6})


def build_small_cnn(params: Mapping[str, Any], image_size: int = 64) -> Backbone:
    """``blocks`` conv-BN-ReLU blocks (3×3, stride 2; by default 16-32-64-64 channels, ~70k
    parameters). ``image_size`` is not needed: the network is fully convolutional."""
    p = build(SmallCnnParams, params, "model.params")
    blocks: OrderedDict = OrderedDict()
    c_in = 3
    for i in range(p.blocks):
        c_out = p.width * min(2**i, 4)
        blocks[f"block{i + 1}"] = conv_bn_relu(c_in, c_out, stride=2)
        c_in = c_out
    return Backbone(blocks, embed_dim=c_in)
