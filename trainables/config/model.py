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
        init: ``random``; ``torchvision`` (a state dict of the torchvision architecture from
            the local file ``weights``); ``moco_v2`` (a facebookresearch/moco checkpoint at
            ``weights``, e.g. ``moco_v2_800ep_pretrain.pth.tar``; seed 000 starts here: its
            query encoder initialises the backbone, and MoCo's key encoder and queue start
            from it afresh).
        weights: path or URI of the weights file for ``torchvision`` / ``moco_v2``; never
            downloaded; ignored with ``random`` (so ``init`` can be a study axis).
        input_norm: standardise inputs with the ImageNet channel mean/std inside the model
            (what ImageNet weights expect; seed 000 "normalized" its images): ``imagenet``,
            ``none``, or ``auto`` (``imagenet`` for pretrained ``init``, ``none`` for random).
        params: backbone-specific options (e.g. ``nin``'s ``blocks``), validated by the
            params dataclass of the backbone's ``BACKBONES`` entry (``trainables.spec``).
    """

    backbone: str = "small_cnn"
    init: Literal["random", "torchvision", "moco_v2"] = "random"
    weights: str | None = None
    input_norm: Literal["auto", "imagenet", "none"] = "auto"
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.init != "random" and not self.weights:
            raise ValueError(f"model.weights: init {self.init!r} needs a weights file path")

    @property
    def normalizes_input(self) -> bool:
        """Whether inputs are standardised with the ImageNet statistics."""
        if self.input_norm == "auto":
            return self.init != "random"
        return self.input_norm == "imagenet"
