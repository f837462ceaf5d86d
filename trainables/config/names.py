"""Names that become folders and partitions: study names and dataset labels.

A study's name names its Tune folder and every table's ``study`` partition, a dataset's label
the ``dataset`` partition; neither may climb out of the study folder or clash with a path
separator, so both are restricted to a safe character set, and to :data:`MAX_NAME`
characters: the longest path components a study writes from them are its partition folders
``study=<name>`` and ``dataset=<label>`` (``rotsweep/tables.py`` ``part_path``), and the most a
common file system takes for one component is 255 bytes (ext4, XFS, APFS, NTFS), 143 under
eCryptfs; 100 characters of a safe (ASCII) name leave room for every prefix and suffix added.
"""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: the longest study name or dataset label (see the module docstring)
MAX_NAME = 100
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
    if isinstance(value, str) and len(value) > MAX_NAME:
        return (f"{key}: {len(value)} characters ({value[:20]}...); at most {MAX_NAME}: it "
                "names folders (study=<name>, dataset=<label>) that every file system must take")
    if isinstance(value, str) and SAFE_NAME.fullmatch(value) and ".." not in value:
        return None
    return f"{key}: {value!r} is not a safe name; allowed: {ALLOWED}"
