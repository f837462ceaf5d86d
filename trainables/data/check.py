"""``rotsweep data check`` and ``rotsweep validate``: read a dataset as a study would, and say
how many items are usable, what is wrong with every bad file, whether ``data.n_eval`` fits its
evaluation split, and whether its images carry an orientation cue (:mod:`trainables.data.cues`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from trainables.config import DataConfig
from trainables.data import build_dataset, n_eval_problem
from trainables.data.base import eval_size
from trainables.data.cues import CueCounter, QuadrantCue
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
        n_items: items the dataset lists, bad ones skipped (``None`` when it could not be
            built).
        n_eval_split: items in its evaluation split (``None`` likewise).
        n_eval: the problem with ``data.n_eval`` when it is above ``n_eval_split`` (a failure
            even with ``skip_bad``).
        cues: the dark and bright :class:`~trainables.data.cues.QuadrantCue` of the usable
            items (empty when nothing was read); a flagged cue is reported, not a failure.
    """

    name: str
    root: str | None
    n_usable: int
    problems: tuple[Problem, ...]
    skip_bad: bool
    foreground: tuple[float, float, float] | None
    image_size: int
    n_items: int | None = None
    n_eval_split: int | None = None
    n_eval: Problem | None = None
    cues: tuple[QuadrantCue, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing is wrong, or the bad items are skipped as asked (and some are usable)."""
        return (self.n_usable > 0 and (not self.problems or self.skip_bad)
                and self.n_eval is None)

    def lines(self) -> list[str]:
        """Human-readable report: a summary line, one line per problem, the ``n_eval``
        error, then the orientation cues (dark, bright). A dataset that could not be built (a
        missing folder) gives no count, only its problems."""
        where = f" at {self.root}" if self.root else ""
        head = (f"{self.name}{where}: {self.n_usable} usable item"
                f"{'' if self.n_usable == 1 else 's'} at "
                f"{self.image_size}x{self.image_size}")
        if self.n_items is None and self.problems:  # never built: no count to give
            head = f"{self.name}{where}: could not be read"
        if self.foreground is not None:
            mean, lo, hi = self.foreground
            head += (f"; mask foreground {100 * mean:.1f}% (min {100 * lo:.1f}%, "
                     f"max {100 * hi:.1f}%)")
        out = [head]
        if self.problems:
            verb = "skipped" if self.skip_bad else "found"
            out.append(f"{len(self.problems)} problem(s) {verb}:")
            out += [f"  {p}" for p in self.problems]
        if self.n_eval is not None:
            out.append(f"error: {self.n_eval}")
        return out + [f"orientation, {cue.line()}" for cue in self.cues]


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
    every usable item, count its orientation cues, check ``n_eval`` against the evaluation
    split, and report.

    Bad items are always collected; ``cfg.skip_bad`` only decides whether they count as a
    failure (:attr:`CheckReport.ok`). Unknown ``data.params`` keys still raise
    :class:`~trainables.config.ConfigError`.
    """
    problems: list[Problem] = []
    try:
        with _quiet(problems_log):  # the report lists the problems; no "skipped" warning
            dataset = build_dataset(replace(cfg, skip_bad=True))
    except DataError as err:
        problems.extend(err.problems)
        dataset = None
    n_usable, fractions, cues, n_split, too_many = 0, [], CueCounter(cfg.image_size), None, None
    if dataset is not None:
        problems.extend(getattr(dataset, "problems", []))
        n_usable, fractions = _read_all(dataset, cfg.image_size, problems, cues)
        n_split = eval_size(len(dataset.ids), cfg.eval_fraction)
        too_many = n_eval_problem(cfg, n_split, len(dataset.ids))
    fg = (sum(fractions) / len(fractions), min(fractions), max(fractions)) if fractions else None
    root = str(getattr(dataset, "root", None) or cfg.root) if cfg.root else None
    return CheckReport(cfg.name, root, n_usable, tuple(problems), cfg.skip_bad, fg,
                       cfg.image_size, None if dataset is None else len(dataset.ids), n_split,
                       too_many, cues.result() if n_usable else ())


def _read_all(dataset: object, size: int, problems: list[Problem], cues: CueCounter
              ) -> tuple[int, list[float]]:
    """Read every item: count the usable ones, their mask shares and cues; collect problems."""
    n_usable, fractions = 0, []
    for i in range(len(dataset)):  # type: ignore[arg-type]
        try:
            sample = dataset[i]  # type: ignore[index]
        except DataError as err:
            problems.extend(err.problems)
            continue
        broken = _contract(sample, size)
        if broken:
            problems.append(Problem(str(sample["image_id"]), broken))
            continue
        n_usable += 1
        fractions.append(float(sample["mask"].float().mean()))
        cues.add(sample["image"])
    return n_usable, fractions
