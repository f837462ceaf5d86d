"""Where a study folder's tables and artifacts are, what it holds, whether a filter names
something it holds, and where its report goes (written beside, then swapped in).

A study folder (``rotsweep run --out DIR``) holds ``study.json``; its tables are under
``results/`` of the study's storage, which is the folder itself unless ``study.json`` names
another (``--storage``; a relative storage is read from the folder). A bare results root (the
folder holding the table folders) works as well. Nothing here reads a table's rows beyond the
``trial_id`` column of the ``trials`` table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.fs as pafs

from analysis.results import results_root
from rotsweep.schema import TABLES
from rotsweep.storage import join, read_bytes, resolve
from rotsweep.tables import read_arrow, safe_name, table_exists

MAX_LISTED = 20  # known values listed in an error message


class ReportError(ValueError):
    """A folder that holds no study, or a filter that names nothing in it (one line)."""


@dataclass(frozen=True)
class StudyFolder:
    """A located study.

    Attributes:
        folder: the folder (or URI) the user named.
        storage: where ``results/`` and ``artifacts/`` are (a path or URI).
        results: the results root (holds the table folders).
        info: ``study.json`` (``{}`` when there is none).
        tables: the tables that have part files.
    """

    folder: str
    storage: str
    results: str
    info: dict[str, Any] = field(default_factory=dict)
    tables: tuple[str, ...] = ()

    @property
    def artifacts(self) -> str:
        """The trials' artifacts folder (``artifacts/<trial_id>/``)."""
        return join(self.storage, "artifacts")


def _study_json(folder: str) -> dict[str, Any]:
    if "://" in folder:
        return {}
    path = Path(folder) / "study.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _storage(folder: str, info: dict[str, Any]) -> str:
    named = info.get("storage")
    if not named or "://" in folder:
        return folder
    named = str(named)
    if "://" in named or os.path.isabs(named):
        return named
    return str(Path(folder) / named)


def locate(folder: str | os.PathLike[str]) -> StudyFolder:
    """Find a study's tables.

    Raises:
        ReportError: no such folder, or no table in it (the message says what is needed).
    """
    text = os.fspath(folder)
    if "://" not in text and not Path(text).is_dir():
        raise ReportError(f"{text}: no such folder; give the study folder that `rotsweep run "
                          "--out DIR` wrote")
    info = _study_json(text)
    # the folder's own tables first (a copied or moved study folder: its study.json may still
    # name the storage it was run with), then the storage study.json names (--storage)
    for storage in dict.fromkeys([text, _storage(text, info)]):
        results = results_root(storage)
        tables = tuple(t for t in TABLES if table_exists(results, t))
        if tables:
            return StudyFolder(folder=text, storage=storage, results=results, info=info,
                               tables=tables)
    state = "holds no result tables yet" if info else "holds no study"
    raise ReportError(f"{text}: {state}; `rotsweep report` needs a study folder written by "
                      "`rotsweep run --out DIR` (Parquet tables under DIR/results/)")


def _partition_values(results: str, tables: Sequence[str], level: int) -> set[str]:
    # values of the ``study=`` (level 1) or ``dataset=`` (level 2) folders
    fs, root = resolve(results)
    found: set[str] = set()
    for table in tables:
        paths = [f"{root}/{table}"]
        for depth in range(level):
            entries = []
            for path in paths:
                entries += fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            dirs = [e for e in entries if e.type == pafs.FileType.Directory and "=" in
                    e.base_name]
            if depth == level - 1:
                found |= {e.base_name.split("=", 1)[1] for e in dirs}
            paths = [e.path for e in dirs]
    return found


def known_trials(located: StudyFolder) -> set[str]:
    """Trial ids of the ``trials`` table, else of the ``saliency`` and ``probe`` tables."""
    for table in ("trials", "saliency", "probe", "pretext"):
        if table in located.tables:
            column = read_arrow(located.results, table, columns=["trial_id"]).column("trial_id")
            return {str(v) for v in pc.unique(column).to_pylist() if v is not None}
    return set()


def _listed(values: set[str]) -> str:
    shown = sorted(values)[:MAX_LISTED]
    more = f" … and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else ""
    return ", ".join(shown) + more if shown else "none"


def check_filters(located: StudyFolder, study: str | None = None,
                  datasets: Sequence[str] | None = None,
                  trial_ids: Sequence[str] | None = None) -> None:
    """Refuse a filter that names a study, dataset or trial the folder does not hold.

    Raises:
        ReportError: one line per wrong kind of filter, each listing the known values.
    """
    problems = []
    checks = (("study", [study] if study else [], lambda: _partition_values(
                  located.results, located.tables, 1)),
              ("dataset", list(datasets or []), lambda: _partition_values(
                  located.results, located.tables, 2)),
              ("trial", list(trial_ids or []), lambda: known_trials(located)))
    for kind, asked, known_of in checks:
        if not asked:
            continue
        known = known_of()
        unknown = [v for v in asked if v not in known]
        if unknown:
            problems.append(f"unknown {kind} {', '.join(map(repr, unknown))} in "
                            f"{located.folder}; known: {_listed(known)}")
    if problems:
        raise ReportError("; ".join(problems))


MAX_EXAMPLE_TRIALS = 12  # beyond a dozen trials the grids are linked from the trials' folders


def copy_examples(artifacts: str, trial_ids: Sequence[str], out: Path,
                  stems: Mapping[str, str] | None = None) -> list[Path]:
    """Copy the saliency example grids (``<artifacts>/<trial>/saliency_examples*.png``) of the
    first :data:`MAX_EXAMPLE_TRIALS` trials into ``out/examples/``, each named
    ``<stem>_saliency_examples*.png`` (``stems``: the trial's name, e.g. from
    :func:`analysis.sections_more.example_stems`; default its id)."""
    fs, root = resolve(artifacts)
    copied = []
    for trial_id in list(trial_ids)[:MAX_EXAMPLE_TRIALS]:
        entries = fs.get_file_info(pafs.FileSelector(f"{root}/{trial_id}", allow_not_found=True))
        for name in sorted(e.base_name for e in entries if e.type == pafs.FileType.File):
            if name.startswith("saliency_examples") and name.endswith(".png"):
                stem = (stems or {}).get(trial_id, trial_id)
                dst = out / "examples" / f"{stem}_{name}"
                dst.parent.mkdir(exist_ok=True)
                dst.write_bytes(read_bytes(f"{artifacts.rstrip('/')}/{trial_id}/{name}"))
                copied.append(dst)
    return copied


def report_folder(located: StudyFolder, study: str | None = None,
                  datasets: Sequence[str] | None = None,
                  trial_ids: Sequence[str] | None = None) -> Path:
    """Where a report goes by default: ``DIR/report`` for the whole study, else
    ``DIR/report-<filter>``: ``report-dataset=brats``, ``report-trial=a1+a2``,
    ``report-study=s_dataset=brats`` (more than 60 characters of values are named by their
    count and a hash).

    Raises:
        ReportError: the study is on a URI (the report needs a local folder: ``--out``).
    """
    if "://" in located.folder:
        raise ReportError(f"{located.folder} is not a local folder; give the report's folder "
                          "with --out")
    parts = []
    for kind, values in (("study", [study] if study else []), ("dataset", datasets or []),
                         ("trial", trial_ids or [])):
        names = sorted({safe_name(v) for v in values})
        joined = "+".join(names)
        if len(joined) > 60:
            joined = f"{len(names)}-{kind}s-{hashlib.sha256(joined.encode()).hexdigest()[:8]}"
        if names:
            parts.append(f"{kind}={joined}")
    return Path(located.folder) / "-".join(["report", *(["_".join(parts)] if parts else [])])


REPORT_MARKS = ("report.md", "report.html", "per_angle.csv", "peaks.csv")


@contextmanager
def staged(target: Path, study_folder: Path, chosen: bool = True) -> Iterator[Path]:
    """A fresh folder beside ``target`` to write into, swapped in for ``target`` on success
    (and removed on failure, leaving ``target`` as it was).

    Args:
        target: the report's folder.
        study_folder: the study's folder (never replaced).
        chosen: ``target`` was given by the user (``--out``): refuse to replace a folder that
            does not look like a report.

    Raises:
        ReportError: ``target`` is the study folder, holds it, or (``chosen``) is a folder with
            other content than a report (which the swap would delete).
    """
    target = target.absolute()
    study = study_folder.absolute()
    if target == study or target in study.parents:
        raise ReportError(f"--out {target}: that would replace the study folder; choose a "
                          "folder of its own (default: DIR/report)")
    if chosen and target.exists() and (not target.is_dir() or (
            any(target.iterdir()) and not any((target / n).is_file() for n in REPORT_MARKS))):
        raise ReportError(f"--out {target}: exists and is not a rotsweep report folder; "
                          "choose a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        if target.exists():
            target.rename(old)
        try:
            tmp.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
