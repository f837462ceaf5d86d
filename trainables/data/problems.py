"""Bad input: one :class:`Problem` per bad file, and the :class:`DataError` that carries them.

Every adapter reports what is wrong with a dataset the same way: the file (or config key) and
what was expected, all problems at once rather than the first one, before any trial trains::

    >>> str(Problem("masks/a.png", "missing; expected the mask of images/a.jpg"))
    'masks/a.png: missing; expected the mask of images/a.jpg'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One bad file or setting.

    Attributes:
        path: the file (or folder, or dotted config key) the problem is about.
        message: what is wrong and what was expected.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DataError(ValueError):
    """A dataset cannot be read as configured; ``problems`` lists every bad file.

    Args:
        problems: one entry per bad file or setting.
        dataset: the dataset's registry name, for the first line of the message.
    """

    def __init__(self, problems: Sequence[Problem], dataset: str = "") -> None:
        self.problems = list(problems)
        self.dataset = dataset
        head = f"{dataset}: " if dataset else ""
        n = len(self.problems)
        lines = [f"{head}{n} problem{'s' if n != 1 else ''} reading the dataset"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type, tuple[list[Problem], str]]:
        # pickled (across Ray, multiprocessing) with its problems, not its one joined message,
        # which the default (``self.args``) would split into characters when unpickled
        return (type(self), (self.problems, self.dataset))


def settle(problems: Sequence[Problem], dataset: str, skip_bad: bool, n_usable: int,
           root: str) -> None:
    """Raise or log the problems found while reading a dataset.

    Args:
        problems: every bad item found.
        dataset: registry name, for messages.
        skip_bad: ``data.skip_bad``: log the count of skipped items instead of raising.
        n_usable: items left after skipping.
        root: the dataset's folder, named when nothing is usable.

    Raises:
        DataError: there are problems and ``skip_bad`` is false, or no item is usable at all.
    """
    if n_usable == 0:
        found = list(problems) or [Problem(root, "no usable items; expected at least one")]
        raise DataError(found, dataset)
    if problems and not skip_bad:
        raise DataError(problems, dataset)
    if problems:
        log.warning("%s: skipped %d bad item(s) (data.skip_bad); first: %s", dataset,
                    len(problems), problems[0])
