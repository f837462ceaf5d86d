"""The backbone contract: named feature blocks applied in order, then a pooled embedding."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class Backbone(nn.Module):
    """A feature extractor made of named blocks.

    ``forward(x)`` gives the pooled embedding ``(N, embed_dim)``; ``features(x, block)`` gives the
    output of one named block (for saliency targets and probes). Blocks are applied in the
    order given.

    Args:
        blocks: ``name -> module``, applied in order; each maps ``(N, C, H, W)`` feature maps on.
        embed_dim: channels of the last block's output (the embedding size after pooling).
    """

    def __init__(self, blocks: OrderedDict[str, nn.Module], embed_dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(blocks)
        self.embed_dim = embed_dim

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(self.blocks.keys())

    def features(self, x: torch.Tensor, block: str | None = None) -> torch.Tensor:
        """The output of ``block`` (the last block when ``None``): ``(N, C_b, H_b, W_b)``.

        Raises:
            KeyError: ``block`` is not one of :attr:`block_names`.
        """
        if block is not None and block not in self.blocks:
            raise KeyError(f"unknown block {block!r}; expected one of {list(self.block_names)}")
        for name, module in self.blocks.items():
            x = module(x)
            if name == block:
                break
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: N x 3 x H x W -> features N x D x h x w -> embedding N x D
        return self.features(x).mean(dim=(-2, -1))


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """``Conv2d`` (no bias) → ``BatchNorm2d`` → ``ReLU``, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )
