"""The pretext-task contract shared by every entry of ``PRETEXTS``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from trainables.models import Backbone


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
    """

    encoder: Backbone

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        """The loss on a batch of images ``(N, 3, H, W)`` in [0, 1]; ``g`` drives every draw."""
        raise NotImplementedError

    def after_optimizer_step(self) -> None:
        """Hook after ``optimizer.step()``; nothing by default."""


def mlp_head(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """MoCo v2 / SimCLR projection head: Linear → ReLU → Linear."""
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(inplace=True),
                         nn.Linear(d_hidden, d_out))
