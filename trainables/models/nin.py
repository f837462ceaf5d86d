"""``nin``: the Network-In-Network RotNet of seed 003 (Gidaris et al. 2018, CIFAR experiments).

Seed 003: "RotNet models implemented with NIN architectures ... 3, 4 and 5 convolutional blocks
... each block has 3 conv. layers". Widths, kernels and pooling follow the authors' reference
definition (gidariss/FeatureLearningRotNet, ``architectures/NetworkInNetwork.py``): every conv is
bias-free, followed by BatchNorm and ReLU;

- ``conv1``: 5×5 → 192, 1×1 → 160, 1×1 → 96, then max-pool 3/2 (32 px → 16 px);
- ``conv2``: 5×5 → 192, 1×1 → 192, 1×1 → 192, then average-pool 3/2 (→ 8 px);
- ``conv3`` … ``convB``: 3×3 → 192, 1×1 → 192, 1×1 → 192 (``conv3`` ends with an average-pool
  3/2 when ``avg_pool_conv3`` and B > 3; the CIFAR RotNet configs leave it off).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from trainables.config.parse import build
from trainables.models.base import Backbone, conv_bn_relu

WIDE, MID, NARROW = 192, 160, 96


@dataclass(frozen=True)
class NinParams:
    """``model.params`` of ``nin``.

    Attributes:
        blocks: conv blocks, 3 to 5 (seed 003 trains all three depths).
        avg_pool_conv3: average-pool after ``conv3`` when there are more than 3 blocks (the
            reference code's ``use_avg_on_conv3``; ``False`` in its CIFAR RotNet configs).
    """

    blocks: int = field(default=4, metadata={"ge": 3, "le": 5})
    avg_pool_conv3: bool = False


def _mlpconv(c_in: int, widths: tuple[int, int, int], kernel: int) -> list[nn.Module]:
    # NIN's "mlpconv": one spatial conv, then two 1×1 convs acting as a per-pixel MLP
    return [conv_bn_relu(c_in, widths[0], kernel),
            conv_bn_relu(widths[0], widths[1], 1),
            conv_bn_relu(widths[1], widths[2], 1)]


def build_nin(params: Mapping[str, Any], image_size: int = 32) -> Backbone:
    """The NIN feature blocks ``conv1`` … ``conv<blocks>``; embedding = 192 channels pooled."""
    p = build(NinParams, params, "model.params")
    blocks: OrderedDict = OrderedDict()
    blocks["conv1"] = nn.Sequential(*_mlpconv(3, (WIDE, MID, NARROW), 5),
                                    nn.MaxPool2d(3, stride=2, padding=1))
    blocks["conv2"] = nn.Sequential(*_mlpconv(NARROW, (WIDE, WIDE, WIDE), 5),
                                    nn.AvgPool2d(3, stride=2, padding=1))
    for b in range(3, p.blocks + 1):
        layers = _mlpconv(WIDE, (WIDE, WIDE, WIDE), 3)
        if b == 3 and p.blocks > 3 and p.avg_pool_conv3:
            layers.append(nn.AvgPool2d(3, stride=2, padding=1))
        blocks[f"conv{b}"] = nn.Sequential(*layers)
    return Backbone(blocks, embed_dim=WIDE)
