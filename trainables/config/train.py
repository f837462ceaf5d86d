"""``train.*``: the optimisation loop of pre-training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and device of pre-training.

    The defaults are the CPU demo's (``conf/studies/smoke.yaml``: a small CNN at 64 px in about
    a minute): SGD with momentum 0.9 and weight decay 1e-4 as seed 000, but batch 32 and lr 0.03
    where seed 000 has batch 16 and lr 0.01 for 100 epochs (``conf/studies/saranchuk2024.yaml``
    states those).

    Attributes:
        epochs: passes over the pre-training set (seed 000: 100; seed 003: 100).
        batch_size: images per step, before any rotation copies (seed 000: 16; seed 003: 128).
        optimizer: ``sgd`` (momentum, weight decay), ``adam`` or ``rmsprop`` (seed 002).
        lr: base learning rate (seed 000: 0.01; seed 003: 0.1).
        momentum: SGD/RMSprop momentum (seeds 000, 003: 0.9; seed 002's RMSprop: 0.5).
        nesterov: Nesterov momentum for SGD (the RotNet reference configs use it; seed 003's
            text does not say).
        weight_decay: L2 penalty.
        schedule: ``none``, ``cosine`` (to 0 over ``epochs``) or ``step`` (× ``gamma`` at each of
            ``milestones``; seed 003: ÷5 at 30/60/80).
        milestones: epochs at which the ``step`` schedule multiplies the rate by ``gamma``.
        gamma: the ``step`` factor.
        device: ``auto`` (CUDA when the trial was given a GPU), ``cpu`` or ``cuda``.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last: channels-last memory format on CUDA (ignored on CPU).
        num_threads: torch CPU threads per trial (0 = torch's default).
        checkpoint_cache: what the content-addressed cache keeps of a pre-training:
            ``evaluation`` (encoder and heads, no MoCo key encoder or queue; ResNet-50 MoCo:
            112 MB), ``keep`` (the task's whole state; 225 MB) or ``none`` (nothing kept or
            reused).
    """

    epochs: int = field(default=3, metadata={"ge": 1})
    batch_size: int = field(default=32, metadata={"ge": 1})
    optimizer: Literal["sgd", "adam", "rmsprop"] = "sgd"
    lr: float = field(default=0.03, metadata={"gt": 0.0})
    momentum: float = field(default=0.9, metadata={"ge": 0.0, "lt": 1.0})
    nesterov: bool = False
    weight_decay: float = field(default=1e-4, metadata={"ge": 0.0})
    schedule: Literal["none", "cosine", "step"] = "cosine"
    milestones: tuple[int, ...] = field(default=(), metadata={"ge": 1})
    gamma: float = field(default=0.2, metadata={"gt": 0.0, "le": 1.0})
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    channels_last: bool = True
    num_threads: int = field(default=0, metadata={"ge": 0})
    checkpoint_cache: Literal["keep", "evaluation", "none"] = "evaluation"

    def __post_init__(self) -> None:
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError("train.nesterov: needs train.optimizer 'sgd' and momentum > 0")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"train.milestones: expected increasing epochs, got "
                             f"{list(self.milestones)}")
