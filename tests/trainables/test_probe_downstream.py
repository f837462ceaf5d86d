"""Downstream sets: splits, the task they imply, and the deterministic nested fractions."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch

from trainables.data import load_split
from trainables.probes.downstream import downstream_configs, fraction_subset, load_downstream
from trainables.spec import parse_trial


def counts(labels: torch.Tensor, picked: list[int]) -> list[int]:
    return torch.bincount(labels[picked], minlength=int(labels.max()) + 1).tolist()


def test_fractions_are_stratified_with_at_least_one_item_per_class() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    ids = [f"item_{i:03d}" for i in range(100)]
    assert counts(labels, fraction_subset(ids, labels, 0.1, seed=0)) == [5, 3, 2]
    # round(0.5) = round(0.3) = round(0.2) = 0 → one of each class
    assert counts(labels, fraction_subset(ids, labels, 0.01, seed=0)) == [1, 1, 1]
    assert fraction_subset(ids, labels, 1.0, seed=0) == list(range(100))
    assert len(fraction_subset(ids, None, 0.1, seed=0)) == 10
    assert len(fraction_subset(ids, None, 0.001, seed=0)) == 1


@pytest.mark.parametrize("stratified", [True, False])
def test_fractions_are_nested_and_do_not_depend_on_item_order(stratified: bool) -> None:
    labels = torch.tensor([i % 4 for i in range(200)])
    ids = [f"img_{i:03d}" for i in range(200)]
    lab = labels if stratified else None
    chosen = {f: {ids[i] for i in fraction_subset(ids, lab, f, seed=3)} for f in (0.01, 0.1, 1.0)}
    assert chosen[0.01] <= chosen[0.1] <= chosen[1.0] == set(ids)
    order = list(range(200))
    random.Random(0).shuffle(order)
    shuffled_ids = [ids[i] for i in order]
    shuffled_lab = labels[order] if stratified else None
    again = {shuffled_ids[i] for i in fraction_subset(shuffled_ids, shuffled_lab, 0.1, seed=3)}
    assert again == chosen[0.1]
    other_seed = {ids[i] for i in fraction_subset(ids, lab, 0.1, seed=4)}
    assert other_seed != chosen[0.1] and len(other_seed) == len(chosen[0.1])


def test_a_labelled_set_is_classification_and_a_mask_set_segmentation(tiny: Any) -> None:
    cfg = parse_trial(tiny(probe={"probes": ["linear", "segmentation"], "pretrain_data": True,
                                  "downstream": [{"name": "digits", "n_eval": 50}]}))
    (lab, digits), (lab2, synth) = downstream_configs(cfg)
    assert (lab, lab2) == ("digits", "synthetic")
    assert digits.image_size == cfg.data.image_size  # the size the encoder was trained at
    d = load_downstream(lab, digits)
    assert d.task == "classification"
    assert len(d.eval) == 50 and len(d.train) == 1797 - round(0.2 * 1797)
    assert not set(d.train.ids) & set(d.eval.ids)
    s = load_downstream(lab2, synth)
    assert s.task == "segmentation"
    # the trial's own data: the held-out items are never among those pre-training used
    assert not set(load_split(cfg.data, "train").ids) & set(s.eval.ids)
    assert set(s.eval.ids) == set(load_split(cfg.data, "all").ids) - set(s.train.ids)


def test_a_label_clash_with_the_trials_data_is_an_error(tiny: Any) -> None:
    cfg = parse_trial(tiny(probe={"probes": ["segmentation"], "pretrain_data": True,
                                  "downstream": [{"name": "synthetic"}]}))
    with pytest.raises(ValueError, match="label 'synthetic' is both a downstream set"):
        downstream_configs(cfg)


def test_an_empty_split_is_an_error(tiny: Any) -> None:
    # 2 items, 99 % held out: both are evaluation items, none is left to train a probe
    cfg = parse_trial(tiny(probe={"probes": ["segmentation"], "downstream": [
        {"name": "synthetic", "label": "two", "params": {"n_images": 2},
         "eval_fraction": 0.99}]}))
    with pytest.raises(ValueError, match=r"probe\.downstream 'two': 0 training and 2 held-out"):
        load_downstream(*downstream_configs(cfg)[0])
