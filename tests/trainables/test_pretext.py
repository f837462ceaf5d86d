"""Pretext tasks against their definitions: InfoNCE and NT-Xent vs. naive loops, MoCo's momentum
update, queue and shuffle-BN stand-in, RotNet's labels for every angle set."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from trainables.config import ConfigError, PretextConfig
from trainables.models import Backbone, build_backbone
from trainables.pretext import PRETEXTS, build_pretext
from trainables.pretext.losses import info_nce, nt_xent
from trainables.pretext.moco import MocoRotation, MocoRotationParams
from trainables.pretext.pairs import split_forward
from trainables.pretext.rotnet import rotation_batch
from trainables.rotation import rotate
from trainables.spec import parse_trial
from trainables.trial import build_task


def small_encoder(seed: int = 0) -> Backbone:
    torch.manual_seed(seed)
    return build_backbone(parse_trial({"model": {"params": {"width": 4, "blocks": 2}}}).model)


def moco(**params) -> MocoRotation:
    cfg = PretextConfig(augment="none", crop="none")
    p = MocoRotationParams(**{"angles": (90.0,), "queue_size": 10, "proj_dim": 8, **params})
    return MocoRotation(small_encoder(), cfg, p)


def test_info_nce_matches_a_loop() -> None:
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    k = F.normalize(torch.randn(5, 8, generator=g), dim=1)
    queue = F.normalize(torch.randn(7, 8, generator=g), dim=1)
    loss, logits = info_nce(q, k, queue, 0.2)
    expected = 0.0
    for i in range(5):
        pos = math.exp(float(q[i] @ k[i]) / 0.2)
        neg = sum(math.exp(float(q[i] @ queue[j]) / 0.2) for j in range(7))
        expected += -math.log(pos / (pos + neg)) / 5
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert logits.shape == (5, 8)


def test_nt_xent_matches_a_naive_loop() -> None:
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.0
    for a in range(8):
        pos = (a + 4) % 8
        den = sum(math.exp(float(z[a] @ z[b]) / 0.5) for b in range(8) if b != a)
        total += -math.log(math.exp(float(z[a] @ z[pos]) / 0.5) / den)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(total / 8, rel=1e-5)


def test_moco_step_loss_is_infonce_by_hand() -> None:
    task = moco()
    ref = copy.deepcopy(task)  # the same weights and queue, computed by hand below
    x = torch.rand(4, 3, 16, 16)
    out = task.step(x, torch.Generator().manual_seed(0))
    with torch.no_grad():
        # both views go through the same resampling (issue 11): x at 0°, x at 90°
        q = F.normalize(ref.head_q(ref.encoder(rotate(x, 0.0))), dim=1)
        k = F.normalize(ref.head_k(ref.encoder_k(rotate(x, 90.0))), dim=1)
    expected = 0.0
    for i in range(4):
        pos = math.exp(float(q[i] @ k[i]) / 0.2)
        neg = sum(math.exp(float(q[i] @ ref.queue[j]) / 0.2) for j in range(10))
        expected += -math.log(pos / (pos + neg)) / 4
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(task.queue[:4], k)  # this batch's keys were enqueued
    torch.testing.assert_close(task.queue[4:], ref.queue[4:])
    assert int(task.queue_ptr) == 4


def test_projection_head_is_sized_to_the_backbone() -> None:
    task = moco()
    assert task.head_q[0].in_features == task.head_q[0].out_features == task.encoder.embed_dim
    assert task.head_q[2].out_features == 8
    wide = moco(proj_hidden=32)
    assert wide.head_q[0].out_features == 32 and wide.head_k[0].out_features == 32


def test_momentum_update_is_an_ema_of_parameters_only() -> None:
    task = moco(momentum=0.9)
    with torch.no_grad():
        for p in task.encoder_k.parameters():
            p.fill_(1.0)
        for p in task.encoder.parameters():
            p.fill_(3.0)
        bn_k = next(m for m in task.encoder_k.modules() if isinstance(m, torch.nn.BatchNorm2d))
        bn_q = next(m for m in task.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
        bn_q.running_mean.fill_(5.0)
    task.momentum_update()
    for p in task.encoder_k.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.9 * 1.0 + 0.1 * 3.0))
    assert not torch.equal(bn_k.running_mean, bn_q.running_mean)  # buffers are not copied
    assert all(not p.requires_grad for p in task.encoder_k.parameters())


def test_queue_when_the_batch_does_not_divide_k() -> None:
    task = moco(queue_size=10)
    batches = [torch.full((4, 8), float(b)) + torch.arange(4.0)[:, None] / 10 for b in range(3)]
    for keys in batches:
        task.enqueue(keys)
    # 4 + 4 + 4 keys into 10 slots: the third batch fills 8, 9 and wraps to 0, 1
    expected = torch.cat([batches[2][2:], batches[0][2:], batches[1], batches[2][:2]])
    assert torch.equal(task.queue, expected)
    assert int(task.queue_ptr) == 2
    task.enqueue(torch.arange(13.0)[:, None].expand(13, 8))  # more keys than slots
    assert torch.equal(task.queue[:, 0].sort().values, torch.arange(3.0, 13.0))


def test_queue_larger_than_the_data_keeps_training() -> None:
    task = moco(queue_size=50)
    initial = task.queue.clone()
    x = torch.rand(6, 3, 16, 16)  # six images, K = 50
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        out = task.step(x, g)
        assert math.isfinite(out.loss.item())
        out.loss.backward()
    assert int(task.queue_ptr) == 18
    assert torch.equal(task.queue[18:], initial[18:])  # unfilled slots keep their random keys


def test_split_forward_is_per_group_and_unshuffles() -> None:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3).train()
    x = torch.randn(8, 3)
    perm = torch.randperm(8)
    out = split_forward(bn, x, 2, perm)
    shuffled = x[perm]
    manual = torch.cat([F.batch_norm(shuffled[:4], None, None, training=True),
                        F.batch_norm(shuffled[4:], None, None, training=True)])
    unshuffled = torch.empty_like(manual)
    unshuffled[perm] = manual
    torch.testing.assert_close(out, unshuffled)
    torch.testing.assert_close(split_forward(lambda t: t * 2, x, 3, perm), x * 2)
    with pytest.raises(ValueError, match="split_bn: 4 groups need at least 8 images"):
        split_forward(bn, x[:6], 4)


def test_moco_shuffle_bn_keys_use_per_group_statistics() -> None:
    task = moco(split_bn=2)
    x = torch.rand(6, 3, 16, 16)
    g = torch.Generator().manual_seed(5)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(5))
    keys = task.key(x, g)

    def fn(t: torch.Tensor) -> torch.Tensor:
        return task.head_k(task.encoder_k(t))

    manual = F.normalize(torch.cat([fn(x[perm][:3]), fn(x[perm][3:])]), dim=1)
    expected = torch.empty_like(manual)
    expected[perm] = manual
    torch.testing.assert_close(keys, expected)
    whole = F.normalize(fn(x), dim=1)
    assert not torch.allclose(keys, whole)  # different BN statistics than one group


def test_symmetric_loss_enqueues_both_directions() -> None:
    task = moco(symmetric=True)
    out = task.step(torch.rand(4, 3, 16, 16), torch.Generator().manual_seed(0))
    assert int(task.queue_ptr) == 8
    out.loss.backward()


def test_simclr_step_is_nt_xent_of_rotation_pairs() -> None:
    cfg = PretextConfig(name="simclr_rotation", augment="none", crop="none",
                        params={"angles": [90], "temperature": 0.5, "proj_dim": 8})
    task = build_pretext(small_encoder(), cfg)
    ref = copy.deepcopy(task)
    x = torch.rand(4, 3, 16, 16)
    out = task.step(x, torch.Generator().manual_seed(0))
    with torch.no_grad():
        z = ref.head(ref.encoder(torch.cat([rotate(x, 0.0), rotate(x, 90.0)])))
    assert out.loss.item() == pytest.approx(nt_xent(z[:4], z[4:], 0.5).item(), rel=1e-5)
    assert 0.0 <= out.accuracy <= 1.0


SEED_003_SETS = [(0, 90, 180, 270), tuple(range(0, 360, 45)), (0, 180), (90, 270)]
OTHER_SETS = [(45, 135, 225, 315), (30, 100, 200)]


def dots(size: int = 32) -> tuple[torch.Tensor, list[float]]:
    """Two images, each one bright 2 x 2 dot on the horizontal through the centre, right of it
    at radius 9 and 5 pixels."""
    x = torch.zeros(2, 3, size, size)
    c = (size - 1) / 2
    for i, r in enumerate((9, 5)):
        col = int(c + r - 0.5)
        x[i, :, int(c - 0.5):int(c + 1.5), col:col + 2] = 1.0
    return x, [9.0, 5.0]


def centroid(img: torch.Tensor) -> tuple[float, float]:
    """(x, y) of the brightness centroid relative to the centre, x right, y down."""
    w = img.mean(0)
    c = (img.shape[-1] - 1) / 2
    r = torch.arange(img.shape[-1], dtype=torch.float32) - c
    total = w.sum()
    return float((w.sum(0) * r).sum() / total), float((w.sum(1) * r).sum() / total)


@pytest.mark.parametrize("angles", SEED_003_SETS + OTHER_SETS)
@pytest.mark.parametrize("all_in_batch", [True, False])
def test_rotation_labels_match_the_images(angles, all_in_batch) -> None:
    x, radii = dots()
    g = torch.Generator().manual_seed(0)
    batch, labels = rotation_batch(x, angles, all_in_batch, g, crop="disk")
    k = len(angles)
    assert batch.shape[0] == (2 * k if all_in_batch else 2)
    if all_in_batch:  # image-major: rows i*K .. i*K + K - 1 are image i at every angle
        assert labels.tolist() == list(range(k)) * 2
    for row in range(batch.shape[0]):
        image = row // k if all_in_batch else row
        theta = math.radians(angles[int(labels[row])])
        # counter-clockwise as displayed: (r, 0) goes to (r cos t, -r sin t) with y down
        expected = (radii[image] * math.cos(theta), -radii[image] * math.sin(theta))
        got = centroid(batch[row])
        assert got == pytest.approx(expected, abs=0.6), (angles, row)


def test_one_random_rotation_per_image_draws_every_class() -> None:
    x = torch.rand(400, 1, 4, 4)
    _, labels = rotation_batch(x, (0, 90, 180, 270), False, torch.Generator().manual_seed(0))
    counts = torch.bincount(labels, minlength=4)
    assert counts.min() > 70  # ~100 each


def test_rotnet_needs_two_angles() -> None:
    with pytest.raises(ConfigError, match="rotnet classifies among the angles"):
        parse_trial({"pretext": {"name": "rotnet", "params": {"angles": [90]}}})


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_every_pretext_steps_and_trains_its_encoder(name: str) -> None:
    # 32 px and no field of view: colorization needs a map of 2×2 or more, and the tile tasks
    # refuse a crop (docs/pretexts.md)
    cfg = parse_trial({"data": {"image_size": 32}, "model": {"params": {"width": 4}},
                       "pretext": {"name": name, "augment": "mocov2", "crop": "none"}})
    torch.manual_seed(0)
    task = build_task(cfg, torch.device("cpu"))
    out = task.step(torch.rand(4, 3, 32, 32), torch.Generator().manual_seed(0))
    assert out.loss.ndim == 0 and math.isfinite(out.loss.item())
    assert out.accuracy is None or 0.0 <= out.accuracy <= 1.0
    out.loss.backward()
    assert all(p.grad is not None for p in task.encoder.parameters())


def test_unknown_pretext_names_the_choices() -> None:
    with pytest.raises(KeyError, match=r"unknown pretext 'no_such_task'.*moco_rotation"):
        build_pretext(small_encoder(), PretextConfig(name="no_such_task"))
