"""One spelling per concept, for the tables, MLflow params/tags, the report and the notebook.

* train angles: the tuple ``(0.0, 90.0)`` (sorted floats, degrees) and the text ``"0,90"``
  (:func:`angle_set_text`): the ``train_angle_set`` column, the ``train_angles`` MLflow tag and
  the report's labels all use this text;
* which network a row measures: the ``network`` column, ``"pretrained"`` (the trial's encoder
  after pre-training), ``"untrained"`` (the same architecture at its initial weights: the
  random-init baseline) or ``"torchvision"`` (a probe's torchvision-weights baseline);
  ``init`` keeps its meaning, the encoder's starting weights (``model.init``);
* the columns that say which trial a row belongs to (:func:`trial_columns`), read from a trial
  config dict (``config_json`` of the ``trials`` table, ``trial_config.json``).

docs/tables.md lists the vocabulary with the MLflow spelling beside each name. Pure Python: the
writers (trainables/), the driver (study/) and the readers (rotsweep/tables.py, analysis/)
import it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

PRETRAINED = "pretrained"
UNTRAINED = "untrained"
TORCHVISION = "torchvision"
NETWORKS = (PRETRAINED, UNTRAINED, TORCHVISION)
# the ``init`` values of the baseline networks (schema v2 marked them in ``init`` only)
BASELINE_INITS = {"random_baseline": UNTRAINED, "torchvision_baseline": TORCHVISION}


def angle_text(angle: float) -> str:
    """One angle as text: ``90.0`` → ``"90"``, ``22.5`` → ``"22.5"``; float32 values read to
    0.001° (the configs' precision is 0.1°), so ``np.float32(359.9)`` → ``"359.9"``."""
    value = round(float(angle), 3)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def angle_set(angles: Iterable[float] | None) -> tuple[float, ...]:
    """Train angles as the canonical tuple: sorted, distinct, each the float its text reads
    (``[90, 0]`` → ``(0.0, 90.0)``; ``np.float32(22.5)`` → ``22.5``); ``None`` → ``()``."""
    if angles is None or (isinstance(angles, float) and math.isnan(angles)):
        return ()
    return tuple(sorted({float(angle_text(a)) for a in angles}))


def angle_set_text(angles: Iterable[float] | str | None) -> str:
    """Train angles as the canonical text: ``[0, 90, 180, 270]`` → ``"0,90,180,270"`` (sorted,
    comma-joined, :func:`angle_text` each); ``None`` or ``()`` → ``""``. A text is returned
    re-spelled (``"90/0"`` or ``"90, 0"`` → ``"0,90"``)."""
    if isinstance(angles, str):
        parts = angles.replace("/", ",").split(",")
        return ",".join(angle_text(a) for a in angle_set(float(p) for p in parts if p.strip()))
    return ",".join(angle_text(a) for a in angle_set(angles))


def parse_angle_set(text: str | None) -> tuple[float, ...]:
    """The inverse of :func:`angle_set_text`: ``"0,90"`` → ``(0.0, 90.0)``, ``""`` → ``()``."""
    return angle_set(float(p) for p in (text or "").replace("/", ",").split(",") if p.strip())


def network_of(init: object) -> str:
    """The ``network`` of a row from its ``init`` (how schema v2 told them apart):
    ``random_baseline`` → ``untrained``, ``torchvision_baseline`` → ``torchvision``, anything
    else → ``pretrained``."""
    return BASELINE_INITS.get(str(init), PRETRAINED) if init is not None else PRETRAINED


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def config_angles(config: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The train angles a trial config names (``pretext.params.angles``, else
    ``pretext.angles``), ``None`` when it names none."""
    for key in ("pretext.params.angles", "pretext.angles"):
        value = _get(config, key)
        if isinstance(value, list | tuple) and value:
            return angle_set(value)
    return None


def trial_columns(config: Mapping[str, Any]) -> dict[str, Any]:
    """``backbone, pretext, train_angles, train_angle_set, seed`` from a trial config dict
    (what a schema-v2 ``trials`` row holds only in ``config_json``); a missing key gives
    ``None``. ``pretraining`` needs the task's own description (trainables/pretext), so it is
    not derived here."""
    angles = config_angles(config)
    seed = _get(config, "seed")
    return {"backbone": _get(config, "model.backbone"), "pretext": _get(config, "pretext.name"),
            "train_angles": list(angles) if angles is not None else None,
            "train_angle_set": angle_set_text(angles),
            "seed": int(seed) if isinstance(seed, int | float) else None}
