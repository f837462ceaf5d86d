"""The pre-training loop: optimiser, schedule, device, non-finite checks. No Ray, no MLflow."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.config import TrainConfig
from trainables.pretext import Pretext


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the trial stops instead of training on garbage."""


@dataclass
class EpochMetrics:
    """What one epoch of pre-training reports (the ``pretext`` table's columns)."""

    epoch: int
    loss: float
    pretext_accuracy: float | None
    lr: float

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "loss": self.loss,
                "pretext_accuracy": self.pretext_accuracy, "lr": self.lr}


def resolve_device(cfg: TrainConfig) -> torch.device:
    """``auto``: CUDA when this process can see a GPU (Ray sets ``CUDA_VISIBLE_DEVICES`` to the
    trial's GPUs, and to none for a CPU-only trial), else the CPU."""
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
        return torch.device("cuda")
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when ``enabled``; a no-op context on the CPU."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(params: Iterator[nn.Parameter] | list[nn.Parameter], cfg: TrainConfig
                    ) -> torch.optim.Optimizer:
    """SGD (momentum, weight decay, optional Nesterov; seeds 000 and 003), Adam or RMSprop
    (seed 002) as ``cfg`` says; frozen parameters (MoCo's key encoder) are left out."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig
                    ) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch schedule: constant, cosine to 0 over ``epochs``, or step (× ``gamma`` at each
    of ``milestones``; seed 003: 0.2 at 30, 60, 80)."""
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones), gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@dataclass
class TrainState:
    """Everything needed to continue pre-training after the epoch ``epoch`` (0 = not started)."""

    epoch: int
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    generator: torch.Tensor
    history: list[dict[str, Any]]


def pretrain(
    pretext: Pretext,
    batches: Callable[[int], Iterator[torch.Tensor]],
    cfg: TrainConfig,
    device: torch.device,
    g: torch.Generator,
    on_epoch: Callable[[EpochMetrics, Callable[[], TrainState]], None],
    resume: TrainState | None = None,
) -> list[EpochMetrics]:
    """Train ``pretext`` for ``cfg.epochs`` epochs.

    Args:
        pretext: the task (owns the encoder and heads), already on ``device``.
        batches: ``epoch -> iterator of image batches (N, 3, H, W)`` in [0, 1].
        cfg: ``train.*``.
        device: where the batches are moved.
        g: the generator driving augmentations and draws inside the steps.
        on_epoch: called after every epoch with its metrics and a function that snapshots the
            state (so a caller that checkpoints only pays for it when it wants one).
        resume: continue from this state (after its ``epoch``).

    Returns:
        Every epoch's metrics, those before ``resume`` included.

    Raises:
        NonFiniteLossError: the loss was NaN or infinite (the step and epoch are named).
    """
    opt = build_optimizer(pretext.parameters(), cfg)
    sched = build_scheduler(opt, cfg)
    start = 0
    history: list[EpochMetrics] = []
    if resume is not None:
        pretext.load_state_dict(resume.model)
        opt.load_state_dict(resume.optimizer)
        sched.load_state_dict(resume.scheduler)
        g.set_state(resume.generator)
        start = resume.epoch
        history = [EpochMetrics(**h) for h in resume.history]
    channels_last = cfg.channels_last and device.type == "cuda"
    if channels_last:
        pretext.to(memory_format=torch.channels_last)
    for epoch in range(start + 1, cfg.epochs + 1):
        metrics = train_epoch(pretext, batches(epoch), opt, cfg, device, g, epoch,
                              channels_last)
        sched.step()
        history.append(metrics)

        def snapshot(epoch: int = epoch) -> TrainState:
            return TrainState(epoch, pretext.state_dict(), opt.state_dict(),
                              sched.state_dict(), g.get_state(),
                              [h.as_dict() for h in history])

        on_epoch(metrics, snapshot)
    return history


def train_epoch(pretext: Pretext, batches: Iterator[torch.Tensor], opt: torch.optim.Optimizer,
                cfg: TrainConfig, device: torch.device, g: torch.Generator, epoch: int,
                channels_last: bool = False) -> EpochMetrics:
    """One pass: step, check the loss is finite, optimise, run the task's post-step hook.

    The epoch's loss and accuracy are means over images (batches weighted by their size); the
    learning rate is the one the epoch ran with.

    Raises:
        NonFiniteLossError: the loss was NaN or infinite (the epoch and step are named).
    """
    pretext.train()
    lr = opt.param_groups[0]["lr"]
    total, correct, count, with_acc = 0.0, 0.0, 0, 0
    for step, images in enumerate(batches):
        x = images.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, cfg.amp):
            out = pretext.step(x, g)
        loss = out.loss.item()
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"pre-training loss is {loss} at epoch {epoch}, step {step}; "
                f"try a lower train.lr (now {cfg.lr})"
            )
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        pretext.after_optimizer_step()
        n = x.shape[0]
        total += loss * n
        count += n
        if out.accuracy is not None:
            correct += out.accuracy * n
            with_acc += n
    return EpochMetrics(epoch, total / max(count, 1),
                        correct / with_acc if with_acc else None, lr)
