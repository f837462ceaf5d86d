"""What a study reads before any trial starts (``rotsweep validate``): every dataset and every
weights file of every grid point, checked the way a trial would use it.

A problem names the study key that fixes it *in that study*: a study whose ``data`` is an axis
gives each dataset its own root, so ``--set data.root=PATH`` would not move them and the hint is
``data.home`` (the folder relative roots are read from: ``ROTSWEEP_DATA`` unless the study file
sets it, see ``study.config.load.absolute_paths``); a probe's downstream set is fixed in its
``probe.downstream`` entry.

:func:`check_study_inputs` is the one check ``rotsweep validate`` and ``rotsweep run`` (before Ray
starts) both call, so ``run`` refuses exactly what ``validate`` refuses, with the same lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from study.config.load import StudyConfig
from trainables.config import DataConfig, ModelConfig, TrialConfig, config_hash, to_dict
from trainables.data import n_eval_problem
from trainables.data.base import eval_size
from trainables.data.check import CheckReport, check_dataset
from trainables.data.disk import dataset_root
from trainables.data.problems import DataError
from trainables.probes.downstream import downstream_configs


@dataclass(frozen=True)
class StudyDataCheck:
    """One :class:`CheckReport` per distinct dataset of the study whose folder exists (a missing
    folder is a problem, never a report of "0 usable items"), and the problems that stop it."""

    reports: tuple[CheckReport, ...]
    problems: tuple[str, ...]


def _sets(trial: TrialConfig) -> list[tuple[str, str, DataConfig]]:
    """``(where, n_eval key, data)`` of the trial's own data and its probes' downstream sets;
    ``where`` names the set in messages (``data kvasir_seg``, ``probe.downstream digits``)."""
    sets = [(f"data {trial.data.tag}", "data.n_eval", trial.data)]
    for i, (label, data) in enumerate(downstream_configs(trial)):
        if data.name != trial.data.name or data.root != trial.data.root:
            sets.append((f"probe.downstream {label}", f"probe.downstream[{i}].n_eval", data))
    return sets


def _dataset_key(data: DataConfig) -> str:
    """Data sections that differ only in how many items a trial takes are one dataset."""
    return config_hash(replace(data, n_train=None, n_eval=1, split_seed=0, eval_fraction=0.5,
                               label=None))


def check_study_data(study: StudyConfig) -> StudyDataCheck:
    """Read each distinct dataset (the trials' own and the probes' downstream sets) the way a
    trial would, and check every trial's ``n_eval`` against its evaluation split.

    A dataset fails the study when its folder is missing (the hint names the key that works in
    this study), a file is bad (unless ``data.skip_bad``), nothing is usable, or a trial asks
    for more evaluation images than its split holds; each problem is one line naming the
    dataset, and the file or key.
    """
    reports: dict[str, CheckReport] = {}
    missing: set[str] = set()
    problems: list[str] = []
    for point in study.grid():
        trial = study.trial(point)
        for where, n_eval_key, data in _sets(trial):
            key = _dataset_key(data)
            if key not in reports and key not in missing:
                found = _check_one(study, where, data, problems)
                if found is None:
                    missing.add(key)
                    continue
                reports[key] = found
            if key in missing:
                continue
            n_items = reports[key].n_items
            if n_items is not None:
                found = n_eval_problem(data, eval_size(n_items, data.eval_fraction), n_items,
                                       n_eval_key)
                if found is not None:
                    problems.append(f"{where}: {found}")
    return StudyDataCheck(tuple(reports.values()), tuple(dict.fromkeys(problems)))


def _check_one(study: StudyConfig, where: str, data: DataConfig, problems: list[str]
               ) -> CheckReport | None:
    """The dataset read as a trial would; ``None`` (and a problem) when its folder is missing."""
    missing = _root_problem(study, where, data)
    if missing is not None:
        problems.append(missing)
        return None
    report = check_dataset(replace(data, n_eval=None))
    if not report.ok:
        found = [f"{where}: {p}" for p in report.problems]
        problems += found or [f"{where}: no usable items"]
    return report


def _root_problem(study: StudyConfig, where: str, data: DataConfig) -> str | None:
    """The missing-folder problem of ``data``, with the hint that works in this study."""
    if data.root is None:
        return None  # generated or package-shipped data, or the adapter says what it needs
    try:
        dataset_root(data)
    except DataError as err:
        folder = err.problems[0].path
        home = f" in data.home {data.home!r}" if data.home else ""
        return (f"{where}: {folder}: no such folder (root {data.root!r}{home}); "
                f"{root_hint(study, where, data)}")
    return None


def root_hint(study: StudyConfig, where: str, data: DataConfig) -> str:
    """How to point ``data`` at its folder in this study (see the module docstring); a relative
    root names both ways of moving its home: ``--set data.home=DIR`` and ``ROTSWEEP_DATA=DIR``
    (the latter where the study file does not set ``data.home`` itself, or reads the variable).
    """
    relative = not Path(data.root or "").expanduser().is_absolute()
    if not where.startswith("data "):
        return (f"expected the dataset's folder: set root (or home) in the study file's "
                f"probe.downstream entry {where.split(' ', 1)[1]!r}" +
                (f", or {home_ways(study)} (the folder relative roots are read from)"
                 if relative else ""))
    on_axis = any(k == "data" or k == "data.root" for k in study.keys.axes)
    if not on_axis:
        return ("expected the dataset's folder: --set data.root=PATH" +
                (f" or {home_ways(study)} (the folder relative roots are read from)"
                 if relative else ""))
    if not relative:
        return ("expected the dataset's folder: data is an axis of this study, so fix the "
                "absolute root in its axis entry in the study file (--set data.root does not "
                "reach axis values)")
    return ("expected the dataset's folder: data is an axis of this study, so point data.home "
            f"at the folder holding its datasets: {home_ways(study)} (--set data.root does "
            "not reach axis values)")


def home_ways(study: StudyConfig) -> str:
    """The two ways to set the folder relative roots are read from, as a hint."""
    env = "ROTSWEEP_DATA=DIR"
    if _sets_home(study.source) and not _reads_env(study.source, "ROTSWEEP_DATA"):
        env += " (after removing data.home from the study file, which sets it)"
    return f"--set data.home=DIR or {env}"


def _sets_home(source: str) -> bool:
    try:
        return re.search(r"^\s*home\s*:", Path(source).read_text(), re.MULTILINE) is not None
    except OSError:
        return False


def _reads_env(source: str, name: str) -> bool:
    try:
        return f"${{{name}" in Path(source).read_text()
    except OSError:
        return False


def check_study_inputs(study: StudyConfig, data: bool = True,
                       show: Callable[[str], None] | None = None) -> list[str]:
    """Everything a launch reads before its first trial: every weights file of every trial
    (:func:`check_study_weights`) and, with ``data``, every dataset (:func:`check_study_data`).
    ``rotsweep validate`` and ``rotsweep run`` both call this, before Ray starts.

    Args:
        study: the loaded study.
        data: read the datasets too (``validate --no-data`` skips them).
        show: called with each dataset's report (``validate`` prints them).

    Returns:
        One line per problem, each starting with the study file's name.
    """
    problems = list(check_study_weights(study))
    if data:
        checked = check_study_data(study)
        if show is not None:
            for report in checked.reports:
                show("  data " + "\n    ".join(report.lines()))
        problems += checked.problems
    return [f"{study.source}: {p}" for p in problems]


def check_study_weights(study: StudyConfig) -> tuple[str, ...]:
    """Load every weights file a trial of the study will load, into the architecture it will
    load into (``model.weights`` for ``model.init`` ``torchvision`` / ``moco_v2``,
    ``probe.weights`` for the ``torchvision`` probe baseline), once per distinct combination.

    Returns:
        One line per problem: the file is missing, not a torch file of tensors (a file naming
        code is refused, never run), not of the kind ``init`` says (a facebookresearch/moco
        checkpoint needs ``module.encoder_q.*`` tensors), or does not fit the backbone.
    """
    from trainables.models import build_backbone

    seen: set[str] = set()
    problems: list[str] = []
    for point in study.grid():
        trial = study.trial(point)
        for key, model in _weighted_models(trial):
            ident = json.dumps([to_dict(model), trial.data.image_size], sort_keys=True,
                               default=str)
            if ident in seen:
                continue
            seen.add(ident)
            try:
                build_backbone(model, image_size=trial.data.image_size)
            except (ValueError, FileNotFoundError, OSError) as err:
                where = f" (axes {point})" if point else ""
                problems.append(f"{key}{where}: {str(err).removeprefix('model.weights: ')}")
    return tuple(problems)


def _weighted_models(trial: TrialConfig) -> list[tuple[str, ModelConfig]]:
    out = []
    if trial.model.init != "random":
        out.append(("model.weights", trial.model))
    if "torchvision" in trial.probe.baselines and trial.probe.weights:
        out.append(("probe.weights", replace(trial.model, init="torchvision",
                                             weights=trial.probe.weights)))
    return out
