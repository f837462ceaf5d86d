"""The seed papers' tables, rebuilt from the result tables.

* seed 000, Table I: Dice per angle (per dataset and training angle set) beside the HoG-SVM
  accuracy of "rotated by θ or not" per angle;
* seed 002: rotation-prediction accuracy and the goodness Q(S, B) of saliency against bounding
  boxes, backbone × dataset, with the random-init baseline as its own rows;
* seed 003, "quality of the learned features w.r.t. rotations": the angle set a network was
  pre-trained on → downstream accuracy of a probe on each block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.curves import BASELINE_INIT, angle_label
from analysis.labels import LABEL_KEYS, curve_labels

__all__ = ["LABEL_KEYS", "architecture_labels", "curve_labels", "q_table",
           "rotation_accuracy_table", "rotation_set_table", "table_one"]

def table_one(curves: pd.DataFrame, hog: pd.DataFrame | None, metric: str = "dice",
              differences: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Seed 000's Table I: one row per evaluation angle.

    Args:
        curves: :func:`analysis.curves.curve_table` output (``by="condition"``: seeds pooled).
        hog: the ``hog_svm`` table, or None.
        metric: the saliency metric of the left half (seed 000: Dice).
        differences: :func:`analysis.labels.config_differences`, to tell apart curves that
            share train angles and descriptors (seed 003's NIN depths); without it such curves
            are told apart by their trial ids.

    Returns:
        Index ``angle`` (degrees, float); columns ``"<dataset>: <metric> θ = …"`` for each curve
        of a trained network (the random-init baseline is left out) and ``"<dataset>: HoG-SVM
        accuracy"``.
    """
    cols: dict[str, pd.Series] = {}
    if curves is not None and len(curves):
        sub = curves[(curves["metric"] == metric)
                     & (curves["init"].astype(str) != BASELINE_INIT)].copy()
        for dataset, d in sub.groupby("dataset", sort=True, observed=True):
            keys = [k for k in ("train_angles", *LABEL_KEYS, "trial_id") if k in d]
            meta = d.drop_duplicates(keys)[keys].reset_index(drop=True)
            meta["label"] = curve_labels(meta, differences)
            d = d.merge(meta, on=keys)
            for label, g in sorted(d.groupby("label"), key=lambda kv: _natural(kv[0])):
                cols[f"{dataset}: {metric} {label}"] = (
                    g.groupby("eval_angle")["mean"].mean())
    if hog is not None and len(hog):
        for dataset, g in hog.groupby("dataset", sort=True, observed=True):
            cols[f"{dataset}: HoG-SVM accuracy"] = g.groupby("eval_angle")["accuracy"].mean()
    if not cols:
        return pd.DataFrame()
    parts = {k: v.set_axis(v.index.astype(float)) for k, v in cols.items()}
    table = pd.concat(parts, axis=1).sort_index()
    return table.rename_axis("angle")


def rotation_accuracy_table(pretext: pd.DataFrame) -> pd.DataFrame:
    """Seed 002's rotation-prediction accuracy: each trial's last epoch, mean over seeds.

    Returns:
        Index ``(pretext, dataset)``, one column per backbone, values in [0, 1]; empty when no
        trial logged a pretext accuracy.
    """
    frame = pretext.dropna(subset=["pretext_accuracy"])
    if frame.empty:
        return pd.DataFrame()
    last = frame.sort_values("epoch").groupby("trial_id", observed=True).tail(1)
    return (last.groupby(["pretext", "dataset", "backbone"], observed=True)["pretext_accuracy"]
            .mean().unstack("backbone").sort_index())


def q_table(saliency: pd.DataFrame) -> pd.DataFrame:
    """Seed 002's goodness Q(S, B) of saliency vs. bounding boxes: backbone × dataset.

    Seed 002 measures unrotated test images, so rows at evaluation angle 0 are used when there
    are any (else every angle). Trained networks and the random-init baseline are separate
    rows, per saliency target (seed 002: rotation head and embedding).

    Returns:
        Index ``(target, network, dataset)`` with ``network`` ``trained`` or ``random init``;
        one column per backbone; empty when no row has a ``q_bbox`` value.
    """
    frame = saliency.dropna(subset=["q_bbox"])
    if frame.empty:
        return pd.DataFrame()
    if (frame["eval_angle"] == 0).any():
        frame = frame[frame["eval_angle"] == 0]
    network = np.where(frame["init"].astype(str) == BASELINE_INIT, "random init", "trained")
    frame = frame.assign(network=network)
    return (frame.groupby(["target", "network", "dataset", "backbone"], observed=True)["q_bbox"]
            .mean().unstack("backbone").sort_index())


def _natural(text: object) -> list[tuple[int, object]]:
    # "conv2" < "conv10", "θ = 45°" < "θ = 90°"; (0, n) for numbers and (1, s) for text so
    # that a number and a word never meet in a comparison
    return [(0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", str(text))]


def architecture_labels(trials: pd.DataFrame | None) -> dict[str, str]:
    """``trial_id → "backbone(param=value, ...)"`` from the ``trials`` table's config, so
    networks of one backbone family with other depths (NIN with 3, 4, 5 blocks) stay apart."""
    if trials is None or "config_json" not in trials:
        return {}
    out = {}
    for trial_id, text in zip(trials["trial_id"], trials["config_json"], strict=True):
        model = json.loads(text).get("model", {})
        params = ", ".join(f"{k}={v}" for k, v in sorted((model.get("params") or {}).items()))
        out[str(trial_id)] = f"{model.get('backbone', '?')}({params})"
    return out


def rotation_set_table(probe: pd.DataFrame, metric: str | None = None,
                       trials: pd.DataFrame | None = None) -> pd.DataFrame:
    """Seed 003's table: the angle set of pre-training → downstream probe metric per block.

    Args:
        probe: the ``probe`` table (one row per trial, downstream set, probe, block, metric).
        metric: the probe metric to show (default: ``accuracy`` when present, else every one).
        trials: the ``trials`` table, to tell architectures of one backbone apart by their
            ``model.params`` (seed 003's 3/4/5-block NIN); without it they share a row.

    Returns:
        Index ``(dataset, backbone, architecture, pretext, downstream, probe, n_train, metric,
        init, n_rotations, train_angles)``; one column per block in natural order (conv1 <
        conv2 < conv10); the values are means over seeds. Seed 003 reads one column of this
        (4 rotations best).
    """
    if probe.empty:
        return pd.DataFrame()
    frame = probe.assign(train_angles=probe["train_angles"].map(angle_label))
    if metric is None and (frame["metric"] == "accuracy").any():
        metric = "accuracy"
    if metric is not None:
        frame = frame[frame["metric"] == metric]
    labels = architecture_labels(trials)
    frame = frame.assign(
        n_rotations=frame["train_angles"].map(lambda s: len(s.split(",")) if s else 0),
        architecture=[labels.get(str(t), str(b)) for t, b in
                      zip(frame["trial_id"], frame["backbone"], strict=True)])
    keys = ["dataset", "backbone", "architecture", "pretext", "downstream", "probe", "n_train",
            "metric", "init", "n_rotations", "train_angles"]
    table = (frame.groupby([*keys, "block"], observed=True, dropna=False)["value"].mean()
             .unstack("block"))
    return table[sorted(table.columns, key=_natural)].sort_index()
