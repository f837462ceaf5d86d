"""Dotted-key overrides on nested dicts: ``--set``, study axes and searched values all use these."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively for nested mappings (copies; inputs are untouched)."""
    out = dict(copy.deepcopy(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a copy); a mapping value is merged into a mapping.

    >>> apply_overrides({"train": {"lr": 0.1, "epochs": 3}}, {"train.lr": 0.01})
    {'train': {'lr': 0.01, 'epochs': 3}}
    >>> apply_overrides({"data": {"name": "a", "root": "x"}}, {"data": {"name": "b"}})
    {'data': {'name': 'b', 'root': 'x'}}
    """
    out = dict(copy.deepcopy(data))
    for dotted, value in overrides.items():
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
