"""``model.*``: the backbone and how it is initialised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal


@dataclass(frozen=True)
class ModelConfig:
    """The network being pre-trained.

    Attributes:
        backbone: registry key in ``trainables.models.BACKBONES`` (``rotsweep list backbones``).
        init: ``random``; ``torchvision`` (an ImageNet state dict from the local file ``weights``);
            ``moco_v2`` (a facebookresearch/moco checkpoint at ``weights``; seed 000 starts here).
        weights: path of the weights file for ``torchvision`` / ``moco_v2`` init; never downloaded.
        params: backbone-specific options (e.g. ``nin``'s ``blocks``), validated by the backbone.
    """

    backbone: str = "small_cnn"
    init: Literal["random", "torchvision", "moco_v2"] = "random"
    weights: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.init != "random" and not self.weights:
            raise ValueError(f"model.weights: init {self.init!r} needs a weights file path")
