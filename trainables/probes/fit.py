"""Training and scoring a probe: the objectives (classification, segmentation) and one loop for
heads on cached features and for fine-tuned networks on images. Plain torch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config.probe import ProbeConfig
from trainables.metrics import dice_score, iou_score, soft_dice
from trainables.train import NonFiniteLossError, autocast

Pair = tuple[torch.Tensor, torch.Tensor]


class Objective(Protocol):
    """A probe task: the loss it trains and the per-item scores it is judged by."""

    score: str  # the headline score: the ``metric`` of the table's main row

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def scores(self, out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]: ...


class Classification:
    """Cross-entropy on logits ``(N, K)``; scored by accuracy."""

    score = "accuracy"

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out.float(), target)

    def scores(self, out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"accuracy": (out.argmax(1) == target).float()}


class Segmentation:
    """Binary cross-entropy plus soft-Dice loss on per-pixel logits ``(N, S, S)`` against masks;
    scored by the Dice of the thresholded prediction (probability > 0.5), with IoU and the
    threshold-free soft Dice alongside."""

    score = "dice"

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, mask = out.float(), target.float()
        # soft Dice keeps small foregrounds from being drowned by the background pixels in BCE
        bce = F.binary_cross_entropy_with_logits(logits, mask)
        return bce + (1 - soft_dice(torch.sigmoid(logits), mask)).mean()

    def scores(self, out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        pred = out.float() > 0
        return {"dice": dice_score(pred, target), "iou": iou_score(pred, target),
                "soft_dice": soft_dice(torch.sigmoid(out.float()), target)}


OBJECTIVES: dict[str, Callable[[], Objective]] = {
    "classification": Classification,
    "segmentation": Segmentation,
}


@dataclass(frozen=True)
class ProbeEpoch:
    """One epoch of a probe: running training loss and score, then held-out loss and score."""

    epoch: int
    train_loss: float
    train_score: float
    eval_loss: float
    eval_score: float
    lr: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class FitResult:
    """A trained probe's history and final scores (``metric -> value``: the held-out scores,
    ``eval_loss`` and ``train_<score>`` of the final model in ``eval()`` mode)."""

    history: list[ProbeEpoch]
    final: dict[str, float]


def build_optimizer(model: nn.Module, cfg: ProbeConfig) -> torch.optim.Optimizer:
    """Adam, or SGD with ``momentum``, over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _chunks(n: int, size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    idx = order if order is not None else torch.arange(n)
    for start in range(0, n, size):
        part = idx[start:start + size]
        # a lone leftover item would break BatchNorm's training statistics; it is seen next epoch
        if len(part) == 1 and n > 1 and order is not None:
            continue
        yield part


def _inputs(x: torch.Tensor, idx: torch.Tensor, device: torch.device,
            channels_last: bool) -> torch.Tensor:
    batch = x[idx].to(device, non_blocking=True).float()
    if channels_last and batch.dim() == 4 and device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


@torch.no_grad()
def evaluate(model: nn.Module, data: Pair, objective: Objective, batch_size: int,
             device: torch.device, amp: bool = False, channels_last: bool = False
             ) -> dict[str, float]:
    """Mean loss (``eval_loss``) and mean per-item scores of ``model`` in ``eval()`` mode."""
    model.eval()
    x, y = data
    total = 0.0
    sums: dict[str, float] = {}
    for idx in _chunks(len(x), batch_size):
        target = y[idx].to(device)
        with autocast(device, amp):
            out = model(_inputs(x, idx, device, channels_last))
        total += objective.loss(out, target).item() * len(idx)
        for name, vals in objective.scores(out, target).items():
            sums[name] = sums.get(name, 0.0) + vals.sum().item()
    n = max(len(x), 1)
    return {"eval_loss": total / n, **{k: v / n for k, v in sums.items()}}


def fit(model: nn.Module, train: Pair, held_out: Pair, objective: Objective, cfg: ProbeConfig,
        device: torch.device, g: torch.Generator, *, amp: bool = False,
        channels_last: bool = False,
        on_epoch: Callable[[ProbeEpoch], None] | None = None) -> FitResult:
    """Train ``model`` on ``train`` for ``cfg.epochs`` epochs, scoring ``held_out`` after each.

    No model selection on the held-out split: the final scores are the last epoch's.

    Args:
        model: the head (inputs: cached features) or the fine-tuned network (inputs: images),
            on ``device``.
        train: ``(inputs (N, ...), targets (N, ...))`` on the CPU.
        held_out: the same for the held-out items.
        objective: loss and scores (:data:`OBJECTIVES`).
        cfg: ``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``momentum``, ``weight_decay``,
            ``schedule``.
        device: where the model runs.
        g: shuffles the training items each epoch.
        amp: bf16 autocast on CUDA.
        channels_last: channels-last image batches on CUDA.
        on_epoch: called with each epoch's record.

    Raises:
        NonFiniteLossError: the loss became NaN or infinite.
    """
    opt = build_optimizer(model, cfg)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
             if cfg.schedule == "cosine" else None)
    x, y = train
    history: list[ProbeEpoch] = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        lr, total, score, count = opt.param_groups[0]["lr"], 0.0, 0.0, 0
        for idx in _chunks(len(x), cfg.batch_size, torch.randperm(len(x), generator=g)):
            target = y[idx].to(device)
            with autocast(device, amp):
                out = model(_inputs(x, idx, device, channels_last))
            loss = objective.loss(out, target)
            if not math.isfinite(loss.item()):
                raise NonFiniteLossError(f"probe loss is {loss.item()} at epoch {epoch}; try a "
                                         f"lower probe.lr (now {cfg.lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            score += objective.scores(out.detach(), target)[objective.score].sum().item()
            count += len(idx)
        if sched is not None:
            sched.step()
        held = evaluate(model, held_out, objective, cfg.batch_size, device, amp, channels_last)
        record = ProbeEpoch(epoch, total / max(count, 1), score / max(count, 1),
                            held["eval_loss"], held[objective.score], lr)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    on_train = evaluate(model, train, objective, cfg.batch_size, device, amp, channels_last)
    return FitResult(history, {**held, f"train_{objective.score}": on_train[objective.score]})
