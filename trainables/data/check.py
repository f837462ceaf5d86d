"""``rotsweep data check`` and ``rotsweep validate``: read a dataset as a study would, and say
how many items are usable and what is wrong with every bad file."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from trainables.config import DataConfig
from trainables.data import build_dataset
from trainables.data.problems import DataError, Problem
from trainables.data.problems import log as problems_log


@dataclass(frozen=True)
class CheckReport:
    """What reading a dataset found.

    Attributes:
        name: the registry name.
        root: the dataset's folder, resolved (as given when it could not be read), or
            ``None`` for generated and package-shipped sets.
        n_usable: items that read correctly.
        problems: every problem found, each naming its file.
        skip_bad: ``data.skip_bad`` was asked: problems are counted, not failures.
        foreground: mean, min and max share of mask pixels over the usable items (``None``
            when nothing was read; 0 for classification sets, whose masks are empty).
        image_size: ``data.image_size`` of the items.
    """

    name: str
    root: str | None
    n_usable: int
    problems: tuple[Problem, ...]
    skip_bad: bool
    foreground: tuple[float, float, float] | None
    image_size: int

    @property
    def ok(self) -> bool:
        """Nothing is wrong, or the bad items are skipped as asked (and some are usable)."""
        return self.n_usable > 0 and (not self.problems or self.skip_bad)

    def lines(self) -> list[str]:
        """Human-readable report: a summary line, then one line per problem."""
        where = f" at {self.root}" if self.root else ""
        head = (f"{self.name}{where}: {self.n_usable} usable item"
                f"{'' if self.n_usable == 1 else 's'} at "
                f"{self.image_size}x{self.image_size}")
        if self.foreground is not None:
            mean, lo, hi = self.foreground
            head += (f"; mask foreground {100 * mean:.1f}% (min {100 * lo:.1f}%, "
                     f"max {100 * hi:.1f}%)")
        out = [head]
        if self.problems:
            verb = "skipped" if self.skip_bad else "found"
            out.append(f"{len(self.problems)} problem(s) {verb}:")
            out += [f"  {p}" for p in self.problems]
        return out


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _contract(sample: dict, size: int) -> str | None:
    """What a sample breaks of the ``Sample`` contract, if anything (an adapter bug guard)."""
    image, mask = sample["image"], sample["mask"]
    if image.shape != (3, size, size) or image.dtype != torch.float32:
        return f"image is {tuple(image.shape)} {image.dtype}; expected (3, {size}, {size}) float32"
    if mask.shape != (size, size) or mask.dtype != torch.bool:
        return f"mask is {tuple(mask.shape)} {mask.dtype}; expected ({size}, {size}) bool"
    if float(image.min()) < 0.0 or float(image.max()) > 1.0:
        return "image values outside [0, 1]"
    return None


def check_dataset(cfg: DataConfig) -> CheckReport:
    """Build the dataset (collecting every bad item instead of stopping at the first), read
    every usable item, and report.

    Bad items are always collected; ``cfg.skip_bad`` only decides whether they count as a
    failure (:attr:`CheckReport.ok`). Unknown ``data.params`` keys still raise
    :class:`~trainables.config.ConfigError`.
    """
    problems: list[Problem] = []
    fractions: list[float] = []
    try:
        with _quiet(problems_log):  # the report lists the problems; no "skipped" warning
            dataset = build_dataset(replace(cfg, skip_bad=True))
    except DataError as err:
        problems.extend(err.problems)
        dataset = None
    n_usable = 0
    if dataset is not None:
        problems.extend(getattr(dataset, "problems", []))
        for i in range(len(dataset)):
            try:
                sample = dataset[i]
            except DataError as err:
                problems.extend(err.problems)
                continue
            broken = _contract(sample, cfg.image_size)
            if broken:
                problems.append(Problem(str(sample["image_id"]), broken))
                continue
            n_usable += 1
            fractions.append(float(sample["mask"].float().mean()))
    fg = (sum(fractions) / len(fractions), min(fractions), max(fractions)) if fractions else None
    root = str(getattr(dataset, "root", None) or cfg.root) if cfg.root else None
    return CheckReport(cfg.name, root, n_usable, tuple(problems), cfg.skip_bad, fg,
                       cfg.image_size)
