"""Seed 004's table from a hand-built ``probe`` table: task × downstream set × pre-training
subset size, its mean and its sensitivity (the std over sizes, averaged over sets)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.document import Document
from analysis.seed004 import BASELINE_ROW, seed004_section, seed004_table
from rotsweep.schema import columns

SIZES = (30000, 60000, 120000)
BASE = {"rotnet": 0.70, "counting": 0.60}  # accuracy at 30K on CIFAR-10
GAIN = {"rotnet": 0.01, "counting": 0.03}  # per size step: counting is the more sensitive
SET_OFFSET = {"digits": 0.1, "cifar10": 0.0}  # rows in this order; the table puts CIFAR-10 first
LABEL = {"rotnet": "rotnet {0,90,180,270}", "counting": "counting M=10"}


def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, trials = [], []
    for task in BASE:
        for i, size in enumerate(SIZES):
            for seed in (0, 1):
                trial = f"{task}-{size}-{seed}"
                trials.append({"study": "macar_liu", "dataset": "imagenet", "trial_id": trial,
                               "status": "done",
                               "config_json": json.dumps({"data": {"n_train": size}})})
                for down, offset in SET_OFFSET.items():
                    for block, drop in (("conv1", 0.2), ("conv3", 0.0)):
                        value = BASE[task] + offset + GAIN[task] * i + 0.01 * seed - drop
                        common = {"study": "macar_liu", "dataset": "imagenet",
                                  "trial_id": trial, "backbone": "alexnet_bn",
                                  "pretext": task, "pretraining": LABEL[task], "seed": seed,
                                  "downstream": down, "block": block, "n_train": 500}
                        rows += [
                            {**common, "init": "random", "probe": "linear",
                             "metric": "accuracy", "value": value},
                            {**common, "init": "random", "probe": "linear", "metric": "loss",
                             "value": 9.0},
                            {**common, "init": "random", "probe": "mlp",
                             "metric": "accuracy", "value": 0.0},
                            {**common, "init": "random_baseline", "probe": "linear",
                             "metric": "accuracy", "value": 0.2 + offset - drop},
                        ]
    probe = pd.DataFrame(rows)
    assert set(probe.columns) <= set(columns("probe"))
    return probe, pd.DataFrame(trials)


def test_seed004_table_is_task_by_set_by_size() -> None:
    probe, trials = tables()
    table = seed004_table(probe, trials)
    assert list(table.index) == [("imagenet", "conv3", LABEL["rotnet"]),
                                 ("imagenet", "conv3", LABEL["counting"]),
                                 ("imagenet", "conv3", BASELINE_ROW),
                                 ("imagenet", "conv1", LABEL["rotnet"]),
                                 ("imagenet", "conv1", LABEL["counting"]),
                                 ("imagenet", "conv1", BASELINE_ROW)]
    assert list(table.columns) == [
        "CIFAR-10 @ 30,000", "CIFAR-10 @ 60,000", "CIFAR-10 @ 120,000",
        "digits (for SVHN) @ 30,000", "digits (for SVHN) @ 60,000",
        "digits (for SVHN) @ 120,000", "mean", "sensitivity"]
    row = table.loc[("imagenet", "conv3", LABEL["counting"])]
    # mean over the two seeds (+0.005), per size step +0.03
    assert row["CIFAR-10 @ 60,000"] == pytest.approx(0.60 + 0.03 + 0.005)
    assert row["digits (for SVHN) @ 120,000"] == pytest.approx(0.60 + 0.1 + 0.06 + 0.005)
    assert row["mean"] == pytest.approx(0.60 + 0.05 + 0.03 + 0.005)
    # sensitivity: std (ddof 0) of 0, g, 2g is g·sqrt(2/3), the same on both sets
    assert row["sensitivity"] == pytest.approx(0.03 * math.sqrt(2 / 3))
    rot = table.loc[("imagenet", "conv3", LABEL["rotnet"])]
    assert rot["sensitivity"] == pytest.approx(0.01 * math.sqrt(2 / 3))
    base = table.loc[("imagenet", "conv1", BASELINE_ROW)]
    assert base["CIFAR-10 @ 30,000"] == pytest.approx(0.0)  # 0.2 − 0.2 at conv1
    assert base["sensitivity"] == pytest.approx(0.0)


def test_seed004_table_without_trials_or_rows() -> None:
    probe, _ = tables()
    table = seed004_table(probe)  # no trials table: one size, "all"
    assert list(table.columns) == ["CIFAR-10 @ all", "digits (for SVHN) @ all", "mean",
                                   "sensitivity"]
    assert table["sensitivity"].isna().all()
    assert seed004_table(probe.iloc[:0]).empty
    assert seed004_table(probe[probe["metric"] == "loss"]).empty


def test_seed004_section_names_the_stand_ins() -> None:
    probe, trials = tables()
    doc = Document("r")
    seed004_section(doc, seed004_table(probe, trials))
    text = doc.to_markdown()
    assert "Seed 004: pretext task × downstream set × pre-training size" in text
    assert "`digits` for SVHN" in text and "CIFAR-10 @ 30,000" in text
    assert "pre-training data" not in text  # the pre-training data is imagenet itself
    empty = Document("r")
    seed004_section(empty, pd.DataFrame())
    assert "No `probe` rows" in empty.to_markdown()
    assert np.isfinite(seed004_table(probe, trials)["mean"]).all()
