"""Probes: the registry, heads and objectives against hand-made answers, the training loop, the
stage's cache, the pre-trained-vs-random comparison, and rows through ``run_trial``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rotsweep.tables import read_table
from trainables.config import DataConfig, ModelConfig
from trainables.config.parse import build
from trainables.data import DATASETS, load_split
from trainables.data.base import Sample
from trainables.models import build_backbone
from trainables.probes import PROBES, HeadInput, build_probe
from trainables.probes import stage as stage_module
from trainables.probes.downstream import downstream_configs, load_downstream
from trainables.probes.fit import OBJECTIVES, Classification, Segmentation, fit
from trainables.probes.stage import (
    PROBE_EPOCH,
    encoder_sources,
    pair_probes,
    probe_stage,
    report_curves,
)
from trainables.spec import parse_trial
from trainables.train import pretrain
from trainables.trial import TrialContext, build_task, epoch_batches, run_trial, seed_everything

CPU = torch.device("cpu")
GLYPHS = ("L", "T", "F")


@dataclass(frozen=True)
class GlyphParams:
    """``data.params`` of the test's ``glyphs`` set: ``n_images`` items drawn with ``seed``."""

    n_images: int = field(default=300, metadata={"ge": 3})
    seed: int = 0


class Glyphs(torch.utils.data.Dataset):
    """One bright glyph, L, T or F (label 0, 1, 2), made of bars of one thickness, upright, of
    random size and place on a dim noisy background. Every glyph has vertical and horizontal
    edges, so the class is in how the bars are arranged, and a RotNet must learn exactly that
    arrangement to tell an upright L from one turned by 90°."""

    def __init__(self, cfg: DataConfig) -> None:
        self.p = build(GlyphParams, cfg.params, "data.params")
        self.size = cfg.image_size
        self.ids = [f"glyph_{i:05d}" for i in range(self.p.n_images)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        rng = np.random.default_rng([self.p.seed, i])
        s, label = self.size, i % len(GLYPHS)
        h, w = rng.integers(s // 3, s // 2 + 1, size=2)
        t = max(2, s // 12)
        y, x = rng.integers(s // 8, s - s // 8 - h), rng.integers(s // 8, s - s // 8 - w)
        m = np.zeros((s, s), dtype=bool)
        m[y:y + h, x:x + t] = GLYPHS[label] != "T"                 # left upright bar
        if GLYPHS[label] == "L":
            m[y + h - t:y + h, x:x + w] = True                    # foot
        elif GLYPHS[label] == "T":
            m[y:y + t, x:x + w] = True                            # top bar
            m[y:y + h, x + w // 2 - t // 2:x + w // 2 - t // 2 + t] = True
        else:
            m[y:y + t, x:x + w] = True                            # top bar, middle bar
            m[y + h // 2 - t // 2:y + h // 2 - t // 2 + t, x:x + (2 * w) // 3] = True
        img = np.where(m, rng.uniform(0.6, 0.9), rng.uniform(0.1, 0.3))
        img = np.clip(img + rng.normal(0, 0.03, (s, s)), 0, 1).astype(np.float32)
        return {"image": torch.from_numpy(img).expand(3, -1, -1).clone(),
                "mask": torch.from_numpy(m), "image_id": self.ids[i], "label": label}


@pytest.fixture(scope="module")
def glyphs() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(DATASETS, "glyphs", Glyphs)
        yield


# -- registry, heads, objectives -------------------------------------------------------------
def test_an_unknown_probe_names_the_choices() -> None:
    with pytest.raises(KeyError, match=r"unknown probe 'knn'; expected one of \['finetune', "
                                       r"'linear', 'mlp', 'segmentation'\]"):
        build_probe("knn")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_probe_builds_a_trainable_model_of_the_right_shape(name: str) -> None:
    probe = build_probe(name)
    cfg = parse_trial({}).probe
    encoder = build_backbone(ModelConfig(backbone="small_cnn", params={"width": 4}), 16)
    if probe.inputs == "images":
        x, dim = torch.rand(4, 3, 16, 16), 0
    elif probe.inputs == "pooled":
        x, dim = torch.randn(4, 12), 12
    else:
        x, dim = torch.randn(4, 6, 4, 4), 6
    n_out = 5 if probe.task == "classification" else 1
    model = probe.build(HeadInput(dim, n_out, 16, "block2", encoder), cfg).train()
    out = model(x)
    assert out.shape == ((4, 5) if probe.task == "classification" else (4, 16, 16))
    out.float().square().mean().backward()
    # finetune at block2: the encoder's later blocks are not part of the probed network
    unused = ("encoder.blocks.block3.", "encoder.blocks.block4.")
    grads = {n: p.grad for n, p in model.named_parameters() if not n.startswith(unused)}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())


def test_mlp_is_seed_003s_three_fully_connected_layers() -> None:
    model = build_probe("mlp").build(HeadInput(32, 10, 32, "b"), parse_trial({}).probe)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 200), (200, 200),
                                                                   (200, 10)]
    assert [m.bias is None for m in linears] == [True, True, False]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 2
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 32 * 200 + 2 * 200 + 200 * 200 + 2 * 200 + 200 * 10 + 10


def test_objectives_score_hand_made_cases() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    target = torch.tensor([0, 0, 0])
    assert Classification().scores(logits, target)["accuracy"].tolist() == [1.0, 0.0, 1.0]
    expected_ce = -torch.log_softmax(logits, 1)[:, 0].mean()
    assert torch.isclose(Classification().loss(logits, target), expected_ce)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :2] = True                       # 4 pixels
    out = torch.full((1, 4, 4), -5.0)
    out[0, :2, :3] = 5.0                         # predicts 6 pixels, 4 of them right
    s = Segmentation().scores(out, mask)
    assert s["dice"].item() == pytest.approx(2 * 4 / (6 + 4))
    assert s["iou"].item() == pytest.approx(4 / 6)
    p = torch.sigmoid(out)
    assert s["soft_dice"].item() == pytest.approx((2 * (p * mask).sum() / (p.sum() + 4)).item(),
                                                  rel=1e-5)


# -- the training loop -------------------------------------------------------------------------
def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    return centres[y] + torch.randn(n, 2, generator=g), y


def test_a_linear_probe_separates_separable_classes() -> None:
    cfg = parse_trial({"probe": {"epochs": 15, "lr": 0.05, "batch_size": 16}}).probe
    torch.manual_seed(0)
    model = build_probe("linear").build(HeadInput(2, 3, 1, "b"), cfg)
    seen: list[int] = []
    result = fit(model, blobs(90, 0), blobs(60, 1), Classification(), cfg, CPU,
                 torch.Generator().manual_seed(0), on_epoch=lambda r: seen.append(r.epoch))
    assert seen == list(range(1, 16))
    assert result.final["accuracy"] == 1.0 and result.final["train_accuracy"] == 1.0
    assert result.history[-1].eval_score == result.final["accuracy"]
    assert result.history[-1].train_loss < result.history[0].train_loss / 3
    assert result.history[-1].lr < result.history[0].lr  # cosine schedule


def test_a_segmentation_probe_decodes_maps_that_hold_the_mask() -> None:
    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(48, 16, 16, dtype=torch.bool)
    for i in range(48):
        r, c = torch.randint(0, 8, (2,), generator=g).tolist()
        masks[i, r:r + 8, c:c + 8] = True
    # block maps at 1/2 resolution: the pooled mask in channel 0, noise in channels 1-2
    maps = torch.cat([torch.nn.functional.avg_pool2d(masks[:, None].float(), 2),
                      torch.randn(48, 2, 8, 8, generator=g)], dim=1)
    cfg = parse_trial({"probe": {"epochs": 30, "lr": 0.01, "batch_size": 8}}).probe
    torch.manual_seed(0)
    model = build_probe("segmentation").build(HeadInput(3, 1, 16, "b"), cfg)
    result = fit(model, (maps[:32], masks[:32]), (maps[32:], masks[32:]), Segmentation(), cfg,
                 CPU, torch.Generator().manual_seed(0))
    assert result.final["dice"] > 0.9
    assert set(result.final) == {"dice", "iou", "soft_dice", "eval_loss", "train_dice"}


def test_finetune_trains_a_copy_and_leaves_the_encoder_alone() -> None:
    encoder = build_backbone(ModelConfig(backbone="small_cnn", params={"width": 4}), 16)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    cfg = parse_trial({"probe": {"epochs": 2, "lr": 0.01, "batch_size": 4}}).probe
    model = build_probe("finetune").build(HeadInput(0, 2, 16, "block3", encoder), cfg)
    images, labels = torch.rand(8, 3, 16, 16), torch.arange(8) % 2
    fit(model, (images, labels), (images, labels), Classification(), cfg, CPU,
        torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    tuned = model.encoder.state_dict()
    assert not torch.equal(tuned["blocks.block1.0.weight"], before["blocks.block1.0.weight"])
    # blocks after the probed one are never used, so never trained
    assert torch.equal(tuned["blocks.block4.0.weight"], before["blocks.block4.0.weight"])


# -- the stage ---------------------------------------------------------------------------------
def test_probes_are_paired_with_sets_of_their_task(tiny: Any) -> None:
    cfg = parse_trial(tiny(probe={"probes": ["linear"], "pretrain_data": True}))
    sets = [load_downstream(*c) for c in downstream_configs(cfg)]
    with pytest.raises(ValueError, match=r"'synthetic': a segmentation set, but none of "
                                         r"probe.probes \['linear'\] is one of its probes "
                                         r"\['segmentation'\]"):
        pair_probes(sets, ("linear",))
    with pytest.raises(ValueError, match="'mlp' needs a classification downstream set"):
        pair_probes(sets, ("segmentation", "mlp"))


def test_report_curves_sends_one_result_per_probe_epoch() -> None:
    from trainables.probes.fit import ProbeEpoch
    from trainables.probes.stage import ProbeJob

    a = ProbeJob("random", "digits", "linear", "block2", 0.1)
    b = ProbeJob("random_baseline", "kvasir", "segmentation", "block4", 1.0)
    curves = {a: [ProbeEpoch(e, 1.0 / e, 0.5, 2.0, 0.25, 0.1) for e in (1, 2, 3)],
              b: [ProbeEpoch(1, 0.7, 0.6, 0.8, 0.4, 0.1)]}
    sent: list[dict[str, Any]] = []
    report_curves(curves, sent.append)
    assert [r[PROBE_EPOCH] for r in sent] == [1, 2, 3]
    assert sent[1]["probe/digits/linear/block2/random/0.1/train_loss"] == 0.5
    assert sent[0]["probe/kvasir/segmentation/block4/random_baseline/1/eval_dice"] == 0.4
    assert set(sent[2]) == {PROBE_EPOCH} | {f"probe/digits/linear/block2/random/0.1/{k}" for k in
                                            ("train_loss", "train_accuracy", "eval_loss",
                                             "eval_accuracy")}
    assert not any("epoch" in r for r in sent)  # pre-training's axis, read by schedulers


def test_the_random_baseline_is_the_network_pre_training_started_from(tiny: Any) -> None:
    cfg = parse_trial(tiny(probe={"baselines": ["random"]}))
    seed_everything(cfg.seed)  # what run_trial does before it builds the task
    start = build_task(cfg, CPU).encoder.state_dict()
    torch.manual_seed(123)  # whatever happened to the global generator since
    sources = encoder_sources(cfg, build_task(cfg, CPU).encoder, CPU)
    assert [s.init for s in sources] == ["random", "random_baseline"]
    baseline = sources[1].encoder()
    assert not baseline.training
    assert all(torch.equal(start[k], v) for k, v in baseline.state_dict().items())


def test_the_supervised_baseline_reads_its_local_weights_file(tiny: Any, tmp_path: Any) -> None:
    torch.manual_seed(7)
    supervised = build_backbone(ModelConfig(backbone="small_cnn", params={"width": 8}), 32)
    path = tmp_path / "supervised.pt"
    torch.save(supervised.state_dict(), path)
    cfg = parse_trial(tiny(probe={"probes": ["linear"], "blocks": ["block3"], "epochs": 1,
                                  "baselines": ["random", "torchvision"], "weights": str(path),
                                  "downstream": [{"name": "digits", "n_train": 30,
                                                  "n_eval": 20}]}))
    torch.manual_seed(0)
    encoder = build_task(cfg, CPU).encoder
    sources = encoder_sources(cfg, encoder, CPU)
    assert [s.init for s in sources] == ["random", "random_baseline", "torchvision_baseline"]
    loaded = sources[2].encoder()
    assert all(torch.equal(supervised.state_dict()[k], v) for k, v in loaded.state_dict().items())
    assert torch.allclose(loaded.input_std.flatten(), torch.tensor([0.229, 0.224, 0.225]))
    rows = probe_stage(cfg, encoder, {"study": "s", "dataset": "synthetic", "trial_id": "t"},
                       CPU, lambda r: None, str(tmp_path / "cache"))
    assert {r["init"] for r in rows} == {"random", "random_baseline", "torchvision_baseline"}
    assert {(r["init"], r["network"]) for r in rows} == {
        ("random", "pretrained"), ("random_baseline", "untrained"),
        ("torchvision_baseline", "torchvision")}


def test_probe_results_are_cached_by_content(tiny: Any, tmp_path: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tiny(probe={"probes": ["linear"], "blocks": ["block4"], "epochs": 2,
                      "baselines": ["random"],
                      "downstream": [{"name": "digits", "n_train": 60, "n_eval": 30}]})
    cfg = parse_trial(raw)
    torch.manual_seed(0)
    encoder = build_task(cfg, CPU).encoder
    calls: list[str] = []
    real = stage_module.run_job

    def counted(job: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(job.init)
        return real(job, *args, **kwargs)

    monkeypatch.setattr(stage_module, "run_job", counted)
    meta = {"study": "s", "dataset": "synthetic", "trial_id": "t"}
    first = probe_stage(cfg, encoder, meta, CPU, lambda r: None, str(tmp_path))
    assert calls == ["random", "random_baseline"]
    again = probe_stage(cfg, encoder, meta, CPU, lambda r: None, str(tmp_path))
    assert calls == ["random", "random_baseline"] and again == first
    # another fraction is another probe; the random baseline of another trial with the same
    # seed and model (here: other pretext angles) is the same probe
    more = parse_trial({**raw, "probe": {**raw["probe"], "fractions": [0.5, 1.0]},
                        "pretext": {**raw["pretext"], "params": {"angles": [45]}}})
    probe_stage(more, encoder, meta, CPU, lambda r: None, str(tmp_path))
    assert calls == ["random", "random_baseline", "random", "random", "random_baseline"]


def test_pretrained_features_beat_random_init_features_under_a_linear_probe(
        glyphs: None, tmp_path: Any) -> None:
    """Issue 8: RotNet (seed 003) pre-trained for 64 steps on upright glyphs must have
    learned their bar arrangements; a linear probe on its pooled block features classifies
    held-out glyphs (another draw of the generator) better than the same probe on the very
    network it started from. This setting at seeds 0-3 gave margins of 0.11-0.28 on block3
    and 0.06-0.15 on block4 (means of the two 0.12-0.21); the test runs seed 0 (0.28, 0.14)."""
    raw = {
        "study": "t", "seed": 0,
        "data": {"name": "glyphs", "image_size": 32, "n_train": 256, "n_eval": 4,
                 "params": {"n_images": 1000, "seed": 1}},
        "model": {"backbone": "small_cnn", "params": {"width": 8}},
        "pretext": {"name": "rotnet", "params": {"angles": [0, 90, 180, 270]},
                    "augment": "none", "crop": "none"},
        "train": {"epochs": 8, "batch_size": 32, "optimizer": "adam", "lr": 3e-3,
                  "weight_decay": 0.0, "schedule": "none"},
        "probe": {"probes": ["linear"], "blocks": ["block3", "block4"], "baselines": ["random"],
                  "epochs": 30, "lr": 1e-2, "batch_size": 32,
                  "downstream": [{"name": "glyphs", "n_train": 360, "eval_fraction": 0.4,
                                  "params": {"n_images": 600, "seed": 2}}]},
    }
    cfg = parse_trial(raw)
    g = seed_everything(cfg.seed)
    task = build_task(cfg, CPU)
    history = pretrain(task, epoch_batches(load_split(cfg.data, "train"), cfg), cfg.train, CPU,
                       g, lambda m, s: None)
    assert history[-1].pretext_accuracy > 0.8  # the rotation task was learnt
    rows = probe_stage(cfg, task.encoder, {"study": "t", "dataset": "glyphs", "trial_id": "x"},
                       CPU, lambda r: None, str(tmp_path))
    acc = {(r["block"], r["init"]): r["value"] for r in rows if r["metric"] == "accuracy"}
    assert {r["n_train"] for r in rows} == {360}
    margins = [acc[b, "random"] - acc[b, "random_baseline"] for b in ("block3", "block4")]
    assert min(margins) > 0.04 and sum(margins) / 2 > 0.1, acc
    # well above chance (1/3) on 240 held-out glyphs
    assert min(acc["block3", "random"], acc["block4", "random"]) > 1 / 3 + 0.25, acc


# -- through run_trial -------------------------------------------------------------------------
def test_probe_rows_reach_the_table_and_curves_reach_report(tiny: Any, tmp_path: Any) -> None:
    raw = tiny(probe={"probes": ["linear", "segmentation"], "blocks": ["block2", "block4"],
                      "fractions": [0.5, 1.0], "baselines": ["random"], "epochs": 2,
                      "pretrain_data": True,
                      "downstream": [{"name": "digits", "n_train": 100, "n_eval": 50}]})
    cfg = parse_trial(raw)
    ctx = TrialContext("trial_a", str(tmp_path / "results"), str(tmp_path / "cache"),
                       str(tmp_path / "art"))
    reports: list[dict[str, Any]] = []
    run_trial(cfg, ctx, reports.append)

    table = read_table(ctx.results_root, "probe")
    assert set(table["trial_id"]) == {"trial_a"} and set(table["study"]) == {"test"}
    assert set(table["dataset"].astype(str)) == {"synthetic"}
    assert {tuple(a) for a in table["train_angles"]} == {(90,)}
    keys = set(zip(table["downstream"], table["probe"], table["block"], table["init"],
                   strict=True))
    assert keys == {(d, p, b, i) for d, p in (("digits", "linear"), ("synthetic", "segmentation"))
                    for b in ("block2", "block4") for i in ("random", "random_baseline")}
    linear = table[table["probe"] == "linear"]
    assert set(linear["metric"]) == {"accuracy", "eval_loss", "train_accuracy"}
    # 100 % of the 100 training digits, and half of each class (rounded, at least one)
    train = load_downstream(*downstream_configs(cfg)[0]).train
    labels = torch.tensor([train[i]["label"] for i in range(len(train))])
    half = sum(max(1, round(0.5 * n)) for n in torch.bincount(labels).tolist())
    assert set(linear["n_train"]) == {100, half}
    seg = table[table["probe"] == "segmentation"]
    assert set(seg["metric"]) == {"dice", "iou", "soft_dice", "eval_loss", "train_dice"}
    assert table["value"].between(0, 100).all()

    curves = [r for r in reports if PROBE_EPOCH in r]
    assert [r[PROBE_EPOCH] for r in curves] == [1, 2]
    # 2 set/probe pairs x 2 blocks x 2 inits x 2 fractions, 4 metrics each
    assert len(curves[-1]) == 1 + 16 * 4
    assert reports[-1]["done"] is True and PROBE_EPOCH not in reports[-1]
    final = linear[(linear["block"] == "block4") & (linear["init"] == "random")
                   & (linear["n_train"] == 100) & (linear["metric"] == "accuracy")]["value"]
    assert final.item() == pytest.approx(
        curves[-1]["probe/digits/linear/block4/random/1/eval_accuracy"])


def test_objectives_registry_matches_the_probe_tasks() -> None:
    assert {p.task for p in PROBES.values()} == set(OBJECTIVES)
