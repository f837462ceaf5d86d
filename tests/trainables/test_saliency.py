"""The batched saliency engine against naive per-image, per-sample loops written from the papers."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainables.config import PretextConfig, SaliencyConfig
from trainables.models import Backbone
from trainables.models.small import build_small_cnn
from trainables.pretext import Pretext, build_pretext
from trainables.rotation import apply_fov, rotate
from trainables.saliency import (
    SALIENCY_METHODS,
    TARGETS,
    blur_maps,
    build_target,
    get_method,
    noise_for,
    noise_sigma,
    reduce_channels,
    saliency_maps,
)

SIZE = 16
ANGLES = [0, 30, 90]


def make_task(name: str = "moco_rotation") -> Pretext:
    torch.manual_seed(0)
    encoder = build_small_cnn({"width": 4, "blocks": 2})
    params = ({"angles": [0, 90, 180, 270]} if name == "rotnet"
              else {"angles": [90], "queue_size": 8, "proj_dim": 8})
    cfg = PretextConfig(name=name, params=params)
    return build_pretext(encoder, cfg).eval().requires_grad_(False)


def make_images(n: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, SIZE, SIZE, generator=g)


def engine(task: Pretext, images: torch.Tensor, cfg: SaliencyConfig, seed: int = 3
           ) -> torch.Tensor:
    method = get_method(cfg.method)
    target = build_target(cfg.target, task, images, ANGLES, cfg, crop="disk",
                          shared_noise=method.shared_noise, seed=seed)
    return saliency_maps(target, images, ANGLES, cfg, crop="disk", seed=seed)


# ---- naive references: batch 1, full .backward() on a model whose weights require grad ----

def _rest(encoder: Backbone, a: torch.Tensor, after: str) -> torch.Tensor:
    names = list(encoder.blocks)
    for name in names[names.index(after) + 1:]:
        a = encoder.blocks[name](a)
    return a.mean(dim=(-2, -1))


def naive_scores(task: Pretext, target: str, x: torch.Tensor, img: torch.Tensor,
                 clean: torch.Tensor, eps: torch.Tensor | None, shared: bool,
                 z: torch.Tensor | None = None) -> torch.Tensor:
    """All outputs of the target for one input ``x`` (1, C, H, W): (K,)."""
    enc = task.encoder
    emb = enc(x) if z is None else z
    if target == "pair_similarity":
        img = rotate(img, 0.0)  # the reference as 0° sees it (docs/rotation.md)
        ref_in = apply_fov(img + eps, "disk") if (shared and eps is not None) else \
            apply_fov(img, "disk")
        with torch.no_grad():
            ref = enc(ref_in)
        return F.cosine_similarity(emb, ref, dim=1)
    if target == "rotation_logit":
        logits = task.head(emb)
        with torch.no_grad():
            cls = task.logits(clean).argmax(1)
        return logits[0, cls]
    if target == "rotation_max":  # seed 002: every rotation neuron, maps maxed element-wise
        return task.head(emb)[0]
    return emb[0]  # embedding_max: every neuron (exact definition)


def naive_maps(task: Pretext, images: torch.Tensor, cfg: SaliencyConfig, seed: int = 3
               ) -> torch.Tensor:
    task = copy.deepcopy(task).requires_grad_(True)  # as explain-cl runs: weights get grads too
    method = get_method(cfg.method)
    if method.guided:  # explain-cl's hook: ReLU's input gradient clamped at 0
        for m in task.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = False
                m.register_full_backward_hook(lambda _m, g_in, _g: (g_in[0].clamp_min(0),))
    s_count = cfg.n_samples if method.perturb != "none" else 1
    sigma = noise_sigma(images, method, cfg.noise_level, "disk")
    out = torch.zeros(images.shape[0], len(ANGLES), SIZE, SIZE)
    for i in range(images.shape[0]):
        noise = noise_for(i, s_count, (3, SIZE, SIZE), seed, images.device)
        for j, angle in enumerate(ANGLES):
            clean = apply_fov(rotate(images[i:i + 1], angle), "disk")
            per_output: dict[int, torch.Tensor] = {}
            for s in range(s_count):
                eps = sigma[i] * noise[s:s + 1] if method.perturb == "noise" else None
                x = apply_fov(clean + eps, "disk") if eps is not None else clean.clone()
                if method.perturb == "path":
                    x = clean * (s + 0.5) / s_count
                n_out = len(naive_scores(task, cfg.target, x, images[i:i + 1], clean, eps,
                                         method.shared_noise))
                for k in range(n_out):
                    task.zero_grad()
                    if method.cam:
                        names = list(task.encoder.blocks)
                        block = cfg.cam_block or names[-1]
                        a = task.encoder.features(x, block).detach().requires_grad_(True)
                        z = _rest(task.encoder, a, block)
                        naive_scores(task, cfg.target, x, images[i:i + 1], clean, eps,
                                     method.shared_noise, z)[k].backward()
                        cam = F.relu((a.grad.mean((2, 3), keepdim=True) * a).sum(1, True))
                        g = F.interpolate(cam, size=(SIZE, SIZE), mode="bilinear")[0]
                    else:
                        xg = x.detach().requires_grad_(True)
                        naive_scores(task, cfg.target, xg, images[i:i + 1], clean, eps,
                                     method.shared_noise)[k].backward()
                        g = xg.grad[0]
                    g = g * g if method.square else g
                    per_output[k] = per_output.get(k, 0) + g / s_count
            maps = []
            for g in per_output.values():
                if method.times_input and not method.cam:
                    g = g * clean[0]
                maps.append(reduce_channels(g, method.reduction or cfg.reduction))
            m = torch.stack(maps).amax(0)
            blur = method.blur or (cfg.blur_kernel, cfg.blur_sigma)
            out[i, j] = blur_maps(m[None], *blur)[0]
    return out


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    scale = b.abs().max().clamp_min(1e-12)
    assert torch.allclose(a / scale, b / scale, atol=1e-5), float((a - b).abs().max() / scale)


# ---- tests ----

@pytest.mark.parametrize("method", sorted(SALIENCY_METHODS))
@pytest.mark.parametrize("max_batch", [1, 5, 256])
def test_batched_engine_equals_naive_loop(method: str, max_batch: int) -> None:
    task, images = make_task(), make_images()
    cfg = SaliencyConfig(method=method, n_samples=3, eval_angles=tuple(ANGLES),
                         max_batch=max_batch, blur_sigma=1.0)
    close(engine(task, images, cfg), naive_maps(task, images, cfg))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("method", ["smoothgrad", "gradcam"])
def test_every_target_equals_naive_loop(target: str, method: str) -> None:
    task, images = make_task("rotnet"), make_images()
    if target == "pair_similarity":
        task = make_task()
    # embedding_max with n_neurons=0: every neuron, seed 002's exact definition
    cfg = SaliencyConfig(method=method, target=target, n_samples=2, n_neurons=0,
                         eval_angles=tuple(ANGLES), max_batch=7)
    close(engine(task, images, cfg), naive_maps(task, images, cfg))


def test_smoothgrad_one_sample_no_noise_is_the_gradient() -> None:
    task, images = make_task(), make_images()
    smooth = SaliencyConfig(method="smoothgrad", n_samples=1, noise_level=0.0,
                            eval_angles=tuple(ANGLES))
    plain = replace(smooth, method="gradient")
    assert torch.equal(engine(task, images, smooth), engine(task, images, plain))


def test_maps_do_not_depend_on_batching_and_repeat_for_a_seed() -> None:
    task, images = make_task(), make_images(3)
    cfg = SaliencyConfig(method="smoothgrad", n_samples=4, eval_angles=tuple(ANGLES))
    ref = engine(task, images, cfg)
    for mb in (1, 3, 13):
        close(engine(task, images, replace(cfg, max_batch=mb)), ref)
    assert torch.equal(engine(task, images, cfg), ref)
    assert not torch.allclose(engine(task, images, cfg, seed=4), ref)


def test_embedding_max_top_neurons_are_a_subset_of_the_exact_max() -> None:
    task, images = make_task(), make_images()
    exact = SaliencyConfig(method="gradient", target="embedding_max", n_neurons=0,
                           eval_angles=tuple(ANGLES))
    full = engine(task, images, exact)
    for choice in ("top_activation", "random"):
        part = engine(task, images, replace(exact, n_neurons=3, neuron_choice=choice))
        assert (part <= full + 1e-7).all() and part.sum() < full.sum()
    target = build_target("embedding_max", task, images, ANGLES,
                          replace(exact, n_neurons=3), crop="disk")
    z = task.encoder(apply_fov(images, "disk"))
    assert torch.equal(target.neurons.sort(1).values, z.topk(3, 1).indices.sort(1).values)


def test_explain_cl_preset_choices() -> None:
    m = get_method("explain_cl")
    assert (m.perturb, m.times_input, m.guided, m.shared_noise, m.reduction, m.blur) == \
        ("noise", True, True, True, "max_abs", (11, 5.0))
    images = make_images()
    images[1] *= 0.5
    inside = images[:, :, apply_fov(torch.ones(SIZE, SIZE), "disk").bool()]
    spread = inside.flatten(1).amax(1) - inside.flatten(1).amin(1)
    assert torch.allclose(noise_sigma(images, m, 0.15, "disk"), 0.15 / spread)  # it divides
    smooth = get_method("smoothgrad")
    assert torch.allclose(noise_sigma(images, smooth, 0.15, "disk"), 0.15 * spread)


def test_shared_noise_pair_similarity_vanishes_at_zero_degrees() -> None:
    # both views identical at 0°: the cosine is at its maximum, its gradient ~ 0
    task, images = make_task(), make_images()
    maps = engine(task, images, SaliencyConfig(method="explain_cl", n_samples=2,
                                               eval_angles=tuple(ANGLES)))
    assert maps[:, 0].max() < 1e-3 * maps[:, 2].max()


def test_blur_matches_torchvision() -> None:
    tvf = pytest.importorskip("torchvision.transforms.functional")
    maps = torch.rand(2, SIZE, SIZE)
    for kernel, sigma in ((11, 5.0), (5, 1.0)):
        ref = tvf.gaussian_blur(maps[:, None], [kernel, kernel], [sigma, sigma])[:, 0]
        assert torch.allclose(blur_maps(maps, kernel, sigma), ref, atol=1e-6)


def test_reduce_channels_known_values() -> None:
    g = torch.tensor([3.0, -4.0, 0.0]).view(3, 1, 1)
    assert reduce_channels(g, "max_abs").item() == 4.0
    assert reduce_channels(g, "mean_abs").item() == pytest.approx(7 / 3)
    assert reduce_channels(g, "l2").item() == 5.0
    with pytest.raises(ValueError, match="max_abs"):
        reduce_channels(g, "sum")  # type: ignore[arg-type]


def test_unknown_names_and_unfrozen_models_are_refused() -> None:
    with pytest.raises(KeyError, match="smoothgrad"):
        get_method("smoothgrad2")
    task, images = make_task(), make_images()
    cfg = SaliencyConfig(eval_angles=(0,), n_samples=1)
    with pytest.raises(ValueError, match="rotation_logit"):
        build_target("rotation_logit", task, images, [0], cfg, crop="disk")
    with pytest.raises(ValueError, match="pair_similarity"):
        build_target("pair_sim", task, images, [0], cfg, crop="disk")
    task.encoder.requires_grad_(True)
    with pytest.raises(ValueError, match="frozen"):
        engine(task, images, cfg)
    task.requires_grad_(False).train()
    with pytest.raises(ValueError, match="eval"):
        engine(task, images, cfg)
    task.eval()
    with pytest.raises(KeyError, match="block1"):
        engine(task, images, replace(cfg, method="gradcam", cam_block="block9"))


def test_channels_last_inputs_give_the_same_maps() -> None:
    # the CUDA path feeds channels-last inputs to a channels-last model; the layout must not
    # change the numbers (checked here on the CPU, where both layouts are supported)
    task, images = make_task(), make_images()
    cfg = SaliencyConfig(method="smoothgrad", n_samples=2, eval_angles=tuple(ANGLES))
    ref = engine(task, images, cfg)
    task.to(memory_format=torch.channels_last)
    target = build_target(cfg.target, task, images, ANGLES, cfg, crop="disk")
    close(saliency_maps(target, images, ANGLES, cfg, crop="disk", seed=3, channels_last=True),
          ref)


class _Linear(Pretext):
    """z = mean over pixels of a 1×1 convolution: a linear function of the input."""

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([0.5, -2.0, 1.0]).view(1, 3, 1, 1))
        self.encoder = Backbone(OrderedDict(block1=conv), embed_dim=1)


def test_known_answers_on_a_linear_model() -> None:
    # for f(x) = w·x: SmoothGrad = the gradient = w whatever the noise (Smilkov et al.), and
    # integrated gradients = w ⊙ x = gradient × input (Sundararajan et al.)
    task, images = _Linear().eval().requires_grad_(False), make_images()
    cfg = SaliencyConfig(target="embedding_max", n_neurons=0, n_samples=5, noise_level=0.5,
                         eval_angles=tuple(ANGLES))
    grad = engine(task, images, replace(cfg, method="gradient"))
    assert torch.allclose(grad, torch.full_like(grad, 2.0 / SIZE**2))  # max_c |w_c| / (H·W)
    close(engine(task, images, replace(cfg, method="smoothgrad")), grad)
    close(engine(task, images, replace(cfg, method="integrated_gradients")),
          engine(task, images, replace(cfg, method="grad_x_input")))
