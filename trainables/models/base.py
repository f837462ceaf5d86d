"""The backbone contract: named feature blocks applied in order, then a pooled embedding."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

# ImageNet channel statistics: what torchvision and MoCo weights expect after ToTensor().
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """A feature extractor made of named blocks.

    ``forward(x)`` gives the pooled embedding ``(N, embed_dim)``; ``features(x, block)`` gives the
    output of one named block (for saliency targets and probes). Blocks are applied in the
    order given. Inputs are images in [0, 1]; ``input_norm`` (when set) standardises them inside
    the model, so saliency is still the gradient with respect to the [0, 1] image.

    Weight files name tensors their own way (torchvision's ``layer1.0.conv1.weight`` for our
    ``blocks.layer1.0.conv1.weight``): ``source_prefixes`` maps a block name to the prefix its
    tensors carry in such a file, and :meth:`source_key` applies it.

    Args:
        blocks: ``name -> module``, applied in order; each maps ``(N, C, H, W)`` feature maps on.
        embed_dim: channels of the last block's output (the embedding size after pooling).
        source_prefixes: block name → key prefix in the architecture's reference state dict
            (blocks not listed keep ``blocks.<name>.``).
        min_size: the smallest input side, pixels, the architecture accepts.
    """

    def __init__(self, blocks: OrderedDict[str, nn.Module], embed_dim: int,
                 source_prefixes: Mapping[str, str] | None = None, min_size: int = 1) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(blocks)
        self.embed_dim = embed_dim
        self.source_prefixes = dict(source_prefixes or {})
        self.min_size = min_size
        # non-persistent: checkpoints and weight files never carry them
        self.register_buffer("input_mean", torch.zeros(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.ones(1, 3, 1, 1), persistent=False)

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(self.blocks.keys())

    def set_input_norm(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        """Standardise inputs per channel, ``(x - mean) / std``, before the first block."""
        self.input_mean.copy_(torch.tensor(mean).reshape(1, -1, 1, 1))
        self.input_std.copy_(torch.tensor(std).reshape(1, -1, 1, 1))

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.input_mean.to(x.dtype)) / self.input_std.to(x.dtype)

    def source_key(self, key: str) -> str:
        """The name of state-dict entry ``key`` in the architecture's reference weight files."""
        if key.startswith("blocks."):
            name, rest = key.removeprefix("blocks.").split(".", 1)
            if name in self.source_prefixes:
                return self.source_prefixes[name] + rest
        return key

    def adapt_source(self, key: str, value: torch.Tensor) -> torch.Tensor:
        """Reshape a tensor read from a weight file for entry ``key`` (identity here; ViT
        resizes its position embedding to its own token grid)."""
        return value

    def check_block(self, block: str | None) -> None:
        """Raise ``KeyError`` naming ``block`` and :attr:`block_names` if it is not a block."""
        if block is not None and block not in self.blocks:
            raise KeyError(f"unknown block {block!r}; expected one of {list(self.block_names)}")

    def features(self, x: torch.Tensor, block: str | None = None) -> torch.Tensor:
        """The output of ``block`` (the last block when ``None``): ``(N, C_b, H_b, W_b)``.

        Raises:
            KeyError: ``block`` is not one of :attr:`block_names`.
        """
        self.check_block(block)
        return self.run_blocks(x, block)

    def run_blocks(self, x: torch.Tensor, block: str | None) -> torch.Tensor:
        """Normalise the input, then apply the blocks in order up to and including ``block``
        (all of them when ``None``)."""
        x = self.normalize_input(x)
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


def named(**modules: nn.Module) -> nn.Sequential:
    """An ``nn.Sequential`` whose children keep the given names (so state-dict keys keep the
    names of the reference architecture)."""
    return nn.Sequential(OrderedDict(modules))


def children(parent: nn.Module, names: list[str]) -> nn.Sequential:
    """``parent``'s children ``names`` (e.g. ``["2", "3"]`` of torchvision's ``features``) as one
    sequential block that keeps their names."""
    sub = dict(parent.named_children())
    return nn.Sequential(OrderedDict((n, sub[n]) for n in names))
