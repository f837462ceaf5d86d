"""The pretext-task contract shared by every entry of ``PRETEXTS``: the task module and its
params dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.config import PretextConfig, TrialConfig
from trainables.models import Backbone


@dataclass(frozen=True)
class PretextParams:
    """Base of a task's ``pretext.params`` dataclass (frozen; fields with defaults, range
    metadata ``ge``/``gt``/``le``/``lt`` as in every config section).

    A task overrides what applies to it:

    * :meth:`describe`: the ``pretraining`` column of every table and the MLflow tag, e.g.
      ``moco_rotation θ=90°`` or ``jigsaw perms=100``; empty means the task's name alone.
    * :meth:`train_angles`: the rotation angle set the task trains on (the ``train_angles``
      column), ``None`` for tasks that do not rotate.
    * :meth:`trial_problems`: what the task refuses in the rest of the trial (a backbone, an
      image size), one message per problem starting with its dotted key; checked by
      ``rotsweep validate`` before anything runs.
    """

    def describe(self) -> str:
        """One short label of this pre-training (task name and its defining setting)."""
        return ""

    def train_angles(self) -> tuple[float, ...] | None:
        """The train angles in degrees, or ``None`` for a task without rotations."""
        return None

    def trial_problems(self, cfg: TrialConfig) -> list[str]:
        """Problems of this task with the rest of trial ``cfg`` (none by default)."""
        return []


@dataclass
class StepResult:
    """One training step's outcome: the loss to minimise and, where the task has one, the
    fraction of correct pretext predictions in the batch."""

    loss: torch.Tensor
    accuracy: float | None = None


class Pretext(nn.Module):
    """A self-supervised task around a backbone.

    Subclasses implement :meth:`step`; :attr:`encoder` is the network whose features the study
    measures (saliency, probes), and :meth:`after_optimizer_step` runs after each optimiser step
    (MoCo's momentum update, for example).

    Args:
        encoder: the backbone, already initialised.
        cfg: ``pretext.*``: the generic settings (``crop``, ``augment``).
        params: the task's own settings, an instance of its ``PRETEXTS`` entry's params
            dataclass (``None`` for a task without params).
    """

    encoder: Backbone
    # state_dict prefixes needed to continue training but not to evaluate the trained task
    # (MoCo's key encoder and queue): left out of the content-addressed checkpoint
    training_only: tuple[str, ...] = ()

    def __init__(self, encoder: Backbone | None = None, cfg: PretextConfig | None = None,
                 params: Any = None) -> None:
        super().__init__()
        if encoder is not None:  # a subclass may set its encoder itself
            self.encoder = encoder
        self.cfg = cfg if cfg is not None else PretextConfig()
        self.params = params

    def evaluation_state(self) -> dict[str, torch.Tensor]:
        """The state that evaluation and probes need: ``state_dict`` without
        :attr:`training_only` entries."""
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith(self.training_only)}

    def load_evaluation_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load an :meth:`evaluation_state`; every other missing key must be training-only."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        stray = [k for k in missing if not k.startswith(self.training_only)]
        if stray or unexpected:
            raise KeyError(f"checkpoint does not fit {type(self).__name__}: missing {stray}, "
                           f"unexpected {list(unexpected)}")

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        """The loss on a batch of images ``(N, 3, H, W)`` in [0, 1]; ``g`` drives every draw."""
        raise NotImplementedError

    def after_optimizer_step(self) -> None:
        """Hook after ``optimizer.step()``; nothing by default."""


def mlp_head(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """MoCo v2 / SimCLR projection head: Linear → ReLU → Linear."""
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True),
                         nn.Linear(d_hidden, d_out))
