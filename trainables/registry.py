"""What an entry of a registry is: a builder and the dataclass of its ``params``.

Every kind of pluggable part is one plain dict literal in the module that owns the kind
(``BACKBONES`` in :mod:`trainables.models`, ``DATASETS`` in :mod:`trainables.data`,
``PRETEXTS`` in :mod:`trainables.pretext`, ``SALIENCY_METHODS``, ``PROBES``). An entry with
options is ``Entry(builder, ParamsClass)``; calling the entry calls the builder, so
``BACKBONES["nin"]({"blocks": 3})`` builds a NIN. A bare builder is also an entry: its params
are not checked up front (a backbone or dataset builder checks them when it runs; a bare
pretext task takes none).

The config layer checks a section's ``params`` against :func:`params_class` of its entry
before anything is built (:mod:`trainables.spec`); this module imports nothing from
``trainables``, so every registry can use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

B = TypeVar("B", bound=Callable[..., Any])


@dataclass(frozen=True)
class NoParams:
    """The params of an entry that has none: any key under ``params`` is an error."""


@dataclass(frozen=True)
class Entry(Generic[B]):
    """A registry entry: ``build`` and the frozen dataclass its ``params`` mapping must fit.

    Attributes:
        build: the builder (a function or a class); :meth:`__call__` forwards to it.
        params: the dataclass that validates the section's ``params`` (unknown keys, types,
            ranges, with dotted paths), e.g. ``NinParams`` for ``model.params`` of ``nin``.
    """

    build: B
    params: type = NoParams

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.build(*args, **kwargs)


def params_class(entry: Any) -> type:
    """The params dataclass of a registry entry (:class:`NoParams` for a bare builder)."""
    return entry.params if isinstance(entry, Entry) else NoParams


def lookup(registry: Mapping[str, Any], name: str, key: str, what: str) -> Any:
    """``registry[name]``, or a ``KeyError`` naming the key and the sorted choices.

    Args:
        registry: a registry dict.
        name: the registered name asked for.
        key: the dotted config key that names it (``model.backbone``), for the message.
        what: what an entry is (``backbone``), for the message.
    """
    try:
        return registry[name]
    except KeyError:
        raise KeyError(f"{key}: unknown {what} {name!r}; expected one of "
                       f"{sorted(registry)}") from None
