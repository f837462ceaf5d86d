"""Saliency targets: the scalar (or scalars) whose input gradient is the map.

A target is called on a batch of prepared inputs with the :class:`Jobs` that say which image,
angle, noise copy and output each input stands for. ``n_outputs`` > 1 means every (image, angle,
copy) is evaluated once per output (``embedding_max``'s neurons) and the engine combines the
outputs' maps by an element-wise max.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config import SaliencyConfig
from trainables.models import Backbone
from trainables.pretext import Pretext
from trainables.rotation import FieldOfView, apply_fov, rotate
from trainables.train import autocast

# inputs per pass when saliency.max_batch is None: on the CPU 64 beats 256 by 1.3–1.6×
# (bench/saliency.py); a GPU wants larger batches to fill its cores
AUTO_MAX_BATCH = {"cpu": 64, "cuda": 256}

TARGETS = ("embedding_max", "pair_similarity", "rotation_logit", "rotation_max")


@dataclass(frozen=True)
class Jobs:
    """What each input of a batch stands for (all ``(b,)`` long tensors on the device).

    Attributes:
        image: index into the ``(N, C, H, W)`` images.
        angle: index into the evaluation angles.
        sample: the noise copy (or path step).
        output: which of the target's ``n_outputs`` is differentiated.
        noise: ``(b, C, H, W)`` the noise added to each input (σ·ε), ``None`` without noise.
        ids: the distinct values of ``image``, ascending, on the host.
    """

    image: torch.Tensor
    angle: torch.Tensor
    sample: torch.Tensor
    output: torch.Tensor
    noise: torch.Tensor | None = None
    ids: tuple[int, ...] = ()


class Target(nn.Module):
    """Base of the targets: ``forward(x (b, C, H, W), jobs) -> (b,)`` scores.

    Attributes:
        n_outputs: outputs per (image, angle, copy); the engine takes the max of their maps.
        model: the module whose ReLUs guided backprop changes and that must be frozen.
        encoder: the backbone (Grad-CAM reads its blocks).
    """

    n_outputs: int = 1

    def __init__(self, model: nn.Module, encoder: Backbone, amp: bool) -> None:
        super().__init__()
        self.model = model
        self.encoder = encoder
        self.amp = amp

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's pooled embedding ``(b, D)`` in float32 (bf16 autocast on CUDA)."""
        with autocast(x.device, self.amp):
            return self.encoder(x).float()

    def prepare_noise(self, image: int, noise: torch.Tensor) -> None:
        """Called once per image with all its noise ``(S, C, H, W)`` before it is used (the
        same at every angle); nothing by default."""


class PairSimilarity(Target):
    """cos(f(rotated view), f(reference view)), the reference being the unrotated image.

    With ``shared_noise`` (explain-cl) the reference is the unrotated image plus the same noise
    as the input; otherwise the clean unrotated image, embedded once. The noisy references do
    not depend on the angle, so each image's S of them are embedded once, not once per angle.
    Note that at 0° with shared noise both views are equal, so the cosine is at its maximum and
    its gradient ~ 0.
    """

    def __init__(self, pretext: Pretext, images: torch.Tensor, crop: FieldOfView, amp: bool,
                 shared_noise: bool, max_batch: int) -> None:
        super().__init__(pretext.encoder, pretext.encoder, amp)
        # the reference is the image as 0° sees it: the same resampling as every rotated input
        self.images, self.crop, self.shared_noise = rotate(images, 0.0), crop, shared_noise
        self.max_batch = max_batch
        with torch.no_grad():
            self.ref = self.embed(apply_fov(self.images, crop))  # N x D
        self.noisy_ref: dict[int, torch.Tensor] = {}  # image -> S x D

    def prepare_noise(self, image: int, noise: torch.Tensor) -> None:
        if not self.shared_noise:
            return
        views = apply_fov(self.images[image] + noise, self.crop)  # S x C x H x W
        with torch.no_grad():
            self.noisy_ref[image] = torch.cat([self.embed(v)
                                               for v in views.split(self.max_batch)])

    def forward(self, x: torch.Tensor, jobs: Jobs) -> torch.Tensor:
        z = self.embed(x)  # b x D
        if self.shared_noise and jobs.noise is not None:
            for old in [i for i in self.noisy_ref if i < jobs.ids[0]]:
                del self.noisy_ref[old]
            if len(jobs.ids) == 1:
                ref = self.noisy_ref[jobs.ids[0]][jobs.sample]
            else:
                bank = torch.stack([self.noisy_ref[i] for i in jobs.ids])  # U x S x D
                slot = torch.searchsorted(torch.tensor(jobs.ids, device=x.device), jobs.image)
                ref = bank[slot, jobs.sample]
        else:
            ref = self.ref[jobs.image]
        return F.cosine_similarity(z, ref, dim=1)


class _RotationHead(Target):
    """A target read off the pretext's rotation head (``pretext.logits``)."""

    def __init__(self, pretext: Pretext, amp: bool, name: str) -> None:
        logits = getattr(pretext, "logits", None)
        if logits is None:
            raise ValueError(
                f"saliency.target {name!r} needs a pretext with a rotation head; "
                f"{type(pretext).__name__} has none (use 'pair_similarity' or 'embedding_max')"
            )
        super().__init__(pretext, pretext.encoder, amp)
        self.logits_fn = logits

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, self.amp):
            return self.logits_fn(x).float()  # b x n_classes


class RotationLogit(_RotationHead):
    """The logit of the rotation class the task predicts for the clean rotated input.

    The class is fixed per (image, angle) before any noise (SmoothGrad averages the gradient of
    one class score, Smilkov et al. 2017), so noise cannot switch it between copies.
    """

    def __init__(self, pretext: Pretext, images: torch.Tensor, angles: list[float],
                 crop: FieldOfView, amp: bool, max_batch: int) -> None:
        super().__init__(pretext, amp, "rotation_logit")
        classes = torch.empty(images.shape[0], len(angles), dtype=torch.long,
                              device=images.device)
        with torch.no_grad():
            for j, a in enumerate(angles):
                for i0 in range(0, images.shape[0], max_batch):
                    x = apply_fov(rotate(images[i0:i0 + max_batch], a), crop)
                    classes[i0:i0 + max_batch, j] = self._logits(x).argmax(1)
        self.classes = classes  # N x A

    def forward(self, x: torch.Tensor, jobs: Jobs) -> torch.Tensor:
        cls = self.classes[jobs.image, jobs.angle]
        return self._logits(x).gather(1, cls[:, None]).squeeze(1)


class RotationMax(_RotationHead):
    """Seed 002's saliency of the rotation-prediction layer: one gradient map per rotation
    neuron (logit), combined by an element-wise max over the neurons.

    Seed 002, "Generalization of Saliency Map for more than one neuron": ``S = max(s_1, ...,
    s_n)`` element-wise, "used for both the rotation prediction layers and embedding layers".
    Every class logit is differentiated (4 for {0, 90, 180, 270}), so it does not depend on
    which class the network predicts, unlike ``rotation_logit``.
    """

    def __init__(self, pretext: Pretext, images: torch.Tensor, crop: FieldOfView, amp: bool
                 ) -> None:
        super().__init__(pretext, amp, "rotation_max")
        with torch.no_grad():
            self.n_outputs = int(self._logits(apply_fov(images[:1], crop)).shape[1])

    def forward(self, x: torch.Tensor, jobs: Jobs) -> torch.Tensor:
        return self._logits(x).gather(1, jobs.output[:, None]).squeeze(1)


class EmbeddingMax(Target):
    """Seed 002's multi-neuron saliency: one gradient map per embedding neuron, combined by an
    element-wise max over neurons.

    Tractable: each neuron costs one backward pass per input, so only ``n_neurons`` of the D
    neurons get maps, done by replicating every input once per neuron inside the engine's
    batches (one backward serves them all, since frozen eval-mode inputs are independent).
    ``top_activation`` keeps, per image, the neurons most active on the clean unrotated image
    (the same neurons at every angle, so angles are compared on one set); ``random`` one
    subset drawn from ``seed`` for all images; ``n_neurons`` = 0 or ≥ D keeps all D (exact).
    """

    def __init__(self, pretext: Pretext, images: torch.Tensor, crop: FieldOfView, amp: bool,
                 n_neurons: int, choice: str, seed: int) -> None:
        super().__init__(pretext.encoder, pretext.encoder, amp)
        with torch.no_grad():
            z = self.embed(apply_fov(images, crop))  # N x D
        n, d = z.shape
        k = d if n_neurons == 0 or n_neurons >= d else n_neurons
        if k == d:
            neurons = torch.arange(d, device=z.device).expand(n, d)
        elif choice == "top_activation":
            neurons = z.topk(k, dim=1).indices
        elif choice == "random":
            g = torch.Generator().manual_seed(seed)
            neurons = torch.randperm(d, generator=g)[:k].to(z.device).expand(n, k)
        else:
            raise ValueError(f"saliency.neuron_choice: unknown choice {choice!r}; expected one "
                             f"of ['random', 'top_activation']")
        self.neurons = neurons.contiguous()  # N x K
        self.n_outputs = k

    def forward(self, x: torch.Tensor, jobs: Jobs) -> torch.Tensor:
        z = self.embed(x)  # b x D
        return z.gather(1, self.neurons[jobs.image, jobs.output][:, None]).squeeze(1)


def batch_limit(cfg: SaliencyConfig, device: torch.device) -> int:
    """``saliency.max_batch``, or the device's default when it is ``None``."""
    if cfg.max_batch is not None:
        return cfg.max_batch
    return AUTO_MAX_BATCH.get(device.type, AUTO_MAX_BATCH["cuda"])


def degenerate_at(name: str, angle: float) -> bool:
    """Whether target ``name``'s map at evaluation ``angle`` is degenerate by construction.

    ``pair_similarity`` compares the rotated view with the unrotated reference: at 0° the two
    are the same image, the cosine sits at its maximum and its input gradient vanishes (the
    map is noise around zero), so that point measures nothing about the network. Such rows are
    kept, marked ``degenerate`` in the ``saliency`` table, and left out of tests and summaries.
    """
    return name == "pair_similarity" and abs((angle + 180.0) % 360.0 - 180.0) < 1e-6


def build_target(name: str, pretext: Pretext, images: torch.Tensor, angles: list[float],
                 cfg: SaliencyConfig, *, crop: FieldOfView, shared_noise: bool = False,
                 amp: bool = False, seed: int = 0) -> Target:
    """The target ``name`` for ``pretext`` evaluated on ``images`` ``(N, C, H, W)``.

    Raises:
        ValueError: ``name`` is not a target (naming the choices), or the pretext lacks what
            the target needs.
    """
    if name == "pair_similarity":
        return PairSimilarity(pretext, images, crop, amp, shared_noise,
                              batch_limit(cfg, images.device))
    if name == "rotation_logit":
        return RotationLogit(pretext, images, angles, crop, amp, batch_limit(cfg, images.device))
    if name == "rotation_max":
        return RotationMax(pretext, images, crop, amp)
    if name == "embedding_max":
        return EmbeddingMax(pretext, images, crop, amp, cfg.n_neurons, cfg.neuron_choice, seed)
    raise ValueError(f"saliency.target: unknown target {name!r}; expected one of {list(TARGETS)}")
