"""The MLflow run ids in the tables follow the store: after ``mlflow.db`` was rebuilt (a damaged
store set aside, study/tracking/store.py; a store that lost the study's runs,
study/tracking/tracker.py ``attach_parent``), every run is made again from the study's records under
a new id, and the ``saliency`` rows' ``mlflow_run_id`` (written by the trial, trainables/trial.py)
would still name the deleted runs.

:func:`follow_run_ids` rewrites the column of each trial whose rows name another run than the
trial → run map (``mlflow_runs/<trial_id>.json``, kept by study/tracking/tracker.py) does, by
rewriting that trial's part (rotsweep/tables.py ``write_part``: replaced whole, its compacted
copy excised), so every reader, plain pandas included, sees the current ids. Rows of a trial
whose map names no run (MLflow was unreachable) are left as they are.
"""

from __future__ import annotations

import json

import pyarrow.fs as pafs

from rotsweep.storage import exists, join, read_bytes, resolve
from rotsweep.tables import read_arrow, read_table, table_exists, write_part

#: per-trial tables that carry the trial's MLflow run id
ID_TABLES = ("saliency",)
#: present while a rewrite is due: the next launch finishes one that was killed
STALE = "_ids_stale"


def current_ids(runs_root: str) -> dict[str, str]:
    """``trial_id -> run_id`` from the trial → run map (runs not yet made left out)."""
    fs, root = resolve(runs_root)
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        name = info.base_name
        if name.endswith(".json") and not name.startswith("_"):
            run_id = json.loads(read_bytes(join(runs_root, name))).get("run_id")
            if run_id:
                out[name[:-len(".json")]] = str(run_id)
    return out


def follow_run_ids(storage: str, store_new: bool) -> int:
    """Rewrite the ``mlflow_run_id`` of trials whose rows name a run the map does not; run at
    the end of a launch whose tracker found the store new (``store_new``), or while a rewrite
    of a killed launch is due. Returns the trials rewritten."""
    runs_root, results = join(storage, "mlflow_runs"), join(storage, "results")
    marker = join(runs_root, STALE)
    if not store_new and not exists(marker):
        return 0
    fs, path = resolve(marker)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    fs.open_output_stream(path).close()
    ids = current_ids(runs_root)
    rewritten = 0
    for table in ID_TABLES:
        if not table_exists(results, table):
            continue
        named = read_table(results, table, columns=["trial_id", "mlflow_run_id"])
        stale = sorted({t for t, r in zip(named.trial_id, named.mlflow_run_id, strict=True)
                        if t in ids and r != ids[t]})
        for trial_id in stale:
            rows = read_arrow(results, table, filters=[("trial_id", "==", trial_id)])
            # through Python objects, not pandas: a null string stays null, a list a list
            write_part(results, table, [{**row, "mlflow_run_id": ids[trial_id]}
                                        for row in rows.to_pylist()], key=trial_id)
            rewritten += 1
    fs.delete_file(path)
    return rewritten
