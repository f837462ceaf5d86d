"""``vit_b_16``: torchvision's ViT-B/16 as a named-block backbone whose blocks give maps.

A ViT carries a token sequence ``(N, 1 + h·w, C)`` (class token first) from block to block;
:meth:`VitBackbone.features` returns a block's patch tokens laid out on their grid,
``(N, C, h, w)`` with h = H / 16, so saliency targets and probes treat it like a CNN map. The
embedding is the class token after the final LayerNorm, as in torchvision.

The model is built for ``image_size`` (a multiple of 16, from ``data.image_size``); an input of
another size, or a weight file made at another size (ImageNet: 224 px), gets its position
embedding resized bicubically to its token grid.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config.parse import build
from trainables.models.base import Backbone

if TYPE_CHECKING:
    from torchvision.models import VisionTransformer

PATCH = 16


def resize_pos_embedding(pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resize a ``(1, 1 + g·g, C)`` position embedding (class token first) to ``grid``
    ``(h, w)``, bicubically; the class token's entry is kept."""
    cls, patches = pos[:, :1], pos[:, 1:]
    side = math.isqrt(patches.shape[1])
    if (side, side) == grid:
        return pos
    c = patches.shape[-1]
    img = patches.reshape(1, side, side, c).permute(0, 3, 1, 2)
    img = F.interpolate(img.float(), size=grid, mode="bicubic", align_corners=False)
    patches = img.to(pos.dtype).permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], c)
    return torch.cat([cls, patches], dim=1)


class VitEmbed(nn.Module):
    """Patchify (16×16 conv), prepend the class token, add the position embedding."""

    def __init__(self, net: VisionTransformer) -> None:
        super().__init__()
        self.conv_proj = net.conv_proj
        self.class_token = net.class_token
        self.pos_embedding = net.encoder.pos_embedding
        self.dropout = net.encoder.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x H x W -> patches N x C x h x w -> tokens N x (1 + h*w) x C
        patches = self.conv_proj(x)
        n, c, h, w = patches.shape
        tokens = patches.reshape(n, c, h * w).transpose(1, 2)
        tokens = torch.cat([self.class_token.expand(n, -1, -1), tokens], dim=1)
        return self.dropout(tokens + resize_pos_embedding(self.pos_embedding, (h, w)))


class VitBackbone(Backbone):
    """ViT blocks ``embed``, ``layer1`` … ``layer12`` and ``norm``; see the module docstring."""

    def features(self, x: torch.Tensor, block: str | None = None) -> torch.Tensor:
        """Block ``block``'s patch tokens as a map ``(N, C, H/16, W/16)`` (last block if None).

        Raises:
            KeyError: ``block`` is not one of :attr:`block_names`.
        """
        self.check_block(block)
        tokens = self._tokens(x, block)
        n, _, c = tokens.shape
        h, w = x.shape[-2] // PATCH, x.shape[-1] // PATCH
        return tokens[:, 1:].transpose(1, 2).reshape(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the class token after the final LayerNorm: N x C
        return self._tokens(x, None)[:, 0]

    def _tokens(self, x: torch.Tensor, block: str | None) -> torch.Tensor:
        if x.shape[-1] % PATCH or x.shape[-2] % PATCH:
            raise ValueError(f"vit_b_16 needs image sides that are multiples of {PATCH}, got "
                             f"{tuple(x.shape[-2:])} (set data.image_size accordingly)")
        return self.run_blocks(x, block)

    def source_key(self, key: str) -> str:
        rest = key.removeprefix("blocks.")
        if rest.startswith("embed."):
            inner = rest.removeprefix("embed.")
            return "encoder.pos_embedding" if inner == "pos_embedding" else inner
        if rest.startswith("norm."):
            return "encoder.ln." + rest.removeprefix("norm.")
        layer, tail = rest.split(".", 1)
        return f"encoder.layers.encoder_layer_{int(layer.removeprefix('layer')) - 1}.{tail}"

    def adapt_source(self, key: str, value: torch.Tensor) -> torch.Tensor:
        if key.endswith("embed.pos_embedding"):
            n_patches = self.blocks["embed"].pos_embedding.shape[1] - 1
            side = math.isqrt(n_patches)
            return resize_pos_embedding(value, (side, side))
        return value


@dataclass(frozen=True)
class VitParams:
    """``model.params`` of ``vit_b_16``: none (ViT-B/16 is fixed; the size is the data's)."""


def build_vit_b_16(params: Mapping[str, Any], image_size: int = 224) -> Backbone:
    """torchvision ViT-B/16 (Dosovitskiy et al. 2021) for ``image_size`` px inputs, no head.

    Raises:
        ValueError: ``image_size`` is not a multiple of 16.
    """
    build(VitParams, params, "model.params")
    if image_size % PATCH:
        raise ValueError(f"model.backbone 'vit_b_16': data.image_size {image_size} is not a "
                         f"multiple of the patch size {PATCH}")
    from torchvision import models as tvm  # when built: the driver validates without it

    net = tvm.vit_b_16(weights=None, image_size=image_size)
    blocks: OrderedDict = OrderedDict()
    blocks["embed"] = VitEmbed(net)
    for i, layer in enumerate(net.encoder.layers):
        blocks[f"layer{i + 1}"] = layer
    blocks["norm"] = net.encoder.ln
    return VitBackbone(blocks, embed_dim=net.hidden_dim, min_size=PATCH)
