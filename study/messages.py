"""Error and pace texts of a study's progress lines, its closing summary and ``status``
(no torch, no Ray: ``rotsweep status`` imports this)."""

from __future__ import annotations

import re

#: how much of a trial's error text the book keeps (the head and the tail beyond this)
ERROR_CHARS = 20_000


def clip(text: str, limit: int = ERROR_CHARS) -> str:
    """``text``, or its first and last ``limit / 2`` characters around a note of the cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def last_line(text: str | None) -> str:
    """The last non-empty line of an error text (the exception), at most 300 characters."""
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "error"


# an exception's first line in a traceback: "pkg.mod.SomeError: message" at column 0
_EXC = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)"
                  r"|[A-Z]\w*Error\(\w+\))(?:: (.*))?$")


def error_message(text: str | None) -> str:
    """The whole message of the last exception in a traceback text, on one line.

    A trial's error crosses Ray as a traceback whose last exception may span several lines (a
    :class:`~trainables.data.problems.DataError` lists one problem per line): those lines are
    joined with " | " after the exception's class name, so nothing of the message is lost.
    Falls back to the last line of ``text``.
    """
    lines = (text or "").rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        found = _EXC.match(lines[i])
        if found and not lines[i].startswith(" "):
            rest = [found.group(2) or ""] + [ln.strip() for ln in lines[i + 1:]]
            message = " | ".join(part for part in rest if part)
            return f"{found.group(1)}: {message}" if message else found.group(1)
    return last_line(text)


def rate_and_eta(ended: int, elapsed_s: float, left: int) -> str:
    """``"9.4/min, ETA 13s"``: trials ended per minute so far in this launch and the time the
    ``left`` trials take at that rate (``"ETA ?"`` before any trial ended)."""
    if ended <= 0 or elapsed_s <= 0:
        return "ETA ?"
    per_min = 60.0 * ended / elapsed_s
    return f"{per_min:.1f}/min, ETA {duration(max(left, 0) * elapsed_s / ended)}"


def duration(seconds: float) -> str:
    """``13s``, ``4m05s``, ``2h10m``, ``3d04h``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
