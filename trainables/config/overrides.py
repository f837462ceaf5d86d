"""Dotted-key overrides on nested dicts: ``--set``, study axes and searched values all use these."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from trainables.config.parse import ConfigError


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively for nested mappings (copies; inputs are untouched)."""
    out = dict(copy.deepcopy(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def linked(dotted: str, value: Any) -> list[tuple[str, Any]]:
    """``(key, value)`` pairs of one override: itself, or for a *linked* key ``a.b+c.d`` (an
    axis whose values set several keys together, e.g. seed 002's threshold λ per network:
    ``model.backbone+saliency.threshold: [[six_layer, 8.0e-4], [mobilenet_v2, 8.0e-3]]``)
    the keys paired with the items of ``value``.

    >>> linked("model.backbone+saliency.threshold", ["nin", 0.1])
    [('model.backbone', 'nin'), ('saliency.threshold', 0.1)]

    Raises:
        ConfigError: a linked key whose value is not a list of one item per key.
    """
    if "+" not in dotted:
        return [(dotted, value)]
    keys = [k.strip() for k in dotted.split("+")]
    if not isinstance(value, (list, tuple)) or len(value) != len(keys):
        raise ConfigError([f"{dotted}: a linked key sets {len(keys)} keys together; expected "
                           f"a list of {len(keys)} values ({', '.join(keys)}), got {value!r}"])
    return list(zip(keys, value, strict=True))


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy); a mapping value is merged into a mapping; a
    linked key ``a.b+c.d`` sets each of its keys (:func:`linked`).

    >>> apply_overrides({"train": {"lr": 0.1, "epochs": 3}}, {"train.lr": 0.01})
    {'train': {'lr': 0.01, 'epochs': 3}}
    >>> apply_overrides({"data": {"name": "a", "root": "x"}}, {"data": {"name": "b"}})
    {'data': {'name': 'b', 'root': 'x'}}
    """
    out = dict(copy.deepcopy(data))
    for key, given in overrides.items():
        for dotted, value in linked(key, given):
            node = out
            parts = dotted.split(".")
            for part in parts[:-1]:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
            leaf = parts[-1]
            if isinstance(value, Mapping) and isinstance(node.get(leaf), Mapping):
                node[leaf] = deep_merge(node[leaf], value)
            else:
                node[leaf] = copy.deepcopy(value)
    return out
