"""``rotsweep status DIR``: what a study folder holds, from its tables and MLflow run map."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.tables import read_table, table_exists


def study_status(folder: Path) -> str:
    """A few lines: the study, trials finished / failed / without a final row, table sizes."""
    meta_file = folder / "study.json"
    if not meta_file.exists():
        return f"{folder}: not a rotsweep study folder (no study.json)"
    meta = json.loads(meta_file.read_text())
    results = folder / "results"
    lines = [f"study {meta['name']!r} ({meta['source']}): {meta['n_trials']} trials planned"]
    started = len([p for p in (folder / "mlflow_runs").glob("*.json")
                   if not p.name.startswith("_")])
    if table_exists(results, "trials"):
        trials = read_table(results, "trials")
        counts = trials["status"].value_counts().to_dict()
        finished, failed = counts.get("FINISHED", 0), counts.get("FAILED", 0)
        lines.append(f"  finished {finished}, failed {failed}, "
                     f"running or interrupted {max(started - finished - failed, 0)}")
        for row in trials[trials["status"] == "FAILED"].itertuples():
            last = (row.error or "").strip().splitlines()[-1:] or [""]
            lines.append(f"  FAILED {row.trial_id}: {last[0][:200]}")
    else:
        lines.append(f"  started {started}, none finished yet (no trials table)")
    for table, column in (("pretext", "epoch"), ("saliency", "eval_angle"),
                          ("hog_svm", "angle"), ("probe", "value")):
        if table_exists(results, table):
            n_rows = len(read_table(results, table, columns=[column]))
            lines.append(f"  {table}: {n_rows} rows")
    return "\n".join(lines)
