"""The seeds' tables from constructed tables: seed 000 Table I, seed 002 rotation accuracy and
Q, seed 003 rotation sets per block (from a ``probe`` table with the schema's columns)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from analysis.curves import curve_table
from analysis.seed_tables import q_table, rotation_accuracy_table, rotation_set_table, table_one
from rotsweep.schema import columns

# seed 003, Table 2 (CIFAR-10, conv block 2 of a 4-block RotNet) and its block table
SEED003 = {"0,90,180,270": 89.06, "0,45,90,135,180,225,270,315": 88.51, "0,180": 87.46,
           "90,270": 85.52}


def probe_frame() -> pd.DataFrame:
    rows = []
    for label, acc in SEED003.items():
        angles = [int(a) for a in label.split(",")]
        for seed in (0, 1):
            for b, block in enumerate(["conv1", "conv2", "conv3", "conv10"]):
                for metric, value in (("accuracy", acc / 100 - 0.01 * b + 0.002 * seed),
                                      ("loss", 1.0)):
                    rows.append({"study": "g", "dataset": "cifar10", "trial_id": f"{label}-{seed}",
                                 "backbone": "nin", "pretext": "rotnet", "train_angles": angles,
                                 "init": "random", "seed": seed, "downstream": "cifar10",
                                 "probe": "mlp", "block": block, "n_train": 50000,
                                 "metric": metric, "value": value})
    frame = pd.DataFrame(rows)
    assert set(frame.columns) <= set(columns("probe"))
    return frame


def test_rotation_set_table_reads_angle_set_to_accuracy_per_block() -> None:
    table = rotation_set_table(probe_frame())
    assert list(table.columns) == ["conv1", "conv2", "conv3", "conv10"]  # natural order
    others = [n for n in table.index.names if n != "train_angles"]
    conv1 = table["conv1"].droplevel(others)
    for label, acc in SEED003.items():
        assert conv1[label] == pytest.approx(acc / 100 + 0.001)  # mean of the two seeds
    assert table.index.get_level_values("metric").unique().tolist() == ["accuracy"]
    n_rot = dict(zip(table.index.get_level_values("train_angles"),
                     table.index.get_level_values("n_rotations"), strict=True))
    assert n_rot == {"0,90,180,270": 4, "0,45,90,135,180,225,270,315": 8, "0,180": 2,
                     "90,270": 2}
    assert table["conv2"].idxmax()[-1] == "0,90,180,270"  # seed 003's finding, by construction
    loss = rotation_set_table(probe_frame(), metric="loss")
    assert (loss.to_numpy() == 1.0).all()


def test_rotation_accuracy_uses_each_trials_last_epoch() -> None:
    rows = [{"study": "s", "dataset": d, "trial_id": f"{d}-{b}-{seed}", "backbone": b,
             "pretext": "rotnet", "train_angles": [0, 90, 180, 270], "seed": seed,
             "epoch": e, "loss": 1.0 / e, "pretext_accuracy": acc * e / 3, "lr": 0.1}
            for d, b, acc in (("coco", "six_layer", 0.5759), ("lfw", "six_layer", 0.9804),
                              ("coco", "mobilenet_v2", 0.4341))
            for seed in (0, 1) for e in (3, 1, 2)]
    table = rotation_accuracy_table(pd.DataFrame(rows))
    assert table.loc[("rotnet", "coco"), "six_layer"] == pytest.approx(0.5759)
    assert table.loc[("rotnet", "lfw"), "six_layer"] == pytest.approx(0.9804)
    assert table.loc[("rotnet", "coco"), "mobilenet_v2"] == pytest.approx(0.4341)
    assert np.isnan(table.loc[("rotnet", "lfw"), "mobilenet_v2"])
    no_acc = pd.DataFrame(rows).assign(pretext_accuracy=np.nan)
    assert rotation_accuracy_table(no_acc).empty


def test_q_table_has_trained_and_baseline_rows_at_zero_degrees(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    def with_q(frame: pd.DataFrame, q: float) -> pd.DataFrame:
        return frame.assign(q_bbox=np.where(frame["eval_angle"] == 0, q, 0.9))

    frame = pd.concat([
        with_q(make_saliency(np.cos, backbone="six_layer", dataset="coco"), 0.1281),
        with_q(make_saliency(np.cos, backbone="six_layer", dataset="coco",
                             init="random_baseline"), 0.0),
        with_q(make_saliency(np.cos, backbone="efficientnet_b0", dataset="coco",
                             trial_id="t2"), 0.2868)])
    table = q_table(frame)
    assert table.loc[("pair_similarity", "trained", "coco"), "six_layer"] == pytest.approx(0.1281)
    assert table.loc[("pair_similarity", "random init", "coco"), "six_layer"] == 0.0
    assert table.loc[("pair_similarity", "trained", "coco"), "efficientnet_b0"] == pytest.approx(
        0.2868)
    assert q_table(frame.assign(q_bbox=np.nan)).empty


def test_table_one_puts_dice_per_train_angle_beside_svm_accuracy(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = pd.concat([
        make_saliency(lambda a: 0.6 + 0 * a, trial_id="a", train_angles=[90]),
        make_saliency(lambda a: 0.4 + 0 * a, trial_id="b", train_angles=[45]),
        make_saliency(lambda a: 0.1 + 0 * a, trial_id="b", train_angles=[45],
                      init="random_baseline")])
    curves = curve_table(frame, ["dice"], by="condition", n_boot=50)
    hog = pd.DataFrame({"dataset": "brats", "eval_angle": np.arange(0, 360, 15),
                        "accuracy": np.linspace(0.5, 1.0, 24)})
    table = table_one(curves, hog)
    assert list(table.columns) == ["brats: dice θ = 45°", "brats: dice θ = 90°",
                                   "brats: HoG-SVM accuracy"]
    assert table.index.name == "angle" and list(table.index) == list(range(0, 360, 15))
    assert table["brats: dice θ = 90°"].mean() == pytest.approx(
        frame[frame.trial_id == "a"]["dice"].mean(), rel=1e-6)
    assert table.loc[15, "brats: HoG-SVM accuracy"] == pytest.approx(0.5 + 0.5 / 23)


def test_rotation_set_table_keeps_depths_and_training_sizes_apart() -> None:
    import json

    frame = probe_frame()
    deep = frame.assign(trial_id=frame["trial_id"] + "-deep", value=frame["value"] - 0.1)
    small = frame.assign(n_train=500, value=frame["value"] - 0.2)
    probe = pd.concat([frame, deep, small], ignore_index=True)
    trials = pd.DataFrame({
        "trial_id": list(pd.unique(probe["trial_id"])),
        "config_json": [json.dumps({"model": {"backbone": "nin", "params": {
            "blocks": 5 if t.endswith("-deep") else 4}}}) for t in pd.unique(probe["trial_id"])],
    })
    table = rotation_set_table(probe, trials=trials)
    archs = set(table.index.get_level_values("architecture"))
    assert archs == {"nin(blocks=4)", "nin(blocks=5)"}
    assert set(table.index.get_level_values("n_train")) == {500, 50000}
    assert len(table) == 3 * len(rotation_set_table(frame))


def test_table_one_keeps_curves_that_differ_only_in_their_config(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    # seed 003's study: one angle set, NIN of 3, 4 and 5 blocks (model.params, not a column):
    # the three curves once collided under one label ("cannot reindex on an axis with
    # duplicate labels")
    import json

    from analysis.labels import config_differences
    from analysis.results import condition_digests

    frame = pd.concat([make_saliency(lambda a, b=b: 0.1 * b + 0 * a, trial_id=f"t{b}",
                                     train_angles=[0, 90, 180, 270], n_images=4)
                       for b in (3, 4, 5)])
    trials = pd.DataFrame({"trial_id": ["t3", "t4", "t5"], "config_json": [
        json.dumps({"model": {"backbone": "nin", "params": {"blocks": b}}}) for b in (3, 4, 5)]})
    curves = curve_table(frame, ["dice"], by="condition", n_boot=20,
                         condition_of=condition_digests(trials))
    table = table_one(curves, None, differences=config_differences(trials))
    assert list(table.columns) == [f"brats: dice θ = 0,90,180,270°, blocks={b}"
                                   for b in (3, 4, 5)]
    assert table.iloc[0].tolist() == pytest.approx([0.3, 0.4, 0.5], abs=0.01)  # + image noise
    plain = table_one(curves, None)  # without configs: numbered, never named by trial id
    assert list(plain.columns) == [f"brats: dice θ = 0,90,180,270° (curve {k})"
                                   for k in (1, 2, 3)]


def test_fractional_angles_keep_their_tenths(make_saliency: Callable[..., pd.DataFrame]
                                             ) -> None:
    from analysis.curves import angle_label

    assert angle_label([0.0, 22.5, 359.9]) == "0,22.5,359.9"
    assert angle_label(np.array([np.float32(0.1)])) == "0.1"
    tenths = np.arange(6) * 0.05
    frame = make_saliency(lambda a: 0 * a + 0.5, angles=np.arange(6), n_images=3).assign(
        eval_angle=np.tile(tenths, 3))
    table = table_one(curve_table(frame, ["dice"], by="condition", n_boot=20), None)
    assert list(table.index) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2, 0.25])
