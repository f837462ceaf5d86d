"""A toy pretext task as a user would add one: this module-level class, and the one line
``PRETEXTS["darkened"] = Entry(Darkened, Darkened.Params)`` (tests/trainables/
test_config_spec.py). It imports only what a task module needs, so Ray's workers can load it
while the registries are being imported (see that test's ``SITECUSTOMIZE``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from trainables.pretext.base import Pretext, PretextParams, StepResult


class Darkened(Pretext):
    """A toy pretext task: was the image darkened by ``factor``? One linear head on the
    embedding; the labels are drawn with ``g``."""

    @dataclass(frozen=True)
    class Params(PretextParams):
        """``factor``: the brightness of a darkened image (0 black, 1 unchanged)."""

        task: ClassVar[str] = "darkened"
        factor: float = dataclasses.field(default=0.3, metadata={"ge": 0.0, "lt": 1.0})

        def describe(self) -> str:
            return f"darkened ×{self.factor:g}"

    def __init__(self, encoder: Any, cfg: Any, params: Params) -> None:
        super().__init__(encoder, cfg, params)
        self.head = nn.Linear(encoder.embed_dim, 2)

    def step(self, images: torch.Tensor, g: torch.Generator) -> StepResult:
        dark = torch.rand(images.shape[0], generator=g) < 0.5  # N
        x = torch.where(dark[:, None, None, None], images * self.params.factor, images)
        logits = self.head(self.encoder(x))  # N x 2
        loss = F.cross_entropy(logits, dark.long())
        return StepResult(loss, (logits.argmax(1) == dark.long()).float().mean().item())
