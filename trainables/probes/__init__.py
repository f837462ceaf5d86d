"""Probes: measure what pre-training put into a network's features, block by block.

Adding a probe = one ``build_x(HeadInput, ProbeConfig) -> nn.Module`` in
:mod:`trainables.probes.heads` and one line in :data:`PROBES` saying what it is trained on.

| key | trains | on | scored by |
|---|---|---|---|
| ``linear`` | one linear layer (seed 004) | a block's frozen, pooled features | accuracy |
| ``mlp`` | three FC layers (seed 003) | a block's frozen, pooled features | accuracy |
| ``finetune`` | the encoder up to the block + a linear head | images | accuracy |
| ``segmentation`` | a light conv decoder | a block's frozen maps | Dice vs. masks |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

from trainables.config.probe import ProbeConfig
from trainables.probes.downstream import Task
from trainables.probes.heads import (
    HeadInput,
    build_finetune,
    build_linear,
    build_mlp,
    build_segmentation,
)

Inputs = Literal["pooled", "spatial", "images"]


@dataclass(frozen=True)
class Probe:
    """One kind of probe.

    Attributes:
        task: the downstream sets it runs on: ``classification`` (items with a ``label``) or
            ``segmentation`` (mask sets).
        inputs: what its model reads: ``pooled`` frozen features ``(N, C · pool²)``, ``spatial``
            frozen maps ``(N, C, h, w)``, or ``images`` (the encoder is part of the model).
        build: makes the trainable model.
    """

    task: Task
    inputs: Inputs
    build: Callable[[HeadInput, ProbeConfig], nn.Module]


PROBES: dict[str, Probe] = {
    "finetune": Probe("classification", "images", build_finetune),
    "linear": Probe("classification", "pooled", build_linear),
    "mlp": Probe("classification", "pooled", build_mlp),
    "segmentation": Probe("segmentation", "spatial", build_segmentation),
}

__all__ = ["PROBES", "HeadInput", "Probe", "build_probe"]


def build_probe(name: str) -> Probe:
    """The probe registered as ``name``.

    Raises:
        KeyError: ``name`` is not registered; the message lists the registered names.
    """
    try:
        return PROBES[name]
    except KeyError:
        raise KeyError(f"probe.probes: unknown probe {name!r}; expected one of "
                       f"{sorted(PROBES)}") from None
