"""Names for what a curve or a row is, as a reader of the report wants to see them.

* :func:`network_label`: the ``init`` column says where a network *started* (``random``,
  ``moco_v2``, …) or that it is an untrained baseline (``random_baseline``); a pre-trained
  network that started from random weights is not "random" (issue 13), so the report names
  both what the network is and where it started.
* :func:`config_differences`: what tells the trials of a study apart beyond the table's own
  columns (e.g. seed 003's ``model.params.blocks`` = 3/4/5), read from their configs.
* :func:`curve_labels`: one short, unique label per curve.
* :func:`trial_names` / :func:`joined_name`: a trial (or a condition's trials) named by what
  differs — θ, seed and config differences — never by its id (issue 19).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis.curves import angle_label

BASELINE_SUFFIX = "_baseline"
LABEL_KEYS = ("backbone", "pretext", "init", "method", "target", "threshold_rule")
# config keys that are never a difference between conditions: the run's identity, not its
# treatment (``data`` is the figure's panel; train angles are in every label), or a key whose
# value is a column of the tables already (LABEL_KEYS)
IGNORED_KEYS = ("seed", "study", "data.", "pretext.angles", "pretext.params.angles",
                "model.backbone", "model.init", "pretext.name", "saliency.method",
                "saliency.target", "saliency.threshold_rule")


def network_label(init: object) -> str:
    """``random`` → ``pre-trained (from random init)``; ``random_baseline`` → ``random init
    (untrained)``; ``moco_v2`` → ``pre-trained (from moco_v2 weights)``.

    Seed 002's and seed 003's baselines are the network at its initialisation, never trained
    (rows with ``init = <start>_baseline``); every other row is a pre-trained network, and its
    ``init`` is the ``model.init`` it started from.
    """
    text = "" if init is None or (isinstance(init, float) and np.isnan(init)) else str(init)
    if text.endswith(BASELINE_SUFFIX):
        start = text.removesuffix(BASELINE_SUFFIX)
        return f"{start} init (untrained)" if start == "random" else f"{start} weights (untrained)"
    if text in ("", "random"):
        return "pre-trained (from random init)"
    return f"pre-trained (from {text} weights)"


def is_baseline(init: object) -> bool:
    """Whether an ``init`` value marks an untrained baseline network."""
    return str(init).endswith(BASELINE_SUFFIX)


def with_network(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``init`` column (or index level) replaced by ``network`` labels."""
    if "init" in frame.columns:
        out = frame.copy()
        out.insert(out.columns.get_loc("init"), "network", out["init"].map(network_label))
        return out.drop(columns="init")
    if "init" in (frame.index.names or []):
        index = frame.index.to_frame(index=False)
        index["init"] = index["init"].map(network_label)
        out = frame.copy()
        out.index = pd.MultiIndex.from_frame(index.rename(columns={"init": "network"}))
        return out
    return frame


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = json.dumps(value, sort_keys=True)
    return out


def config_differences(trials: pd.DataFrame | None) -> dict[str, str]:
    """``trial_id → "blocks=3"``: the config values that differ between the study's trials,
    apart from seed, study, data (a figure's panel) and train angles (every label has them).

    Args:
        trials: the ``trials`` table (``trial_id``, ``config_json``), or None.

    Returns:
        ``{}`` when there is no config to compare or nothing else differs.
    """
    if trials is None or "config_json" not in trials or trials.empty:
        return {}
    flat = {str(t): _flatten(json.loads(text)) for t, text in
            zip(trials["trial_id"], trials["config_json"], strict=True) if isinstance(text, str)}
    keys = sorted({k for f in flat.values() for k in f})
    varying = [k for k in keys if not k.startswith(IGNORED_KEYS)
               and len({f.get(k) for f in flat.values()}) > 1]
    if not varying:
        return {}
    short = {k: k.rsplit(".", 1)[-1] for k in varying}
    if len(set(short.values())) < len(short):  # two keys end alike: keep the dotted names
        short = {k: k for k in varying}
    return {t: ", ".join(f"{short[k]}={_value(f.get(k))}" for k in varying)
            for t, f in flat.items()}


def _value(text: str | None) -> str:
    if text is None:
        return "-"
    value = json.loads(text)
    return value if isinstance(value, str) else json.dumps(value)


def _first_trial(trial_ids: object) -> str:
    return str(trial_ids).split(";")[0]


def curve_labels(meta: pd.DataFrame, differences: Mapping[str, str] | None = None
                 ) -> pd.Series:
    """A short label per curve: ``θ = <train angles>°`` (or the ``pretraining`` description for
    a task without train angles), whichever descriptors vary between the curves, and the config
    differences of its trials; the seed where seeds vary; curves that would still collide are
    numbered (never named by id; rows of one trial, e.g. one per metric, share a label).

    Args:
        meta: one row per curve with ``train_angles`` labels and descriptor columns (and
            ``trial_id``, ``;``-joined for a condition, when known).
        differences: :func:`config_differences` of the study's trials.
    """
    if not len(meta):
        return pd.Series(dtype=object)
    varying = [k for k in LABEL_KEYS if k in meta and meta[k].astype(str).nunique() > 1]
    differences = differences or {}
    starts = {str(i) for i in meta["init"] if not is_baseline(i)} if "init" in meta else set()
    short = starts <= {"random"}  # every pre-trained network started from random weights
    seeds_vary = "seed" in meta and meta["seed"].nunique() > 1

    def network(init: object) -> str:
        if short:
            return "untrained (random init)" if is_baseline(init) else "pre-trained"
        return network_label(init)

    def one(row: pd.Series) -> str:
        parts = []
        angles = str(row.get("train_angles", "") or "")
        described = row.get("pretraining")
        if angles:
            parts.append(f"θ = {angles}°")
        elif isinstance(described, str) and described:
            parts.append(described)
        parts += [network(row[k]) if k == "init" else str(row[k]) for k in varying]
        if seeds_vary and pd.notna(row.get("seed")):
            parts.append(f"seed {int(row['seed'])}")
        if "trial_id" in row and _first_trial(row["trial_id"]) in differences:
            parts.append(differences[_first_trial(row["trial_id"])])
        return ", ".join(parts) or "all trials"

    labels = meta.apply(one, axis=1)
    if "trial_id" in meta:  # curves alike in every descriptor: numbered, never named by id
        first = meta["trial_id"].map(_first_trial)
        # a label is read beside its dataset's name: curves of other datasets do not collide
        where = meta["dataset"].astype(str) if "dataset" in meta else pd.Series("", meta.index)
        for label, dataset in set(zip(labels, where, strict=True)):
            mine = (labels == label) & (where == dataset)
            trials = sorted(first[mine].unique())
            if len(trials) > 1:
                order = {t: k + 1 for k, t in enumerate(trials)}
                labels[mine] = [f"{label} (curve {order[t]})" for t in first[mine]]
    return labels


def trial_names(saliency: pd.DataFrame, trials: pd.DataFrame | None = None) -> dict[str, str]:
    """``trial_id → "θ = 45°, seed 0"``: each trial's train angles and seed, and the config
    values that differ between the study's trials (:func:`config_differences`); the dataset is
    left to the sentence or table the name goes into.

    Args:
        saliency: rows with ``trial_id`` and, where present, ``train_angles`` and ``seed``.
        trials: the ``trials`` table (config differences), or None.
    """
    cols = [c for c in ("trial_id", "train_angles", "seed") if c in saliency]
    first = saliency[cols].drop_duplicates("trial_id")
    differences = config_differences(trials)
    out = {}
    for row in first.to_dict("records"):
        parts = []
        angles = angle_label(row.get("train_angles"))
        if angles:
            parts.append(f"θ = {angles}°")
        seed = row.get("seed")
        if seed is not None and not (isinstance(seed, float) and np.isnan(seed)):
            parts.append(f"seed {int(seed)}")
        trial = str(row["trial_id"])
        if trial in differences:
            parts.append(differences[trial])
        out[trial] = ", ".join(parts) or "the only trial"
    return out


def joined_name(trial_ids: object, names: Mapping[str, str]) -> str:
    """The name of one trial or of a condition's ``;``-joined trials: ``"θ = 45°, seeds 0, 1,
    2"`` when they differ only in seed; an id without a name is never shown (``"a trial"``)."""
    ids = [t for t in str(trial_ids).split(";") if t]
    got = [names.get(t, "a trial") for t in ids]
    if len(got) <= 1:
        return got[0] if got else "a trial"
    heads, seeds = set(), []
    for name in got:
        parts = name.split(", ")
        seed = [p for p in parts if p.startswith("seed ")]
        heads.add(", ".join(p for p in parts if not p.startswith("seed ")))
        seeds += [p.removeprefix("seed ") for p in seed]
    if len(heads) == 1 and len(seeds) == len(got):
        head = heads.pop()
        return (f"{head}, " if head else "") + "seeds " + ", ".join(sorted(seeds, key=_num))
    return "; ".join(got)


def _num(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def config_name(config_json: object) -> str:
    """A trial named from its config alone (a failed trial has no rows): ``"θ = 45°, seed
    0"``; ``"a trial"`` when the config cannot be read."""
    try:
        config = json.loads(str(config_json))
    except ValueError:
        return "a trial"
    if not isinstance(config, dict):
        return "a trial"
    angles = ((config.get("pretext") or {}).get("params") or {}).get("angles")
    parts = [f"θ = {angle_label(angles)}°"] if isinstance(angles, list) and angles else []
    if isinstance(config.get("seed"), int):
        parts.append(f"seed {config['seed']}")
    return ", ".join(parts) or "a trial"
