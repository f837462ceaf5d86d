"""The pre-training loop: optimisers and schedules as the seeds ran them, non-finite losses,
resuming, and the must-show speed check (RotNet learns rotations, MoCo's loss falls)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator

import pytest
import torch

from trainables.config import TrainConfig
from trainables.pretext import Pretext, StepResult
from trainables.pretext.rotnet import rotation_batch
from trainables.spec import parse_trial
from trainables.train import (
    NonFiniteLossError,
    autocast,
    build_optimizer,
    build_scheduler,
    pretrain,
)
from trainables.trial import build_task


def ells(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """Easy data whose rotation is learnable: one "L" (a bar and a foot, unequal arms) per
    image at a random place inside the inscribed disk, random brightness, noisy background."""
    images = 0.1 + 0.05 * torch.rand(n, 3, size, size, generator=g)
    for i in range(n):
        arm = int(torch.randint(size // 4, size // 3 + 1, (1,), generator=g))
        t = max(2, arm // 4)
        y0, x0 = (int(v) for v in torch.randint(size // 4, size - size // 4 - arm, (2,),
                                                generator=g))
        fg = 0.6 + 0.4 * float(torch.rand(1, generator=g))
        images[i, :, y0:y0 + arm, x0:x0 + t] = fg  # the bar
        images[i, :, y0 + arm - t:y0 + arm, x0:x0 + arm // 2 + t] = fg  # a shorter foot
    return images


def test_rotnet_learns_and_moco_loss_falls() -> None:
    g = torch.Generator().manual_seed(0)
    data, test = ells(512, 32, g), ells(128, 32, torch.Generator().manual_seed(1))
    base = {"data": {"image_size": 32}, "model": {"params": {"width": 8}},
            "train": {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}}

    rotnet_cfg = parse_trial({**base, "pretext": {"name": "rotnet",
                                                  "params": {"angles": [0, 90, 180, 270]},
                                                  "augment": "none", "crop": "disk"}})
    torch.manual_seed(0)
    rotnet = build_task(rotnet_cfg, torch.device("cpu"))
    _train(rotnet, data, rotnet_cfg.train, 200, g)
    rotnet.eval()
    with torch.no_grad():
        x, y = rotation_batch(test, rotnet.params.angles, True, g, "disk")
        accuracy = (rotnet.logits(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9

    moco_cfg = parse_trial({**base, "pretext": {"name": "moco_rotation", "augment": "paper",
                                                "params": {"angles": [90], "queue_size": 256,
                                                           "momentum": 0.99}}})
    torch.manual_seed(0)
    moco = build_task(moco_cfg, torch.device("cpu"))
    losses = _train(moco, data, moco_cfg.train, 200, g)
    early, late = statistics.mean(losses[20:40]), statistics.mean(losses[-20:])
    # the queue is full of real keys after 8 steps; chance level is log(1 + K) = 5.55
    assert late < early - 0.5 and late < math.log(257), (early, late)


def _train(task: Pretext, data: torch.Tensor, cfg: TrainConfig, steps: int,
           g: torch.Generator) -> list[float]:
    opt = build_optimizer(task.parameters(), cfg)
    losses = []
    for _ in range(steps):
        out = task.step(data[torch.randint(len(data), (32,), generator=g)], g)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        task.after_optimizer_step()
        losses.append(out.loss.item())
    return losses


class Exploding(Pretext):
    """A task whose loss is NaN from step ``bad_step`` of epoch ``bad_epoch`` on."""

    def __init__(self, bad_epoch: int, bad_step: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.bad, self.epoch, self.calls = (bad_epoch, bad_step), 1, 0

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        step = self.calls % 3
        self.epoch, self.calls = self.calls // 3 + 1, self.calls + 1
        loss = self.w * images.mean()
        if (self.epoch, step) >= self.bad:
            loss = loss * float("nan")
        return StepResult(loss=loss.sum())


def _three_batches(epoch: int) -> Iterator[torch.Tensor]:
    return iter([torch.rand(2, 3, 4, 4) for _ in range(3)])


def test_non_finite_loss_names_epoch_and_step() -> None:
    cfg = TrainConfig(epochs=3, lr=0.1)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2, step 1"):
        pretrain(Exploding(2, 1), _three_batches, cfg, torch.device("cpu"),
                 torch.Generator(), lambda m, s: None)


def test_optimizers_as_the_seeds_ran_them() -> None:
    task = build_task(parse_trial({"pretext": {"params": {"queue_size": 8}}}), torch.device("cpu"))
    sgd = build_optimizer(task.parameters(),
                          TrainConfig(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["weight_decay"] == 5e-4
    trainable = {id(p) for p in task.parameters() if p.requires_grad}
    in_opt = {id(p) for group in sgd.param_groups for p in group["params"]}
    assert in_opt == trainable  # MoCo's key encoder is not optimised
    rms = build_optimizer(task.parameters(), TrainConfig(optimizer="rmsprop", lr=1e-4,
                                                         momentum=0.5))
    assert isinstance(rms, torch.optim.RMSprop) and rms.defaults["momentum"] == 0.5
    assert isinstance(build_optimizer(task.parameters(), TrainConfig(optimizer="adam")),
                      torch.optim.Adam)
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(optimizer="adam", nesterov=True)


def _lrs(cfg: TrainConfig) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(opt, cfg)
    out = []
    for _ in range(cfg.epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_schedule_of_seed_003() -> None:
    lrs = _lrs(TrainConfig(epochs=100, lr=0.1, schedule="step", milestones=(30, 60, 80),
                           gamma=0.2))
    # epoch e (1-based) runs with lrs[e - 1]: 0.1 up to 30, /5 after each milestone
    for epoch, expected in [(1, 0.1), (30, 0.1), (31, 0.02), (60, 0.02), (61, 0.004),
                            (81, 0.0008), (100, 0.0008)]:
        assert lrs[epoch - 1] == pytest.approx(expected)


def test_cosine_schedule() -> None:
    lrs = _lrs(TrainConfig(epochs=10, lr=0.01, schedule="cosine"))
    for e, lr in enumerate(lrs):
        assert lr == pytest.approx(0.005 * (1 + math.cos(math.pi * e / 10)))


def test_resume_gives_the_uninterrupted_result() -> None:
    cfg = parse_trial({"data": {"image_size": 16}, "model": {"params": {"width": 4}},
                       "pretext": {"params": {"queue_size": 8}}, "train": {"epochs": 2}})
    data = torch.rand(4, 8, 3, 16, 16, generator=torch.Generator().manual_seed(0))

    def batches(epoch: int) -> Iterator[torch.Tensor]:
        return iter(data[(epoch - 1) * 2:(epoch - 1) * 2 + 2])

    class Interrupted(Exception):
        pass

    def run(stop_after: int | None, resume=None):
        torch.manual_seed(0)
        task = build_task(cfg, torch.device("cpu"))
        g = torch.Generator().manual_seed(0)
        states = []

        def on_epoch(metrics, snapshot) -> None:
            states.append(snapshot())
            if metrics.epoch == stop_after:
                raise Interrupted

        try:
            hist = pretrain(task, batches, cfg.train, torch.device("cpu"), g, on_epoch, resume)
        except Interrupted:
            hist = []
        return task, hist, states

    full, full_hist, _ = run(None)
    _, _, states = run(1)
    resumed, hist, _ = run(None, resume=states[-1])
    assert [h.loss for h in hist] == [h.loss for h in full_hist]
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_autocast_is_bf16_on_cuda_and_off_on_cpu() -> None:
    assert not isinstance(autocast(torch.device("cpu"), True), torch.autocast)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        ctx = autocast(torch.device("cuda"), True)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    assert not isinstance(autocast(torch.device("cuda"), False), torch.autocast)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None
