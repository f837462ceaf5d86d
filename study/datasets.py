"""Read every dataset a study names before any trial starts (``validate`` and ``run``)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from study.config import StudyConfig
from trainables.config import config_hash
from trainables.data.check import CheckReport, check_dataset
from trainables.probes.downstream import downstream_configs


@dataclass(frozen=True)
class StudyDataCheck:
    """One :class:`CheckReport` per distinct dataset of the study, and the problems that stop it.
    """

    reports: tuple[CheckReport, ...]
    problems: tuple[str, ...]


def check_study_data(study: StudyConfig) -> StudyDataCheck:
    """Read each distinct dataset, the trials' own and the probes' downstream sets (data
    sections that differ only in how many items a trial takes are one dataset), the way a trial
    would.

    A dataset fails the study when a file is bad (unless ``data.skip_bad``) or nothing is usable;
    each problem is one line naming the dataset and the file.
    """
    seen: set[str] = set()
    reports, problems = [], []
    for point in study.grid():
        trial = study.trial(point)
        sets = [("data", trial.data)] + [
            (f"probe.downstream {label}", data) for label, data in downstream_configs(trial)
            if data.name != trial.data.name or data.root != trial.data.root]
        for where, data in sets:
            key = config_hash(replace(data, n_train=None, n_eval=1, split_seed=0,
                                      eval_fraction=0.5))
            if key in seen:
                continue
            seen.add(key)
            report = check_dataset(data)
            reports.append(report)
            if not report.ok:
                found = [f"{where} {data.name}: {p}" for p in report.problems]
                problems += found or [f"{where} {data.name}: no usable items"]
    return StudyDataCheck(tuple(reports), tuple(problems))
