"""A study's storage at the end of a launch and on ``rotsweep compact DIR``: the tables'
per-trial parts compacted (rotsweep/compact.py), and the disk the checkpoint cache takes.

Compaction runs only while the study is claimed (study/folder/claim.py): at the end of a launch by
the launch itself, and by ``rotsweep compact`` under its own claim, which a running launch refuses.
Parts of trials that are not finished stay loose: ``--resume`` runs them again, and merging
them now would only mean rewriting a compacted file then.
"""

from __future__ import annotations

import os
from pathlib import Path

from rotsweep.compact import CompactStats, compact_results
from rotsweep.storage import join, tree_bytes
from study.folder.book import TrialBook
from study.folder.claim import Claim, ClaimError
from study.folder.meta import read_meta, storage_of

EXIT_OK, EXIT_DAMAGED, EXIT_REFUSED = 0, 1, 2


def unfinished(book: TrialBook) -> list[str]:
    """Trial ids that a later ``--resume`` may run again."""
    return [t for t, rec in book.trials.items() if rec.status != "FINISHED"]


def compact_study(storage: str, book: TrialBook | None = None) -> CompactStats:
    """Compact the tables under ``storage/results``, unfinished trials' parts left loose."""
    book = book if book is not None else TrialBook.load(storage)
    return compact_results(join(storage, "results"), skip_keys=unfinished(book))


def cache_line(storage: str) -> str:
    """``checkpoint cache: 112.2 MB …`` — the disk the study's pre-training checkpoints take
    (``train.checkpoint_cache`` chooses what is kept); read without importing torch."""
    used = tree_bytes(join(storage, "cache", "pretrain"))  # trainables.checkpoints.cache_bytes
    return f"checkpoint cache: {used / 1e6:.1f} MB (train.checkpoint_cache: keep | " \
           "evaluation | none)"


def finish_storage(storage: str, book: TrialBook) -> str:
    """The end of a launch's storage work: compaction, then the cache's size; one line for the
    launch's summary. Never raises: a table that cannot be compacted is named and left as is."""
    try:
        stats = compact_study(storage, book)
        line = stats.line()
    except Exception as err:  # the launch's tables are written; compaction can wait
        line = f"compaction failed, tables left as written ({type(err).__name__}: {err})"
    return f"{line}; {cache_line(storage)}"


def compact_folder(folder: str | os.PathLike[str]) -> tuple[str, int]:
    """``rotsweep compact DIR``: the text to print and the exit code (0 done, 1 a damaged file
    left a table uncompacted, 2 not a study or in use by a launch).

    ``DIR`` is a study folder (its ``study.json`` names the storage) or a bare results root.
    """
    text = os.fspath(folder)
    meta = read_meta(text)
    if meta is None:
        if not (Path(text) / "results").is_dir() and not any(Path(text).glob("*/study=*")):
            return (f"error: {text}: not a study folder (no study.json) nor a results folder "
                    "(no <table>/study=*/ folders)", EXIT_REFUSED)
        root = str(Path(text) / "results") if (Path(text) / "results").is_dir() else text
        stats = compact_results(root)
        return _report(stats)
    storage = storage_of(text, meta)
    claim = Claim(storage)
    try:
        claim.acquire(resume=True)  # a killed launch's stale claim is taken over
    except ClaimError as err:
        return f"error: {err}", EXIT_REFUSED
    try:
        claim.start_heartbeat()
        stats = compact_study(storage)
    finally:
        claim.release()
    text, code = _report(stats)
    return f"{text}\n{cache_line(storage)}", code


def _report(stats: CompactStats) -> tuple[str, int]:
    return stats.line(), EXIT_DAMAGED if stats.problems else EXIT_OK
