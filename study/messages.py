"""Error and pace texts of a study's progress lines, its closing summary and ``status``
(no torch, no Ray: ``rotsweep status`` imports this)."""

from __future__ import annotations

import errno
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


# what happened and what to do, per family of OS error (errno), for a one-line message
_WRITABLE = "give a writable folder (--out DIR) or copy the study folder somewhere writable"
_IN_THE_WAY = "a file is in the way where a folder is needed; give a path that is not a file " \
              "or below one"
_FULL = "free space there or use a folder on another disk (--out DIR), then run the same " \
        "command again"
_OS_ADVICE = {
    errno.EACCES: f"permission denied; {_WRITABLE}",
    errno.EPERM: f"not permitted there; {_WRITABLE}",
    errno.EROFS: f"the file system is read-only; {_WRITABLE}",
    errno.ENOSPC: f"the disk is full; {_FULL}",
    errno.EDQUOT: f"the disk quota is used up; {_FULL}",
    errno.EEXIST: _IN_THE_WAY,
    errno.ENOTDIR: _IN_THE_WAY,
    errno.EISDIR: "a folder is in the way where a file is needed",
    errno.ENAMETOOLONG: "a name is too long for this file system; use a shorter study name, "
                        "data.label or folder",
    errno.ENOENT: "no such file or folder",
}
# the temporary files rotsweep writes before a rename (".NAME.RANDOM.tmp", "NAME.RANDOM.tmp")
_TEMP = re.compile(r".*\.[0-9a-z_]{6,}\.tmp")


def os_error_line(err: OSError, where: object = None) -> str:
    """An OS error as one line: the path (the folder, for a temporary file of rotsweep's own;
    ``where``, the folder the command writes, when the error names none, as a write to an open
    file does), what happened and what to do (study/cli/main.py ``main`` prints it and exits 2).

    >>> os_error_line(OSError(28, "No space left on device", "/d/s/.report.k2j4x9.tmp"))
    '/d/s: the disk is full; free space there or use a folder on another disk (--out DIR), \
then run the same command again'
    """
    path = str(err.filename if err.filename is not None else where or "")
    if _TEMP.fullmatch(path.rsplit("/", 1)[-1]):
        path = path.rsplit("/", 1)[0]
    if err.filename2 is not None:
        path = f"{path} -> {err.filename2}"
    advice = _OS_ADVICE.get(err.errno or 0)
    what = advice or f"{err.strerror or type(err).__name__}"
    return f"{path}: {what}" if path else what
