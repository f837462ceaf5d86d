"""Every shipped study that re-runs a seed is that seed's protocol: each transcribed value
(``tests/study/seed_protocols.py``) is what the study's trials resolve to, written in the study
file itself (not inherited from a default), unless the study names the key as a deviation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from seed_protocols import PROTOCOLS, Row

from study.config.load import load_study
from trainables.spec import resolved_dict

STUDIES = Path(__file__).resolve().parents[3] / "conf" / "studies"
CASES = [(study, row) for study, (_, rows) in PROTOCOLS.items() for row in rows]


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home where every real dataset's folder exists (empty), so studies resolve to their
    real datasets rather than their fallbacks; loading reads no file."""
    home = tmp_path_factory.mktemp("data")
    for name in ("kvasir_seg", "lung_mask", "brats", "coco", "cifar10", "covid_cxr_lung",
                 "brats2013_deepmedic/nifti"):
        (home / name).mkdir(parents=True)
    return home


_LOADED: dict[str, Any] = {}


def trials(study: str, home: Path) -> tuple[Any, list[dict[str, Any]]]:
    if study not in _LOADED:
        s = load_study(STUDIES / f"{study}.yaml", sets=[f"data.home={home}"])
        _LOADED[study] = (s, [resolved_dict(cfg) for _, cfg in s.trials()])
    return _LOADED[study]


def at(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def normal(value: Any) -> Any:
    """Comparable form: lists as tuples, numbers as floats, downstream sets by name."""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) and "name" in v for v in value):
            return tuple(v["name"] for v in value)
        return tuple(normal(v) for v in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def same(a: Any, b: Any) -> bool:
    a, b = normal(a), normal(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def written(raw: Mapping[str, Any], dotted: str) -> bool:
    """Whether the study file itself sets ``dotted``: in its base sections or on an axis
    (plain, linked ``a+b``, or a mapping axis over the section)."""
    axes = raw.get("axes") or {}
    for key in axes:
        keys = key.split("+")
        if dotted in keys:
            return True
        for k in keys:  # an axis over a whole section (e.g. `data`) sets its keys
            rest = dotted[len(k) + 1:] if dotted.startswith(f"{k}.") else None
            values = axes[key]
            if rest and all(isinstance(v, Mapping) and _has(v, rest) for v in values):
                return True
    return _has(raw, dotted)


def _has(tree: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return False
        tree = tree[part]
    return True


@pytest.mark.parametrize("study, row", CASES, ids=[f"{s}:{r.key}" for s, r in CASES])
def test_study_keeps_the_seed_protocol(study: str, row: Row, data_home: Path) -> None:
    loaded, resolved = trials(study, data_home)
    raw = yaml.safe_load((STUDIES / f"{study}.yaml").read_text())
    deviations = loaded.keys.protocol.deviations
    assert loaded.keys.protocol.source == PROTOCOLS[study][0], (
        f"{study}.yaml: protocol.source should name {PROTOCOLS[study][0]!r}")
    if row.key in deviations:
        assert len(deviations[row.key].split()) >= 4, (
            f"{study}.yaml: protocol.deviations.{row.key} needs its reason in words")
        return
    assert written(raw, row.key), (
        f"{study}.yaml does not state {row.key} (the paper: {row.words!r}); write it in the "
        f"study file or name it under protocol.deviations")
    values = [at(t, row.key) for t in resolved]
    if row.kind == "equal":
        bad = [v for v in values if not same(v, row.value)]
        assert not bad, f"{study}: {row.key} = {bad[0]!r}, the paper: {row.value!r} ({row.words})"
    elif row.kind == "includes":
        missing = [v for v in row.value if not any(same(v, x) for x in values)]
        assert not missing, f"{study}: {row.key} never takes {missing} ({row.words})"
    else:
        assert all(len(v) == 1 for v in values), f"{study}: {row.key} is one θ per trial"


@pytest.mark.parametrize("study", sorted(PROTOCOLS))
def test_deviations_name_protocol_keys(study: str, data_home: Path) -> None:
    loaded, _ = trials(study, data_home)
    keys = {row.key for row in PROTOCOLS[study][1]}
    stray = sorted(set(loaded.keys.protocol.deviations) - keys)
    assert not stray, f"{study}.yaml: deviations {stray} are not protocol values of its seed"
