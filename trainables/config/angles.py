"""Angles as researchers write them: degrees as floats, lists, ranges, normalised mod 360.

Every angle-set key of a trial (``pretext.params.angles`` of the rotation tasks,
``saliency.eval_angles``) is typed :data:`Angles` and accepts:

* a number: one angle (``90``, ``12.5``, ``-30``);
* a list of numbers: ``[0, 90, 180, 270]``;
* a range ``{start: 0, stop: 360, step: 0.1}``: ``start, start + step, ...`` up to ``stop``
  exclusive (``step`` > 0; ``start`` defaults to 0, ``stop`` to 360);
* a list mixing both: ``[0, {start: 10, stop: 20, step: 2.5}]``.

Every angle is taken mod 360 (``-90`` is ``270``, ``450`` is ``90``) and rounded to
:data:`DECIMALS` decimals, so floating steps give exact values (``0.1 * 3`` is ``0.3``);
precision is therefore 1e-6 degrees, well below the 0.1° the authors' follow-up study steps by.
An angle that appears twice after normalisation (``0`` and ``360``) is an error; the order is
kept (RotNet's class ``i`` is ``angles[i]``)::

    >>> parse_angles({"start": 0, "stop": 1, "step": 0.25}, "x")
    (0.0, 0.25, 0.5, 0.75)
    >>> parse_angles([-90, 450, 12.34], "x")
    (270.0, 90.0, 12.34)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

# angles are rounded to this many decimals after normalisation (1e-6 degrees)
DECIMALS = 6
# most angles one range may produce (0.001° steps over the circle)
MAX_ANGLES = 360_000
FORMS = ("a number, a list of numbers, or a range {start: 0, stop: 360, step: 15} "
         "(stop exclusive)")
RANGE_KEYS = ("start", "stop", "step")


def normalize_angle(value: float) -> float:
    """``value`` mod 360, rounded to :data:`DECIMALS` decimals, in [0, 360).

    >>> normalize_angle(-0.1), normalize_angle(720), normalize_angle(359.9999999)
    (359.9, 0.0, 0.0)
    """
    out = round(float(value) % 360.0, DECIMALS)
    return 0.0 if out >= 360.0 else out + 0.0  # + 0.0 turns -0.0 into 0.0


def angle_range(start: float, stop: float, step: float) -> tuple[float, ...]:
    """``start, start + step, ...`` below ``stop`` (exclusive), each rounded to
    :data:`DECIMALS` decimals (not normalised).

    >>> angle_range(0, 0.5, 0.1)
    (0.0, 0.1, 0.2, 0.3, 0.4)
    """
    count = max(0, math.ceil(round((stop - start) / step, 9)))
    return tuple(round(start + i * step, DECIMALS) + 0.0 for i in range(count))


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _expand_range(value: Mapping[str, Any], path: str, problems: list[str]) -> list[float]:
    unknown = [k for k in value if k not in RANGE_KEYS]
    if unknown:
        problems.append(f"{path}: unknown range key {unknown[0]!r}; a range is "
                        "{start: 0, stop: 360, step: 15} (stop exclusive)")
        return []
    bounds = {"start": 0.0, "stop": 360.0, **value}
    if "step" not in value:
        problems.append(f"{path}: a range needs a step, e.g. {{start: 0, stop: 360, step: 15}}")
        return []
    bad = [k for k in RANGE_KEYS if not _number(bounds[k])]
    if bad:
        problems.append(f"{path}.{bad[0]}: expected a number, got {_show(bounds[bad[0]])}")
        return []
    start, stop, step = (float(bounds[k]) for k in RANGE_KEYS)
    if step <= 0:
        problems.append(f"{path}.step: {step:g} must be > 0")
        return []
    if stop <= start:
        problems.append(f"{path}: empty range; stop {stop:g} must be above start {start:g}")
        return []
    if (stop - start) / step > MAX_ANGLES:
        problems.append(f"{path}: {math.ceil((stop - start) / step)} angles; at most "
                        f"{MAX_ANGLES} per range")
        return []
    return list(angle_range(start, stop, step))


def parse_angles(value: Any, path: str, problems: list[str] | None = None
                 ) -> tuple[float, ...] | None:
    """An angle set from its YAML form (see the module docstring), normalised.

    Args:
        value: a number, a list of numbers and ranges, or a range mapping.
        path: the dotted key, for messages.
        problems: collects one message per problem; ``None`` raises instead.

    Returns:
        The angles in the given order, each in [0, 360); ``None`` when there were problems.

    Raises:
        ValueError: (only when ``problems`` is ``None``) the first problem found.
    """
    found: list[str] = []
    items = value if isinstance(value, (list, tuple)) else [value]
    raw: list[tuple[str, float]] = []  # (as written, value)
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, (list, tuple)) else path
        if isinstance(item, Mapping):
            raw += [(f"{a:g}", a) for a in _expand_range(item, where, found)]
        elif _number(item):
            raw.append((f"{item:g}" if isinstance(item, float) else str(item), float(item)))
        else:
            found.append(f"{where}: expected angles in degrees: {FORMS}; got {_show(item)}")
    if not found and not raw:
        found.append(f"{path}: needs at least one angle; write {FORMS}")
    seen: dict[float, str] = {}
    out = []
    for written, angle in raw:
        norm = normalize_angle(angle)
        if norm in seen:
            found.append(f"{path}: {seen[norm]} and {written} are the same angle "
                         f"({norm:g} mod 360); give each angle once")
            break
        seen[norm] = written
        out.append(norm)
    if found:
        if problems is None:
            raise ValueError(found[0])
        problems.extend(found)
        return None
    return tuple(out)


class AngleSet:
    """The parser hook that makes a ``tuple[float, ...]`` field an angle set (see
    :data:`Angles`): ``trainables.config.parse`` calls :meth:`coerce` for it."""

    def coerce(self, value: Any, path: str, problems: list[str]) -> tuple[float, ...] | None:
        return parse_angles(value, path, problems)

    def __repr__(self) -> str:
        return "AngleSet()"


# The type of every angle-set field: ``angles: Angles = (90.0,)``.
Angles = Annotated[tuple[float, ...], AngleSet()]


def is_scalar_angle_list(value: Any) -> bool:
    """Whether an axis's values are single angles (numbers) rather than angle sets (lists or
    ranges): ``[0, 45, 90]`` is three one-angle trials."""
    return isinstance(value, list) and bool(value) and all(_number(v) for v in value)


def format_angle(angle: float) -> str:
    """``90.0`` → ``"90"``, ``0.1`` → ``"0.1"``."""
    return f"{angle:.{DECIMALS}f}".rstrip("0").rstrip(".")


def format_angles(angles: tuple[float, ...] | list[float], limit: int = 8) -> str:
    """A short set label: ``{0,90,180,270}``; more than ``limit`` angles are shortened to
    ``{0,15,…,345} (24)``.

    >>> format_angles((0.0, 90.0)), format_angles(tuple(range(0, 360, 15)))
    ('{0,90}', '{0,15,…,345} (24)')
    """
    text = [format_angle(a) for a in angles]
    if len(text) > limit:
        return f"{{{text[0]},{text[1]},…,{text[-1]}}} ({len(text)})"
    return "{" + ",".join(text) + "}"
