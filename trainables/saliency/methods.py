"""Saliency methods: the registry, and the pieces a method is made of.

A method says how the inputs of one (image, angle) are perturbed (none, Gaussian noise, a
straight path from a black image), how their input gradients are combined (mean of g or of g²,
times the clean input), whether ReLUs pass gradients the guided-backprop way, or whether the map
is a Grad-CAM of a block. The options every method shares (noise level, samples, channel
reduction, blur, normalisation) live in ``saliency.*``; a preset such as ``explain_cl`` fixes
some of them itself.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Perturb = Literal["none", "noise", "path"]
Reduction = Literal["max_abs", "mean_abs", "l2"]


@dataclass(frozen=True)
class Method:
    """How the gradients of one (image, angle) become a map.

    Attributes:
        perturb: ``none`` (one clean pass), ``noise`` (``n_samples`` copies plus Gaussian noise;
            Smilkov et al. 2017) or ``path`` (``n_samples`` midpoints of the straight path from a
            black image to the input; Sundararajan et al. 2017, integrated gradients).
        square: average g² instead of g (SmoothGrad-SQ; Hooker et al. 2019).
        times_input: multiply the averaged gradient by the clean input (gradient × input;
            with ``path`` this is integrated gradients with a zero baseline).
        guided: ReLU and ReLU6 units pass only positive gradients where they are active
            (guided backprop; Springenberg et al. 2015); networks with smooth activations
            (SiLU, GELU) are refused, since guiding them is undefined.
        cam: Grad-CAM (Selvaraju et al. 2017) of ``saliency.cam_block`` instead of an input
            gradient: ReLU(Σ_c mean_hw(∂y/∂A_c) · A_c), bilinearly upsampled to the input.
        noise_per_range: σ = ``noise_level`` / (max − min) instead of ``noise_level`` ×
            (max − min) (explain-cl's quirk; see :data:`SALIENCY_METHODS` ``explain_cl``).
        shared_noise: ``pair_similarity`` only: the reference view gets the same noise as the
            rotated view (explain-cl adds one noise draw to both views of a pair).
        reduction: a channel reduction the method fixes; ``None`` = ``saliency.reduction``.
        blur: ``(kernel, sigma)`` the method fixes; ``None`` = ``saliency.blur_*``.
    """

    perturb: Perturb = "none"
    square: bool = False
    times_input: bool = False
    guided: bool = False
    cam: bool = False
    noise_per_range: bool = False
    shared_noise: bool = False
    reduction: Reduction | None = None
    blur: tuple[int, float] | None = None


SALIENCY_METHODS: dict[str, Method] = {
    "gradient": Method(),
    "smoothgrad": Method(perturb="noise"),
    "smoothgrad_sq": Method(perturb="noise", square=True),
    "grad_x_input": Method(times_input=True),
    "guided_backprop": Method(guided=True),
    "integrated_gradients": Method(perturb="path", times_input=True),
    "gradcam": Method(cam=True),
    # github.com/fawazsammani/explain-cl methods.py `smooth_grad(guided=True, blur_output=True)`,
    # the code seed 000 adapted: guided backprop through nn.ReLU; one noise draw added to both
    # views; σ = 0.15 / (max − min) of the reference image (it *divides*: on ImageNet-normalised
    # inputs, range ≈ 4.5, that is σ ≈ 0.033, far below Smilkov's 0.15 × range ≈ 0.68);
    # gradients averaged over the noisy copies, then |clean input × mean gradient|, max over
    # channels; an 11×11 Gaussian blur with σ = 5 (truncated at ±1σ).
    "explain_cl": Method(perturb="noise", times_input=True, guided=True, noise_per_range=True,
                         shared_noise=True, reduction="max_abs", blur=(11, 5.0)),
}


def get_method(name: str) -> Method:
    """The method registered as ``name``.

    Raises:
        KeyError: naming ``name`` and the registered methods.
    """
    try:
        return SALIENCY_METHODS[name]
    except KeyError:
        raise KeyError(
            f"saliency.method: unknown method {name!r}; expected one of "
            f"{sorted(SALIENCY_METHODS)}"
        ) from None


def reduce_channels(g: torch.Tensor, how: Reduction) -> torch.Tensor:
    """``(..., C, H, W)`` attributions → ``(..., H, W)`` non-negative maps.

    ``max_abs``: max over channels of |g| (Simonyan et al. 2014; explain-cl). ``mean_abs``: the
    mean of |g|. ``l2``: the Euclidean norm over channels.

    Raises:
        ValueError: an unknown reduction, naming the choices.
    """
    if how == "max_abs":
        return g.abs().amax(dim=-3)
    if how == "mean_abs":
        return g.abs().mean(dim=-3)
    if how == "l2":
        return g.pow(2).sum(dim=-3).sqrt()
    raise ValueError(f"saliency.reduction: unknown reduction {how!r}; expected one of "
                     f"['l2', 'max_abs', 'mean_abs']")


def blur_maps(maps: torch.Tensor, kernel: int, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``(B, H, W)`` maps with a ``kernel``-tap separable kernel, reflected
    borders (the same result as ``torchvision.transforms.functional.gaussian_blur``).

    Args:
        maps: ``(B, H, W)`` float.
        kernel: odd side of the kernel; 0 = ``2·⌈3σ⌉ + 1``.
        sigma: standard deviation in pixels; 0 returns ``maps`` unchanged.
    """
    if sigma <= 0:
        return maps
    k = kernel or 2 * math.ceil(3 * sigma) + 1
    x = torch.linspace(-(k - 1) / 2, (k - 1) / 2, k, device=maps.device, dtype=torch.float32)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    w = (w / w.sum()).to(maps.dtype)
    pad = k // 2
    out = F.pad(maps[:, None], (pad, pad, pad, pad), mode="reflect")
    out = F.conv2d(out, w.view(1, 1, 1, k))
    out = F.conv2d(out, w.view(1, 1, k, 1))
    return out[:, 0]


class _GuidedClamp(torch.autograd.Function):
    """ReLU / ReLU6 whose backward passes only positive gradients where the unit was active.

    ``upper`` is ``None`` for ReLU and 6 for ReLU6: a ReLU6 unit is active (its local derivative
    is 1) strictly between 0 and 6, so only there may the positive gradient pass.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor,
                upper: float | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.upper = upper  # type: ignore[attr-defined]
        return x.clamp(0, upper)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, g: torch.Tensor
                 ) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
        active = x > 0
        if ctx.upper is not None:  # type: ignore[attr-defined]
            active &= x < ctx.upper  # type: ignore[attr-defined]
        return g.clamp_min(0) * active.to(g.dtype), None


def _guided_relu(x: torch.Tensor) -> torch.Tensor:
    return _GuidedClamp.apply(x, None)


def _guided_relu6(x: torch.Tensor) -> torch.Tensor:
    return _GuidedClamp.apply(x, 6.0)


# activations with no guided-backprop rule: a smooth gate (SiLU, GELU, ...) has no "active"
# set, so guiding it would silently return the plain gradient through those units
_UNGUIDABLE = (nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish, nn.ELU, nn.LeakyReLU, nn.PReLU,
               nn.Softplus, nn.CELU, nn.SELU)


def guidable_problem(model: nn.Module) -> str | None:
    """Why guided backprop cannot run on ``model`` (``None`` when it can): it is defined for
    ReLU-family units only (``nn.ReLU``, ``nn.ReLU6``; Springenberg et al. 2015)."""
    found = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _UNGUIDABLE)})
    if not found:
        return None
    return (f"guided backprop is defined for ReLU and ReLU6 units only; this network also uses "
            f"{', '.join(found)} (choose another saliency.method, e.g. smoothgrad)")


@contextlib.contextmanager
def guided_relus(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, every ``nn.ReLU`` / ``nn.ReLU6`` of ``model`` back-propagates the
    guided way.

    Each unit's ``forward`` is shadowed by an instance attribute (``nn.Module.__call__`` looks it
    up first) and restored on exit, so no hook is left behind even after an error. In-place units
    become out-of-place while guided, which autograd needs anyway.

    Raises:
        ValueError: ``model`` has activations without a guided rule (SiLU, GELU, ...), which
            would otherwise pass the plain gradient (MobileNetV2's ReLU6 is guided; EfficientNet's
            SiLU and ViT's GELU are refused).
    """
    if not enabled:
        yield
        return
    problem = guidable_problem(model)
    if problem:
        raise ValueError(f"saliency.method: {problem}")
    units = [m for m in model.modules() if type(m) in (nn.ReLU, nn.ReLU6)]
    for m in units:
        m.forward = (_guided_relu6 if isinstance(m, nn.ReLU6)  # type: ignore[method-assign]
                     else _guided_relu)
    try:
        yield
    finally:
        for m in units:
            del m.forward
