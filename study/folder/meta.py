"""``study.json``: what a study folder holds, where its storage is, and whether a launch may
continue it.

Written at the top of the storage (and in ``--out`` when the storage is elsewhere) before Ray
starts, by the launch that holds the study's claim (study/folder/claim.py). Every path in it is
relative to the folder it is in: ``"storage": "."`` for a study folder that is its own storage
(the default), a relative path for a storage beside it, a URI for a remote one. A study folder
copied or moved elsewhere is read from where it is now.

``format`` 2 is the layout of stable trial ids and batched Tune experiments (study/launch/plan.py);
a folder without it was written by an older rotsweep, whose trials cannot be continued.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rotsweep.storage import exists, join, read_bytes, write_bytes

if TYPE_CHECKING:  # `rotsweep status` reads study.json without importing torch or Ray
    from study.config.load import StudyConfig

FORMAT = 2
META_FILE = "study.json"
SAFE = re.compile(r"[A-Za-z0-9._-]+")
#: keys of paths on this machine: where data and weights are found, not what they are
PATH_KEYS = ("home", "weights")


class StudyError(RuntimeError):
    """A study that cannot start as asked (the message says why and what to do)."""


def check_component(value: str, what: str) -> None:
    """Refuse a name that would not be one plain folder name under the storage.

    Raises:
        StudyError: naming ``what`` and the characters allowed.
    """
    if not SAFE.fullmatch(value) or value in (".", ".."):
        raise StudyError(f"{what} {value!r}: use letters, digits, '.', '_' and '-' only (and not "
                         "'.' or '..'): it names folders and files under the study's storage")


def inside(root: str, *parts: str) -> str:
    """``root/part/...``, each part one safe folder or file name (see :func:`check_component`)."""
    for part in parts:
        check_component(part, "path component")
    return join(root, *parts)


def is_local(target: str) -> bool:
    return "://" not in target


def storage_ref(out: str, storage: str) -> str:
    """How ``out/study.json`` names ``storage``: ``.``, a relative path, or a URI."""
    if not is_local(storage):
        return storage
    rel = os.path.relpath(os.path.abspath(storage), os.path.abspath(out))
    return "." if rel == "." else rel


def study_meta(study: StudyConfig, ref: str) -> dict[str, Any]:
    """The content of ``study.json``; ``ref`` names the storage (see :func:`storage_ref`)."""
    from study.launch.plan import trial_prefix
    from trainables.config import to_dict

    return {"format": FORMAT, "name": study.name, "source": study.source,
            "n_trials": study.n_trials(), "trial_prefix": trial_prefix(study.name),
            "storage": ref, "axes": to_dict(dict(study.keys.axes)),
            "search": to_dict(study.keys.search), "base": to_dict(study.base)}


def write_meta(study: StudyConfig, out: str, storage: str) -> None:
    """``study.json`` in the storage and, when it is elsewhere, in ``out``."""
    write_bytes(join(storage, META_FILE), json.dumps(study_meta(study, "."), indent=2).encode())
    if not is_local(storage) or os.path.abspath(out) != os.path.abspath(storage):
        os.makedirs(out, exist_ok=True)
        write_bytes(os.path.join(os.path.abspath(out), META_FILE),
                    json.dumps(study_meta(study, storage_ref(out, storage)), indent=2).encode())


def read_meta(where: str) -> dict[str, Any] | None:
    """The ``study.json`` at ``where`` (a folder or URI), None when there is none.

    Raises:
        StudyError: the file is there but is not a study's JSON.
    """
    path = join(where, META_FILE)
    if not exists(path):
        return None
    try:
        meta = json.loads(read_bytes(path))
        if not isinstance(meta, dict) or "name" not in meta:
            raise ValueError("no study name")
    except ValueError as err:
        raise StudyError(f"{path}: not a readable study.json ({err})") from None
    return meta


def storage_of(folder: str, meta: dict[str, Any]) -> str:
    """The storage of the study folder ``folder``: the folder itself when it holds the study's
    trial book (a copy of a study folder), else what ``study.json`` names, read from
    ``folder``."""
    if not is_local(folder) or exists(join(folder, "progress.json")):
        return folder
    named = str(meta.get("storage") or ".")
    if not is_local(named) or os.path.isabs(named):
        return named
    return os.path.normpath(str(Path(folder) / named))


def _strip_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_paths(v) for k, v in value.items() if k not in PATH_KEYS}
    if isinstance(value, list):
        return [_strip_paths(v) for v in value]
    return value


def plan_of(meta: dict[str, Any]) -> dict[str, Any]:
    """What identifies a study's trials: its name, axes and search (machine paths left out)."""
    return json.loads(json.dumps({"name": meta.get("name"), "axes": _strip_paths(
        meta.get("axes") or {}), "search": meta.get("search")}, sort_keys=True, default=str))


def check_continues(study: StudyConfig, storage: str, resume: bool) -> None:
    """Refuse to start over an existing study without ``resume``, and to continue a different
    study (name, axes or search differ) or one written by an older rotsweep.

    Raises:
        StudyError: saying which and what to do.
    """
    stored = read_meta(storage)
    if stored is None:
        return
    name = stored.get("name")
    if not resume:
        raise StudyError(f"{storage} already holds study {name!r}; pass --resume to continue it "
                         "(finished trials are kept), or choose another --out/--storage")
    if stored.get("format") != FORMAT:
        raise StudyError(f"{storage} holds study {name!r} written by an older rotsweep, whose "
                         "trials cannot be continued; `rotsweep report` still reads it; run the "
                         "study again into a new --out")
    mine = plan_of(study_meta(study, "."))
    theirs = plan_of(stored)
    differ = [key for key in ("name", "axes", "search") if mine[key] != theirs[key]]
    if differ:
        raise StudyError(
            f"--resume: {storage} holds study {name!r} ({stored.get('n_trials')} trials) but "
            f"{study.source or 'this study'} is {study.name!r} ({study.n_trials()} trials) and "
            f"its {', '.join(differ)} differ; continue the same study file, or choose another "
            "--out/--storage")


def layout(storage: str) -> dict[str, str]:
    """The folders of a study under its storage root."""
    names = {"results_root": "results", "cache_root": "cache", "artifacts_root": "artifacts",
             "runs_root": "mlflow_runs", "done_root": "done", "state_root": "state",
             "tune_root": "tune"}
    return {key: inside(storage, name) for key, name in names.items()}
