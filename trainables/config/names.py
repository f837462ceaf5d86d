"""Names that become folders and partitions: study names and dataset labels.

A study's name names its Tune folder and every table's ``study`` partition, a dataset's label
the ``dataset`` partition; neither may climb out of the study folder or clash with a path
separator, so both are restricted to a safe character set.
"""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ALLOWED = ("letters A-Z a-z, digits 0-9, '.', '_' and '-', starting with a letter or digit, "
           "without '..'")


def name_problem(value: object, key: str) -> str | None:
    """Why ``value`` is not a safe name for ``key`` (``None`` when it is).

    >>> name_problem("kvasir_seg-2.0", "data.label") is None
    True
    >>> name_problem("../escape", "name")
    "name: '../escape' is not a safe name; allowed: letters A-Z a-z, digits 0-9, '.', '_' and \
'-', starting with a letter or digit, without '..'"
    """
    if isinstance(value, str) and SAFE_NAME.fullmatch(value) and ".." not in value:
        return None
    return f"{key}: {value!r} is not a safe name; allowed: {ALLOWED}"
