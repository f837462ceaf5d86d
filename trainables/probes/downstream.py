"""Downstream sets of the probes: which items train and score a probe, and the training-set
fractions (seed 004's 1 % / 10 % / 100 % sensitivity analysis)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

from trainables.config import TrialConfig
from trainables.config.data import DataConfig
from trainables.config.probe import DOWNSTREAM_DEFAULTS, downstream_data
from trainables.data import build_dataset, load_split
from trainables.data.base import Subset, choose

Task = Literal["classification", "segmentation"]


@dataclass(frozen=True)
class DownstreamSet:
    """One downstream set, split.

    Attributes:
        label: its ``label`` (default: its ``name``; ``data.name`` for ``probe.pretrain_data``):
            the ``downstream`` column.
        data: the config it was read with.
        train: the items probes are trained on (before the fractions).
        eval: the held-out items probes are scored on.
        task: ``classification`` (its items carry a ``label``) or ``segmentation`` (a mask set).
    """

    label: str
    data: DataConfig
    train: Subset
    eval: Subset
    task: Task


def downstream_configs(cfg: TrialConfig) -> list[tuple[str, DataConfig]]:
    """``(label, DataConfig)`` of every downstream set of a trial, in config order, the trial's
    own data last when ``probe.pretrain_data``.

    Raises:
        ValueError: two sets share a label.
    """
    sets = [downstream_data(i, entry, cfg.data.image_size)
            for i, entry in enumerate(cfg.probe.downstream)]
    if cfg.probe.pretrain_data:
        sets.append((cfg.data.name, replace(cfg.data, **DOWNSTREAM_DEFAULTS)))
    labels = [label for label, _ in sets]
    if len(set(labels)) != len(labels):
        raise ValueError(f"probe.downstream: label {cfg.data.name!r} is both a downstream set "
                         "and the trial's data (probe.pretrain_data); rename the downstream set")
    return sets


def load_downstream(label: str, data: DataConfig) -> DownstreamSet:
    """Read a downstream set's split (the same split-by-id as pre-training: with the same
    ``split_seed`` and ``eval_fraction`` the held-out items were never pre-trained on).

    Raises:
        ValueError: a split is empty.
    """
    full = build_dataset(data)
    train, held_out = load_split(data, "train", full), load_split(data, "eval", full)
    if not len(train) or not len(held_out):
        raise ValueError(f"probe.downstream {label!r}: {len(train)} training and "
                         f"{len(held_out)} held-out items; a probe needs both (more items or "
                         "another eval_fraction)")
    task: Task = "classification" if "label" in train[0] else "segmentation"
    return DownstreamSet(label, data, train, held_out, task)


def fraction_subset(ids: Sequence[str], labels: torch.Tensor | None, fraction: float,
                    seed: int) -> list[int]:
    """A deterministic share ``fraction`` of items: per class when ``labels`` are given.

    Each class (or the whole set) keeps ``max(1, round(fraction · n))`` of its n items, the
    first in the id-hash order of :func:`trainables.data.base.choose`, so subsets are nested:
    every item of the 1 % subset is in the 10 % one, whatever the order of the set.

    Args:
        ids: the items' ids.
        labels: ``(N,)`` class indices, or ``None`` (no stratification; mask sets).
        fraction: in (0, 1].
        seed: the set's ``split_seed``.

    Returns:
        Sorted indices into ``ids``.
    """
    groups = ([list(range(len(ids)))] if labels is None else
              [torch.nonzero(labels == c).flatten().tolist() for c in labels.unique().tolist()])
    picked: list[int] = []
    for members in groups:
        n = max(1, round(fraction * len(members)))
        picked += [members[j] for j in choose([ids[i] for i in members], n, seed)]
    return sorted(picked)
