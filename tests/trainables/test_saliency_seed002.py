"""Guided backprop on ReLU6 / refused on smooth activations, seed 002's rotation-neuron maximum,
and the degenerate pair-similarity point, each against a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables.config import SaliencyConfig
from trainables.saliency import build_target, degenerate_at, guided_relus, saliency_maps
from trainables.saliency.methods import guidable_problem


class _Unit(nn.Module):
    """x → act(W x) → sum(V ·): small enough to back-propagate by hand."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(5, 4, generator=g) * 3)
        self.v = nn.Parameter(torch.randn(5, generator=g))
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.act(x @ self.w.T) * self.v).sum(-1)


@pytest.mark.parametrize("act, upper", [(nn.ReLU(), None), (nn.ReLU6(), 6.0)])
def test_guided_backprop_matches_the_hand_rule(act: nn.Module, upper: float | None) -> None:
    net = _Unit(act).requires_grad_(False)
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1)) * 2
    xg = x.clone().requires_grad_(True)
    with guided_relus(net):
        net(xg).sum().backward()
    pre = x @ net.w.T  # 64 x 5
    active = pre > 0 if upper is None else (pre > 0) & (pre < upper)
    # guided rule (Springenberg et al. 2015): positive upstream gradient, through active units
    expected = (net.v.clamp_min(0) * active) @ net.w
    assert torch.allclose(xg.grad, expected, atol=1e-6)
    plain = torch.autograd.functional.jacobian(lambda t: net(t).sum(), x)
    assert not torch.allclose(plain, expected)  # the guided map is not the plain gradient
    assert isinstance(net.act.forward, type(nn.ReLU().forward))  # hooks removed on exit


@pytest.mark.parametrize("act", [nn.SiLU(), nn.GELU(), nn.Hardswish()])
def test_guided_backprop_refuses_smooth_activations(act: nn.Module) -> None:
    net = _Unit(act)
    assert "SiLU" in (guidable_problem(nn.Sequential(nn.SiLU())) or "")
    with pytest.raises(ValueError, match=r"saliency\.method: guided backprop .*ReLU6"), \
            guided_relus(net):
        pass


def test_mobilenet_v2_guided_differs_from_the_plain_gradient() -> None:
    from torchvision.models import mobilenet_v2

    torch.manual_seed(0)
    net = mobilenet_v2(num_classes=4).eval().requires_grad_(False)
    x = torch.rand(1, 3, 32, 32)
    plain_x = x.clone().requires_grad_(True)
    net(plain_x)[0, 0].backward()
    guided_x = x.clone().requires_grad_(True)
    with guided_relus(net):
        net(guided_x)[0, 0].backward()
    assert guidable_problem(net) is None
    # ReLU6 is guided now: before, only nn.ReLU was hooked and this was the plain gradient
    guided, plain = guided_x.grad, plain_x.grad
    assert (guided != 0).any()
    relative = (guided - plain).abs().max() / plain.abs().max()
    assert relative > 0.1, float(relative)


class _RotNetLike(nn.Module):
    """A linear 'encoder' and a 4-logit head, for a hand-computed rotation_max map."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 6))
        self.head = nn.Linear(6, 4)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


def test_rotation_max_is_the_elementwise_max_over_the_rotation_neurons() -> None:
    task = _RotNetLike().eval().requires_grad_(False)
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    cfg = SaliencyConfig(method="gradient", target="rotation_max", eval_angles=(0.0,),
                         normalize="none")
    target = build_target("rotation_max", task, images, [0.0], cfg, crop="none")
    assert target.n_outputs == 4
    maps = saliency_maps(target, images, [0.0], cfg, crop="none", seed=0)  # N x A x H x W
    # linear net: ∂logit_k/∂x = (head.W @ enc.W)[k], the same for every image
    jac = (task.head.weight @ task.encoder[1].weight).view(4, 3, 8, 8)
    per_neuron = jac.abs().amax(dim=1)  # max_abs over channels: 4 x H x W
    expected = per_neuron.amax(0)
    for i in range(2):
        assert torch.allclose(maps[i, 0], expected, atol=1e-5)


@pytest.mark.parametrize("target, angle, expected", [
    ("pair_similarity", 0.0, True), ("pair_similarity", 360.0, True),
    ("pair_similarity", 359.9, False), ("pair_similarity", 90.0, False),
    ("rotation_logit", 0.0, False), ("rotation_max", 0.0, False), ("embedding_max", 0.0, False),
])
def test_degenerate_points_are_known(target: str, angle: float, expected: bool) -> None:
    assert degenerate_at(target, angle) is expected


def test_validation_refuses_guided_methods_on_smooth_activations() -> None:
    from trainables.config import ConfigError
    from trainables.spec import parse_trial

    with pytest.raises(ConfigError, match=r"saliency\.method: guided backprop .*SiLU"):
        parse_trial({"model": {"backbone": "efficientnet_b0"}, "data": {"image_size": 64},
                     "saliency": {"method": "guided_backprop"}})
    # ReLU6 is guided: MobileNetV2 passes, as does a smooth network with a plain method
    parse_trial({"model": {"backbone": "mobilenet_v2"}, "data": {"image_size": 64},
                 "saliency": {"method": "explain_cl"}})
    parse_trial({"model": {"backbone": "efficientnet_b0"}, "data": {"image_size": 64},
                 "saliency": {"method": "smoothgrad"}})
