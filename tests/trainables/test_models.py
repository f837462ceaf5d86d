"""Backbones: every registry entry runs forward/backward with named blocks; seed 002's six-layer
net and seed 003's NIN have the parameter counts of their definitions; torchvision wrappers
name their tensors as torchvision does."""

from __future__ import annotations

import itertools

import pytest
import torch
from torchvision import models as tvm

from trainables.config import ConfigError, ModelConfig
from trainables.models import BACKBONES, build_backbone, image_size_problem
from trainables.models.vit import resize_pos_embedding
from trainables.registry import Entry
from trainables.spec import parse_trial


def test_every_backbone_says_its_params_class() -> None:
    assert all(isinstance(entry, Entry) for entry in BACKBONES.values())
    for name in ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny",
                 "vit_b_16", "six_layer", "nin", "alexnet_bn"):
        assert name in BACKBONES


def test_unknown_backbone_names_the_choices() -> None:
    with pytest.raises(KeyError, match=r"unknown backbone 'resnet51'.*resnet50"):
        build_backbone(_unchecked("resnet51"))


def _unchecked(name: str) -> ModelConfig:
    # a ModelConfig that skips validation, to reach build_backbone's own error
    cfg = object.__new__(ModelConfig)
    for key, value in {"backbone": name, "init": "random", "weights": None,
                       "input_norm": "auto", "params": {}}.items():
        object.__setattr__(cfg, key, value)
    return cfg


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_forward_backward_every_backbone(name: str) -> None:
    torch.manual_seed(0)
    model = build_backbone(ModelConfig(backbone=name), image_size=32)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    z = model(x)
    assert z.shape == (2, model.embed_dim)
    assert torch.isfinite(z).all()
    z.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    with torch.no_grad():
        maps = [model.features(x, b) for b in model.block_names]
    assert all(m.ndim == 4 and m.shape[0] == 2 for m in maps)
    assert maps[-1].shape[1] == model.embed_dim
    with pytest.raises(KeyError, match="unknown block 'nope'"):
        model.features(x, "nope")


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_builders_take_params_alone_and_build_on_the_meta_device(name: str) -> None:
    # the registry contract other modules rely on: ``BACKBONES[name](params)`` with the default
    # image size, cheap to inspect without allocating weights
    with torch.device("meta"):
        model = BACKBONES[name]({})
    assert model.block_names and model.embed_dim > 0


def _conv_bn(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + 2 * c_out  # bias-free conv + BatchNorm weight and bias


def test_six_layer_has_about_100k_parameters() -> None:
    model = build_backbone(ModelConfig(backbone="six_layer"))
    widths = [3, 16, 32, 32, 64, 64, 64]
    expected = sum(_conv_bn(a, b, 3) for a, b in itertools.pairwise(widths))
    assert sum(p.numel() for p in model.parameters()) == expected == 106_960
    assert model.block_names == tuple(f"conv{i}" for i in range(1, 7))
    # seed 002's 128 px input: strides 2, 2, 1, 2, 1, 2 -> 8 x 8
    assert model.features(torch.rand(1, 3, 128, 128)).shape == (1, 64, 8, 8)


def nin_parameters(blocks: int) -> int:
    """Seed 003 / the RotNet reference NIN: 192-160-96 (5x5, 1x1, 1x1), 192x3 (5x5, 1x1, 1x1),
    then 192x3 (3x3, 1x1, 1x1) per further block."""
    total = _conv_bn(3, 192, 5) + _conv_bn(192, 160, 1) + _conv_bn(160, 96, 1)
    total += _conv_bn(96, 192, 5) + 2 * _conv_bn(192, 192, 1)
    total += (blocks - 2) * (_conv_bn(192, 192, 3) + 2 * _conv_bn(192, 192, 1))
    return total


@pytest.mark.parametrize("blocks", [3, 4, 5])
def test_nin_matches_its_definition(blocks: int) -> None:
    model = build_backbone(ModelConfig(backbone="nin", params={"blocks": blocks}), 32)
    assert sum(p.numel() for p in model.parameters()) == nin_parameters(blocks)
    assert model.block_names == tuple(f"conv{b}" for b in range(1, blocks + 1))
    x = torch.rand(2, 3, 32, 32)
    shapes = [tuple(model.features(x, b).shape[1:]) for b in model.block_names]
    assert shapes == [(96, 16, 16)] + [(192, 8, 8)] * (blocks - 1)
    assert len([m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]) == 3 * blocks


def test_nin_optional_pool_after_conv3() -> None:
    model = build_backbone(ModelConfig(backbone="nin", params={"blocks": 4,
                                                              "avg_pool_conv3": True}), 32)
    assert model.features(torch.rand(1, 3, 32, 32), "conv3").shape == (1, 192, 4, 4)


def test_backbone_params_are_validated_with_their_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_trial({"model": {"backbone": "nin", "params": {"blocks": 6, "width": 3}}})
    text = str(err.value)
    assert "model.params.blocks: 6 is out of range" in text
    assert "model.params: unknown key 'width'" in text


def test_image_size_limits_are_errors() -> None:
    with pytest.raises(ValueError, match=r"alexnet_bn.*image_size >= 31, got 24"):
        build_backbone(ModelConfig(backbone="alexnet_bn"), image_size=24)
    with pytest.raises(ValueError, match="image_size 40 is not a multiple of the patch size 16"):
        build_backbone(ModelConfig(backbone="vit_b_16"), image_size=40)
    # the same answers without building weights, for checking configs up front
    assert "image_size >= 31, got 24" in image_size_problem(ModelConfig(backbone="alexnet_bn"),
                                                            24)
    assert "multiple of the patch size" in image_size_problem(ModelConfig(backbone="vit_b_16"),
                                                              40)
    assert image_size_problem(ModelConfig(backbone="vit_b_16"), 32) is None
    assert image_size_problem(ModelConfig(backbone="convnext_tiny"), 16) is not None


@pytest.mark.parametrize("name, factory, head", [
    ("resnet18", tvm.resnet18, "fc."),
    ("resnet50", tvm.resnet50, "fc."),
    ("mobilenet_v2", tvm.mobilenet_v2, "classifier."),
    ("efficientnet_b0", tvm.efficientnet_b0, "classifier."),
    ("convnext_tiny", tvm.convnext_tiny, "classifier."),
])
def test_torchvision_backbones_name_tensors_as_torchvision(name, factory, head) -> None:
    model = build_backbone(ModelConfig(backbone=name))
    mine = {model.source_key(k): v.shape for k, v in model.state_dict().items()}
    theirs = {k: v.shape for k, v in factory(weights=None).state_dict().items()
              if not k.startswith(head)}
    assert mine == theirs


def test_vit_names_tensors_as_torchvision_and_gives_maps() -> None:
    model = build_backbone(ModelConfig(backbone="vit_b_16"), image_size=32)
    mine = {model.source_key(k): v.shape for k, v in model.state_dict().items()}
    theirs = {k: v.shape for k, v in tvm.vit_b_16(weights=None, image_size=32).state_dict().items()
              if not k.startswith("heads.")}
    assert mine == theirs
    x = torch.rand(2, 3, 48, 32)  # another size: the position embedding is resized on the fly
    assert model.features(x, "layer3").shape == (2, 768, 3, 2)
    assert model(x).shape == (2, 768)


def test_resize_pos_embedding_keeps_class_token_and_constant_grids() -> None:
    pos = torch.randn(1, 1 + 16, 8)
    pos[:, 1:] = 2.5  # a constant grid stays constant under bicubic resizing
    out = resize_pos_embedding(pos, (2, 3))
    assert out.shape == (1, 7, 8)
    assert torch.equal(out[:, :1], pos[:, :1])
    torch.testing.assert_close(out[:, 1:], torch.full((1, 6, 8), 2.5))
    assert resize_pos_embedding(pos, (4, 4)) is pos


def test_imagenet_input_norm_standardises_inside_the_model() -> None:
    torch.manual_seed(0)
    plain = build_backbone(ModelConfig(backbone="small_cnn", input_norm="none")).eval()
    normed = build_backbone(ModelConfig(backbone="small_cnn", input_norm="imagenet")).eval()
    normed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    torch.testing.assert_close(normed(x), plain((x - mean) / std))
    assert "input_mean" not in normed.state_dict()  # never part of weights or checkpoints
    assert ModelConfig(init="moco_v2", weights="w.pth").normalizes_input
    assert not ModelConfig().normalizes_input
