"""Per-angle evaluation end to end: masks and boxes rotate with the images, rows are complete,
the random-init baseline is written beside the trained rows."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from trainables.data import collate, load_split
from trainables.evaluate import evaluate_saliency, rotated_masks
from trainables.models import Backbone
from trainables.pretext import Pretext
from trainables.rotation import rotate_each
from trainables.spec import parse_trial
from trainables.trial import TrialContext, run_trial


class Square(nn.Module):
    """``x ↦ x²`` summed over channels: the embedding's input gradient is 2x, so the saliency
    of an image is its own brightness."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * x).sum(1, keepdim=True)


class Probe(Pretext):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Backbone(OrderedDict(block1=Square()), embed_dim=1)


def rect_trial(**saliency: Any) -> Any:
    return parse_trial({
        "data": {"name": "synthetic", "image_size": 32, "n_eval": 4,
                 "params": {"kind": "rectangles", "n_images": 40, "noise": 0.0}},
        "saliency": {"method": "gradient", "target": "embedding_max", "n_neurons": 0,
                     "eval_angles": [0, 30, 90, 135, 180], **saliency},
    })


def test_bright_objects_give_dice_one_at_every_angle() -> None:
    # saliency = 2x is brightest on the object, so if masks rotate with the images the top
    # mask-area pixels are the object at every angle (off-centre objects fail otherwise)
    cfg = rect_trial()
    batch = collate(list(load_split(cfg.data, "eval")))
    rows, maps = evaluate_saliency(Probe(), batch["image"], batch["mask"], batch["image_id"],
                                   cfg)
    assert len(rows) == 4 * 5 and maps.shape == (4, 5, 32, 32)
    frame = pd.DataFrame(rows)
    assert frame["dice"].min() > 0.9, frame.groupby("eval_angle")["dice"].mean()
    assert frame["auc"].min() > 0.95
    assert frame["q_bbox"].isna().all() and frame["q_bbox"].map(lambda v: v is None).all()
    assert list(frame["image_id"][:5]) == [batch["image_id"][0]] * 5  # image-major
    # x ↦ x² is equivariant under exact 90° turns: every metric at 90° and 180° is the 0° one
    # (up to float summation order)
    per = frame.set_index(["eval_angle", "image_id"]).drop(columns="q_bbox").astype(float)
    for angle in (90, 180):
        assert np.allclose(per.loc[angle], per.loc[0], rtol=0, atol=1e-6)


def test_boxes_rotate_with_the_image() -> None:
    cfg = rect_trial(threshold_rule="fixed", threshold=0.5)
    batch = collate(list(load_split(cfg.data, "eval")))
    boxes = []
    for m in batch["mask"]:  # the rectangle's bounding box
        ys, xs = m.nonzero(as_tuple=True)
        boxes.append(torch.tensor([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]).float())
    rows, _ = evaluate_saliency(Probe(), batch["image"], batch["mask"], batch["image_id"], cfg,
                                boxes)
    q = pd.DataFrame(rows).groupby("eval_angle")["q_bbox"].mean()
    assert (q > 0.85).all(), q


@pytest.fixture
def trial_rows(tiny: Any, tmp_path: Any) -> pd.DataFrame:
    cfg = parse_trial(tiny(saliency={"n_samples": 2, "eval_angles": [0, 90],
                                     "random_init_baseline": True}))
    ctx = TrialContext("trial_a", str(tmp_path / "res"), str(tmp_path / "cache"),
                       str(tmp_path / "art"))
    out: list[dict[str, Any]] = []
    summary = run_trial(cfg, ctx, out.append)
    assert "random_baseline_dice_mean" in summary
    for name in ("saliency_examples.png", "saliency_examples_random_baseline.png",
                 "saliency_curve.png"):
        assert (tmp_path / "art" / "trial_a" / name).stat().st_size > 1000
    return pd.read_parquet(tmp_path / "res" / "saliency")


def test_random_init_baseline_rows(trial_rows: pd.DataFrame) -> None:
    counts = trial_rows.groupby("init").size()
    assert dict(counts) == {"random": 8, "random_baseline": 8}
    assert dict(trial_rows.groupby("network").size()) == {"pretrained": 8, "untrained": 8}
    assert (trial_rows["network"] == "untrained").eq(trial_rows["init"] == "random_baseline").all()
    assert set(trial_rows["trial_id"]) == {"trial_a"}
    trained = trial_rows[trial_rows["init"] == "random"].set_index(["image_id", "eval_angle"])
    base = trial_rows[trial_rows["init"] == "random_baseline"].set_index(
        ["image_id", "eval_angle"])
    assert not (trained["soft_dice"] == base.loc[trained.index, "soft_dice"]).all()


@pytest.mark.data
@pytest.mark.slow
def test_kvasir_boxes_give_q_at_every_angle(shared_data: Any) -> None:
    cfg = parse_trial({
        "data": {"name": "kvasir_seg", "root": str(shared_data / "kvasir_seg"),
                 "image_size": 64, "n_eval": 4},
        "saliency": {"method": "gradient", "target": "embedding_max", "n_neurons": 0,
                     "eval_angles": [0, 45, 90]},
    })
    batch = collate(list(load_split(cfg.data, "eval")))
    assert "boxes" in batch
    rows, _ = evaluate_saliency(Probe(), batch["image"], batch["mask"], batch["image_id"], cfg,
                                batch["boxes"])
    q = pd.DataFrame(rows).set_index(["eval_angle", "image_id"])["q_bbox"]
    assert q.between(0, 1).all()
    assert q.loc[90].equals(q.loc[0])  # boxes turn exactly with the image at 90°


def test_masks_rotate_through_the_images_path() -> None:
    # issue 19: the soft mask is the images' rotation of the mask; its binary is that
    # thresholded once at 0.5; quarter turns are exact and the soft mask's sum (the mask's
    # area) is the same at every angle
    mask = torch.zeros(2, 48, 48, dtype=torch.bool)
    mask[0, 14:30, 20:27] = True
    mask[1, 20:33, 12:35] = True
    soft0, bin0 = rotated_masks(mask, [0.0, 0.0])
    assert torch.equal(soft0, rotate_each(mask.float(), [0.0, 0.0]))
    assert torch.equal(bin0, soft0 >= 0.5)
    soft90, bin90 = rotated_masks(mask, [90.0, 90.0])
    assert torch.equal(soft90, torch.rot90(soft0, 1, dims=(-2, -1)))
    assert torch.equal(bin90, torch.rot90(bin0, 1, dims=(-2, -1)))
    area = mask.float().sum((1, 2))
    for angle in (0.0, 17.0, 45.0, 133.0):
        soft, binary = rotated_masks(mask, [angle, angle])
        torch.testing.assert_close(soft.sum((1, 2)), area, atol=1e-2, rtol=0)
        assert (binary.float().sum((1, 2)) - area).abs().max() <= 0.1 * area.min()
