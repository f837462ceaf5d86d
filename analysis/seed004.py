"""Seed 004's comparison (Macar & Liu): each pretext task's linear-probe accuracy per
downstream set and per pre-training subset size, beside the random-init network, with each
task's sensitivity to the subset size (``conf/studies/macar_liu.yaml`` makes the rows).

Seed 004 compares "random-initialization, fully-supervised pretraining, and self-supervised
learning on three downstream datasets", per "ImageNet dataset size" (30K, 60K, 120K), and
measures sensitivity "as the standard deviation of validation accuracies of each task across
the three ImageNet dataset sizes averaged over the three downstream datasets"; its overall
comparison averages "over all three ImageNet dataset sizes and all three datasets". Its
encoder is frozen "up to the third convolutional layer", so ``conv3`` is listed first.

pandas in, pandas out: the ``probe`` table and, for each trial's pre-training subset size
(``data.n_train``), the ``trials`` table.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analysis.document import Document

SEED_SETS = {"cifar10": "CIFAR-10", "svhn": "SVHN", "flowers102": "Flowers"}
# the shipped stand-ins of conf/studies/macar_liu.yaml, where the real set is not on disk
STAND_INS = {"lfw": "CIFAR-10", "digits": "SVHN", "lfw_64px": "Flowers"}
SEED_BLOCK = "conv3"  # "freeze AlexNet up to the third convolutional layer"
TASK_ORDER = ("rotnet", "counting", "jigsaw", "context", "colorization")  # seed 004's order
BASELINE_INIT = "random_baseline"
BASELINE_ROW = "random init (untrained)"
CSV_NAME = "seed004_tasks.csv"


def pretrain_sizes(trials: pd.DataFrame | None) -> dict[str, int | None]:
    """``trial_id → data.n_train`` (the pre-training subset size) from each trial's config."""
    if trials is None or "config_json" not in trials:
        return {}
    out: dict[str, int | None] = {}
    for trial_id, text in zip(trials["trial_id"], trials["config_json"], strict=True):
        n = (json.loads(text).get("data") or {}).get("n_train")
        out[str(trial_id)] = None if n is None else int(n)
    return out


def set_label(downstream: str) -> str:
    """``cifar10`` → ``CIFAR-10``; a stand-in → ``lfw (for CIFAR-10)``; others as they are."""
    if downstream in SEED_SETS:
        return SEED_SETS[downstream]
    if downstream in STAND_INS:
        return f"{downstream} (for {STAND_INS[downstream]})"
    return downstream


def _set_key(downstream: str) -> tuple[int, str]:
    # seed 004's order (CIFAR-10, SVHN, Flowers), a stand-in in its set's place, others after
    seed = STAND_INS.get(downstream, SEED_SETS.get(downstream))
    order = list(SEED_SETS.values())
    return (order.index(seed) if seed in order else len(order), downstream)


def _size_label(n: float) -> str:
    return "all" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(n):,}"


def _block_key(block: str) -> tuple[int, list[tuple[int, object]]]:
    natural = [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", block)]
    return (0 if block == SEED_BLOCK else 1, natural)


def _task_key(label: str, tasks: dict[str, str]) -> tuple[int, str]:
    if label == BASELINE_ROW:
        return (len(TASK_ORDER) + 1, label)
    name = tasks.get(label, label)
    return (TASK_ORDER.index(name) if name in TASK_ORDER else len(TASK_ORDER), label)


def seed004_table(probe: pd.DataFrame, trials: pd.DataFrame | None = None,
                  metric: str = "accuracy", probe_name: str = "linear") -> pd.DataFrame:
    """Seed 004's table.

    Args:
        probe: the ``probe`` table.
        trials: the ``trials`` table (each trial's ``data.n_train``); without it every trial's
            size is ``all``.
        metric: the probe metric shown (``accuracy``: seed 004's "validation accuracies").
        probe_name: the probe (seed 004: ``linear``); all probes when it has no rows.

    Returns:
        Index ``(dataset, block, task)``: the pre-training data, the probed block (``conv3``
        first), the task (the ``pretraining`` label; the untrained random-init network last);
        one column ``<downstream set> @ <subset size>`` per pair, then ``mean`` (over every
        column) and ``sensitivity`` (per downstream set the standard deviation, ddof 0, over
        subset sizes, then averaged over sets; empty with one size). Values are means over
        seeds. Empty without rows.
    """
    frame = probe[probe["metric"] == metric] if len(probe) else probe
    if len(frame) and (frame["probe"] == probe_name).any():
        frame = frame[frame["probe"] == probe_name]
    if not len(frame):
        return pd.DataFrame()
    sizes = pretrain_sizes(trials)
    baseline = frame["init"].astype(str) == BASELINE_INIT
    frame = frame.assign(
        size=[sizes.get(str(t)) for t in frame["trial_id"]],
        task=np.where(baseline, BASELINE_ROW, frame["pretraining"].fillna(frame["pretext"])))
    tasks = dict(zip(frame["task"], frame["pretext"], strict=True))
    cells = frame.groupby(["dataset", "block", "task", "downstream", "size"], dropna=False,
                          observed=True)["value"].mean()
    wide = cells.unstack(["downstream", "size"])
    columns = sorted(wide.columns, key=lambda c: (_set_key(str(c[0])),
                                                  -1 if pd.isna(c[1]) else c[1]))
    wide = wide[columns]
    per_set = {d: [c for c in columns if c[0] == d] for d in dict.fromkeys(c[0] for c in columns)}
    spread = [wide[cols].std(axis=1, ddof=0) for cols in per_set.values() if len(cols) > 1]
    out = wide.copy()
    out.columns = [f"{set_label(str(d))} @ {_size_label(n)}" for d, n in columns]
    out["mean"] = wide.mean(axis=1)
    out["sensitivity"] = pd.concat(spread, axis=1).mean(axis=1) if spread else np.nan
    order = sorted(out.index, key=lambda i: (str(i[0]), _block_key(str(i[1])),
                                             _task_key(str(i[2]), tasks)))
    return out.loc[order]


def seed004_section(doc: Document, table: pd.DataFrame) -> None:
    """The report's seed-004 section: the table, what its columns are, and its stand-ins."""
    doc.heading("Seed 004: pretext task × downstream set × pre-training size")
    if not len(table):
        doc.paragraph("No `probe` rows (seed 004's study is `conf/studies/macar_liu.yaml`).")
        return
    doc.paragraph("Linear-probe accuracy on each downstream set's held-out split, per pre-"
                  "training subset size (`@ n` = images pre-trained on), frozen encoder per "
                  "block (seed 004 freezes up to `conv3`, listed first); `mean` over every "
                  "column, `sensitivity` = standard deviation over subset sizes averaged over "
                  f"the downstream sets (seed 004's measure). All rows in `{CSV_NAME}`.")
    labels = [str(c) for c in table.columns]
    stand_ins = sorted({k for k in STAND_INS for c in labels if c.startswith(f"{k} (for ")})
    data = sorted({str(i[0]) for i in table.index})
    if stand_ins or any(d != "imagenet" for d in data):
        doc.paragraph("**Stand-ins, not seed 004's data:** "
                      + "; ".join([f"`{s}` for {STAND_INS[s]}" for s in stand_ins]
                                  + [f"pre-training data `{d}` for the ImageNet subsets"
                                     for d in data if d != "imagenet"])
                      + ". Point `data.home` at the real sets to re-run the comparison.")
    doc.table(table.head(60), floatfmt=".3f", index=True)
    if len(table) > 60:
        doc.paragraph(f"First 60 of {len(table)} rows; all in `{CSV_NAME}`.")
