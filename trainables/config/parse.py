"""Build frozen dataclasses from plain dicts, checking every key, type and range once.

The one place where untyped YAML becomes typed config. Errors carry the dotted key path, are
collected (not raised at the first one), and misspelt keys get a suggestion::

    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class Train:
    ...     epochs: int = field(default=1, metadata={"ge": 1})
    >>> build(Train, {"epochs": 3}).epochs
    3
    >>> build(Train, {"epoch": 3}, "train")
    Traceback (most recent call last):
    ...
    trainables.config.parse.ConfigError: train: unknown key 'epoch' (did you mean 'epochs'?); \
expected one of ['epochs']

Field metadata understood: ``ge``, ``gt``, ``le``, ``lt`` (numbers, also each element of a
tuple). A field typed ``Annotated[T, hook]``, where ``hook`` has a ``coerce(value, path,
problems)`` method, is parsed by that hook (angle sets: :mod:`trainables.config.angles`).

This module and the section dataclasses beside it import nothing else from ``trainables``: the
checks that need the registries (names, ``params`` of a registered entry, image sizes) live one
layer up, in :mod:`trainables.spec`.
"""

from __future__ import annotations

import copyreg
import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Mapping
from typing import (
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

T = TypeVar("T")

# ``params`` mappings are read-only views; let configs holding them be copied and pickled
# (deepcopy of a task, a built trial config sent to a Ray worker) as plain dicts re-wrapped
def read_only(data: dict[str, Any]) -> Mapping[str, Any]:
    """A read-only view of ``data`` (how a config holds its ``params`` mappings)."""
    return types.MappingProxyType(data)


copyreg.pickle(types.MappingProxyType, lambda m: (read_only, (dict(m),)))


class ConfigError(ValueError):
    """One or more problems in a config; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str] | tuple[str, ...]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type, tuple[list[str]]]:
        # pickled (across Ray, multiprocessing) with its list, not its one joined string
        return (type(self), (self.problems,))


def build(cls: type[T], data: Mapping[str, Any] | None, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, validating it.

    Args:
        cls: a (frozen) dataclass type; nested dataclass fields are built recursively.
        data: the raw mapping (``None`` means all defaults).
        path: the dotted path of ``data`` inside the whole config, used in messages (empty for
            the top level).

    Raises:
        ConfigError: listing every unknown key, missing required key, wrong type and
            out-of-range value, each with its dotted path.
    """
    problems: list[str] = []
    value = _build_dataclass(cls, data or {}, path, problems)
    if problems:
        raise ConfigError(problems)
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build_dataclass(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    where = path or "top level"
    if not isinstance(data, Mapping):
        problems.append(f"{where}: expected a mapping of keys, got {_show(data)}")
        return None
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            if not close and "params" in fields:  # a setting of the registered entry's own
                close = [f"params.{key}"]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"{where}: unknown key {key!r}{hint}; expected one of {sorted(fields)}"
            )
    kwargs: dict[str, Any] = {}
    for name, fld in fields.items():
        sub = _join(path, name)
        if name in data:
            before = len(problems)
            value = _coerce(hints[name], data[name], sub, problems)
            if len(problems) == before:
                _check_range(fld, value, sub, problems)
            kwargs[name] = value
        elif (fld.default is dataclasses.MISSING
              and fld.default_factory is dataclasses.MISSING):
            problems.append(f"{sub}: required key is missing")
    if len(problems):
        return None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:  # __post_init__ cross-field checks
        message = str(err)
        first = message.split(":")[0]
        if first in fields:  # "name: ..." about one of this class's own fields
            problems.append(_join(path, message))
        else:
            problems.append(message if "." in first else f"{where}: {message}")
        return None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # resolving string annotations is most of a build's time; a class's hints never change
    return get_type_hints(cls, include_extras=True)


def _coerce(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        hooks = [h for h in tp.__metadata__ if hasattr(h, "coerce")]
        if hooks:
            return hooks[0].coerce(value, path, problems)
        return _coerce(get_args(tp)[0], value, path, problems)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build_dataclass(tp, value, path, problems)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            trial: list[str] = []
            out = _coerce(arg, value, path, trial)
            if not trial:
                return out
        problems.append(f"{path}: expected {_name(tp)}, got {_show(value)}")
        return None
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            problems.append(f"{path}: expected one of {list(choices)}, got {_show(value)}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {_show(value)}")
            return None
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]", problems)
                         for i, v in enumerate(value))
        if len(args) != len(value):
            problems.append(f"{path}: expected a list of {len(args)} items, got {len(value)}")
            return None
        return tuple(_coerce(a, v, f"{path}[{i}]", problems)
                     for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping, got {_show(value)}")
            return None
        return types.MappingProxyType(dict(value))
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, got {_show(value)}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {_show(value)}")
        return value
    raise TypeError(f"{path}: config type {tp!r} is not supported by the parser")


def _check_range(fld: dataclasses.Field[Any], value: Any, path: str, problems: list[str]) -> None:
    meta = fld.metadata
    values = value if isinstance(value, tuple) else (value,)
    for i, v in enumerate(values):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        where = f"{path}[{i}]" if isinstance(value, tuple) else path
        bounds = [("ge", v >= meta["ge"]) if "ge" in meta else None,
                  ("gt", v > meta["gt"]) if "gt" in meta else None,
                  ("le", v <= meta["le"]) if "le" in meta else None,
                  ("lt", v < meta["lt"]) if "lt" in meta else None]
        failed = [name for b in bounds if b is not None for name, ok in [b] if not ok]
        if failed:
            problems.append(f"{where}: {v} is out of range; expected {_range(meta)}")


def _range(meta: Mapping[str, Any]) -> str:
    lo = f"[{meta['ge']}" if "ge" in meta else (f"({meta['gt']}" if "gt" in meta else "(-inf")
    hi = f"{meta['le']}]" if "le" in meta else (f"{meta['lt']})" if "lt" in meta else "inf)")
    return f"a value in {lo}, {hi}"


def _name(tp: Any) -> str:
    if get_origin(tp) is Annotated:
        return _name(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of a (nested) dataclass or mapping, e.g. ``{"train.lr": 0.01}``.

    Tuples stay tuples; used for MLflow params and Parquet columns.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        items = ((f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj))
    elif isinstance(obj, Mapping):
        items = ((str(k), v) for k, v in obj.items())
    else:
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in items:
        name = _join(prefix, key)
        if (dataclasses.is_dataclass(value) and not isinstance(value, type)) or (
            isinstance(value, Mapping) and value
        ):
            out.update(flatten(value, name))
        else:
            out[name] = dict(value) if isinstance(value, Mapping) else value
    return out


def to_dict(obj: Any) -> Any:
    """A plain-Python (YAML/JSON-able) copy of a config: dataclasses and mappings become dicts,
    tuples become lists. ``build(cls, to_dict(cfg)) == cfg`` for every config."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
