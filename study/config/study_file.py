"""A study file and ``--set`` values read as YAML, with bounds, ``${VAR}`` expanded; no torch,
so a hostile file is refused within a second (``study/config/load.py`` validates what it returns).

A YAML file can describe far more than it holds: ten anchors of ten aliases each, nine levels
deep, is a 1 kB file that names 10⁹ values once its aliases are expanded (a "billion laughs"),
and a thousand nested ``[`` overflow a recursive reader. Both are refused before anything is
expanded, on the node graph PyYAML composes (aliases there are shared nodes, not copies):

1. the text's size (:data:`MAX_BYTES`);
2. its nesting depth, counted on the parser's event stream (which is not recursive), before
   the recursive composer runs (:data:`MAX_DEPTH`);
3. the number of values once every alias is expanded, counted on the composed graph with
   shared nodes counted once per use, memoised, so the count itself costs one visit per node
   (:data:`MAX_VALUES`); an alias that contains itself is refused.

Only then are Python objects constructed (``yaml.SafeLoader``: no tags that build objects).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from trainables.config import ConfigError

#: the largest study file or ``--set`` value read (the shipped studies are under 10 kB)
MAX_BYTES = 4 * 1024 * 1024
#: the deepest nesting of mappings and lists (the shipped studies nest 5 levels)
MAX_DEPTH = 64
#: the most values (scalars, mappings, lists) once aliases are expanded
MAX_VALUES = 200_000


class YamlLimitError(ValueError):
    """The text passes a bound; the message says which, with the number found and the limit."""


def load_bounded(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing text beyond the bounds of the module docstring.

    Raises:
        YamlLimitError: a bound is passed (checked before any alias is expanded).
        yaml.YAMLError: the text is not valid YAML.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise YamlLimitError(f"{size} bytes; at most {MAX_BYTES} are read")
    _check_depth(text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_values(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise YamlLimitError(f"nested more than {MAX_DEPTH} levels deep (line {line})")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_values(root: yaml.Node) -> None:
    """Count the values of ``root`` with aliases expanded, without expanding them: each node's
    count is computed once (an explicit stack, so no recursion limit) and reused per alias."""
    counts: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in counts:
            continue
        kids = _children(node)
        if not children_done:
            if key in open_ids:
                raise YamlLimitError("an alias refers to the value that contains it")
            open_ids.add(key)
            stack.append((node, True))
            for kid in kids:
                if id(kid) in open_ids:
                    raise YamlLimitError("an alias refers to the value that contains it")
                if id(kid) not in counts:
                    stack.append((kid, False))
            continue
        total = 1 + sum(counts[id(kid)] for kid in kids)
        if total > MAX_VALUES:
            raise YamlLimitError(f"more than {MAX_VALUES} values once its aliases (*name) are "
                                 "expanded")
        counts[key] = total
        open_ids.discard(key)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_ENV = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def expand_env(value: Any) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string of a YAML tree, from the environment
    (an unset variable without a default is left as written, so the error names it)."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m[1], m[2] if m[2] is not None else m[0]),
                        value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def default_home() -> str:
    """The folder relative data roots are read from when no ``data.home`` is set:
    ``$ROTSWEEP_DATA``, else the current folder."""
    return os.environ.get("ROTSWEEP_DATA") or "."


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, ``${VAR:-default}`` expanded; errors name the file, and a
    syntax error is one line ``FILE:LINE:COL: problem``.

    The text is read within the bounds of this module (size, depth, values once aliases are
    expanded), all checked before any alias is expanded: :func:`expand_env` copies every
    string, so it runs only on a tree known to be small. At most ``MAX_BYTES + 1`` bytes are
    read, so a device or pipe given as the file does not hang.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError([f"{path}: more than {MAX_BYTES} bytes; a study file is read up "
                               f"to {MAX_BYTES} bytes"])
        data = load_bounded(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such study file"]) from None
    except PermissionError:
        raise ConfigError([f"{path}: permission denied; expected a study file you may read"]
                          ) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder; expected a study file (.yaml)"]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([f"{path}: not UTF-8 text (byte {err.start}); expected a YAML study "
                           "file"]) from None
    except YamlLimitError as err:
        raise ConfigError([f"{path}: refused: {err}"]) from None
    except yaml.YAMLError as err:
        raise ConfigError([yaml_problem(path, err)]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level"])
    return expand_env(data)


def yaml_problem(path: Path, err: yaml.YAMLError) -> str:
    """A YAML error as one line: ``FILE:LINE:COL: not valid YAML: <problem>`` (1-based)."""
    mark = getattr(err, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    return f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML syntax, so ``3``, ``0.1``, ``true``, ``[0, 90]``, ``null``."""
    try:
        return load_bounded(text)
    except YamlLimitError as err:
        raise ConfigError([f"--set value {text[:40]!r}: refused: {err}"]) from None
    except yaml.YAMLError:
        return text


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", ...]`` → ``{"a.b": 1}``; a missing ``=`` is an error naming the argument."""
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError([f"--set {item!r}: expected key=value, e.g. train.epochs=3"])
        out[key.strip()] = parse_value(value)
    return out
