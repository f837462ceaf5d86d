"""The batched per-angle saliency engine.

N images × A angles × S perturbed copies × K target outputs are evaluated in batches of at most
``max_batch`` inputs, rotated on the device, with the model in ``eval()`` and its weights frozen:
every input's gradient is then independent of the others in its batch, one backward pass
serves the whole batch, and no weight gradient is ever computed.

Work is cut into *groups*, one per (image, angle), in image-major order; a batch holds
``max_batch // (S·K)`` whole groups (or, when one group is larger than a batch, a slice of one),
so a group's clean rotated image is made once, its S·K gradients are summed straight into a small
per-batch accumulator and its finished map leaves the engine at once: memory does not grow with
N × A (seed 000: 75 × 360 maps).

Noise is common to all angles: copy s of image i gets the same standard-normal draw at every
angle (a generator seeded by (seed, i)), added in the rotated frame so interpolation never
smooths it, so differences between angles are not noise differences.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from trainables.config import SaliencyConfig
from trainables.rotation import FieldOfView, fov_mask, rotate_each
from trainables.saliency.methods import (
    Method,
    blur_maps,
    get_method,
    guided_relus,
    reduce_channels,
)
from trainables.saliency.targets import Jobs, Target, batch_limit


def noise_for(image_index: int, n: int, shape: tuple[int, ...], seed: int,
              device: torch.device) -> torch.Tensor:
    """Standard-normal noise ``(n, *shape)`` for one image, the same at every angle and batch."""
    g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + image_index)
    return torch.randn((n, *shape), generator=g, device=device)


def noise_sigma(images: torch.Tensor, method: Method, noise_level: float,
                crop: FieldOfView) -> torch.Tensor:
    """Per-image noise σ ``(N,)`` from the value range (max − min) inside the field of view.

    ``noise_level × range`` (Smilkov et al. 2017), or ``noise_level / range`` for
    ``method.noise_per_range`` (explain-cl); 0 for methods without noise.
    """
    if method.perturb != "noise":
        return torch.zeros(images.shape[0], device=images.device)
    inside = images[:, :, fov_mask(images.shape[-1], crop, images.device)].flatten(1)
    spread = inside.amax(1) - inside.amin(1)
    if method.noise_per_range:
        return noise_level / spread.clamp_min(1e-12)
    return noise_level * spread


class _NoiseBank:
    """Per-image noise σ_i·ε cut to the field of view, drawn on first use (then shared by every
    angle of the image) and dropped once the engine has moved past the image.

    Scaling and cutting once per image rather than per input leaves one gather and one add
    per batch: the inputs fov(rotated + σε) = rotated + fov(σε), the rotated image being cut
    already.
    """

    def __init__(self, n: int, shape: tuple[int, ...], seed: int, sigma: torch.Tensor,
                 fov: torch.Tensor, target: Target) -> None:
        self.n, self.shape, self.seed, self.sigma, self.fov = n, shape, seed, sigma, fov
        self.target = target
        self.cache: dict[int, torch.Tensor] = {}

    def take(self, ids: tuple[int, ...], image: torch.Tensor, sample: torch.Tensor
             ) -> torch.Tensor:
        """``(b, *shape)`` noise of (image[k], sample[k]) for every k, in one gather.

        ``ids``: the distinct values of ``image``, ascending, known on the host (reading them
        from a CUDA ``image`` would stall the device every batch).
        """
        for old in [i for i in self.cache if i < ids[0]]:
            del self.cache[old]
        for i in ids:
            if i not in self.cache:
                eps = noise_for(i, self.n, self.shape, self.seed, self.sigma.device)
                self.cache[i] = self.sigma[i] * eps * self.fov
                self.target.prepare_noise(i, self.cache[i])
        if len(ids) == 1:  # the usual case: a batch within one image's angles
            return self.cache[ids[0]][sample]
        bank = torch.stack([self.cache[i] for i in ids])  # U x S x C x H x W
        slot = torch.searchsorted(torch.tensor(ids, device=image.device), image)
        return bank[slot, sample]


def _cam_gradients(target: Target, block: str | None, x: torch.Tensor, jobs: Jobs
                   ) -> torch.Tensor:
    """Grad-CAM maps ``(b, 1, H, W)``: ReLU(Σ_c mean_hw(∂y/∂A_c) A_c) of ``block``, upsampled."""
    names = target.encoder.block_names
    name = block or names[-1]
    if name not in names:
        raise KeyError(f"saliency.cam_block: unknown block {name!r}; expected one of "
                       f"{list(names)}")
    acts: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            return out
        leaf = out.detach().requires_grad_(True)  # backward stops here: no earlier blocks
        acts.append(leaf)
        return leaf

    handle = target.encoder.blocks[name].register_forward_hook(keep)
    try:
        value = target(x, jobs)
    finally:
        handle.remove()
    if acts[0].dim() != 4:
        raise ValueError(f"saliency.method 'gradcam' needs (N, C, h, w) feature maps; block "
                         f"{name!r} gives shape {tuple(acts[0].shape)}")
    (g,) = torch.autograd.grad(value.sum(), acts[0])
    a = acts[0].detach().float()  # b x C_b x h x w
    cam = F.relu((g.float().mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _input_gradients(target: Target, x: torch.Tensor, jobs: Jobs) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(target(x, jobs).sum(), x)
    return g.float()


def _check_frozen(model: nn.Module) -> None:
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    if model.training or trainable:
        raise ValueError(
            "saliency needs the model in eval() with frozen weights (requires_grad_(False)) so "
            f"each input's gradient is its own; training={model.training}, trainable "
            f"parameters={trainable[:3]}{'...' if len(trainable) > 3 else ''}")


def iter_saliency(target: Target, images: torch.Tensor, angles: list[float], cfg: SaliencyConfig,
                  *, crop: FieldOfView = "disk", seed: int = 0, channels_last: bool = False
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Saliency maps of every (image, angle), streamed as they are finished.

    Args:
        target: the differentiated scalar(s); its model must be in ``eval()``, weights frozen.
        images: ``(N, C, H, W)`` unrotated images on the compute device.
        angles: the A angles in degrees.
        cfg: ``saliency.*``: method, n_samples, noise_level, reduction, blur, cam_block,
            max_batch (``None``: :func:`~trainables.saliency.targets.batch_limit`).
        crop: the common field of view applied after rotation and noise.
        seed: noise seed.
        channels_last: feed inputs in channels-last memory format (CUDA convolutions).

    Yields:
        ``(groups, maps)``: group q = i·A + j is image i at ``angles[j]``; ``groups (g,)`` long
        on the CPU, ascending; ``maps (g, H, W)`` float32 on the device, non-negative, not
        normalised, in the rotated frame (compare with the mask rotated by the same angle).
    """
    _check_frozen(target.model)
    method = get_method(cfg.method)
    n, c, h, w = images.shape
    a, k = len(angles), target.n_outputs
    s = cfg.n_samples if method.perturb != "none" else 1
    per_group = s * k
    dev = images.device
    degrees = torch.tensor(angles, dtype=torch.float64)  # fractional angles stay exact
    limit = batch_limit(cfg, dev)
    sigma = noise_sigma(images, method, cfg.noise_level, crop)
    fov = fov_mask(h, crop, dev).to(images.dtype)
    bank = (_NoiseBank(s, (c, h, w), seed, sigma, fov, target) if method.perturb == "noise"
            else None)
    groups_per_batch = max(1, limit // per_group)
    with guided_relus(target.model, method.guided):
        for q0 in range(0, n * a, groups_per_batch):
            q = torch.arange(q0, min(q0 + groups_per_batch, n * a))
            img, ang = (q // a).to(dev), (q % a).to(dev)
            clean = rotate_each(images[img], degrees[q % a]) * fov  # g x C x H x W
            acc = torch.zeros(len(q) * k, 1 if method.cam else c, h, w, device=dev)
            for t0 in range(0, len(q) * per_group, limit):
                t1 = min(t0 + limit, len(q) * per_group)
                t = torch.arange(t0, t1, device=dev)
                local, smp, out = t // per_group, (t // k) % s, t % k
                ids = tuple(range(int(q[t0 // per_group]) // a,
                                  int(q[(t1 - 1) // per_group]) // a + 1))
                jobs = Jobs(image=img[local], angle=ang[local], sample=smp, output=out, ids=ids)
                x, jobs = _perturb(clean[local], jobs, method, bank, s)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                g = (_cam_gradients(target, cfg.cam_block, x, jobs) if method.cam
                     else _input_gradients(target, x, jobs))
                g = g * g if method.square else g
                if len(t) == len(q) * per_group:  # whole groups, (group, sample, output) order
                    acc += g.view(len(q), s, k, *g.shape[1:]).sum(1).flatten(0, 1)
                else:  # a slice of one group larger than a batch
                    acc.index_add_(0, local * k + out, g)
            yield q, _finish(acc.view(len(q), k, -1, h, w) / s, clean, method, cfg)


def _perturb(x: torch.Tensor, jobs: Jobs, method: Method, bank: _NoiseBank | None, s: int
             ) -> tuple[torch.Tensor, Jobs]:
    """The inputs of one batch from the clean rotated images ``x (b, C, H, W)``: plus σ·ε
    (inside the field of view), scaled along the path from black (integrated gradients), or
    unchanged."""
    if bank is not None:
        eps = bank.take(jobs.ids, jobs.image, jobs.sample)
        return x + eps, replace(jobs, noise=eps)
    if method.perturb == "path":  # midpoints (s + 0.5) / S of the straight path
        return x * ((jobs.sample.float() + 0.5) / s)[:, None, None, None], jobs
    return x, jobs


def _finish(mean: torch.Tensor, clean: torch.Tensor, method: Method, cfg: SaliencyConfig
            ) -> torch.Tensor:
    """Averaged attributions ``(g, K, C, H, W)`` → maps ``(g, H, W)``: times the clean input
    (gradient × input, integrated gradients), channel reduction, max over the K outputs
    (seed 002), blur."""
    if method.times_input and not method.cam:
        mean = mean * clean[:, None]
    maps = reduce_channels(mean, method.reduction or cfg.reduction).amax(dim=1)
    kernel, sigma = method.blur or (cfg.blur_kernel, cfg.blur_sigma)
    return blur_maps(maps, kernel, sigma)


def saliency_maps(target: Target, images: torch.Tensor, angles: list[float], cfg: SaliencyConfig,
                  *, crop: FieldOfView = "disk", seed: int = 0, channels_last: bool = False
                  ) -> torch.Tensor:
    """All maps of :func:`iter_saliency` at once: ``(N, A, H, W)`` float32 on the device.

    Holds N × A maps in memory; the evaluation streams :func:`iter_saliency` instead.
    """
    n, _, h, w = images.shape
    out = torch.empty(n * len(angles), h, w, device=images.device)
    for q, maps in iter_saliency(target, images, angles, cfg, crop=crop, seed=seed,
                                 channels_last=channels_last):
        out[q.to(images.device)] = maps
    return out.view(n, len(angles), h, w)
