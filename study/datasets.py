"""What a study reads before any trial starts (``rotsweep validate``): every dataset and every
weights file of every grid point, checked the way a trial would use it.

A problem names the study key that fixes it *in that study*: a study whose ``data`` is an axis
gives each dataset its own root, so ``--set data.root=PATH`` would not move them and the hint is
``data.home`` (the folder relative roots are read from; ``ROTSWEEP_DATA`` where the study file
reads it); a probe's downstream set is fixed in its ``probe.downstream`` entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from study.config import StudyConfig
from trainables.config import DataConfig, ModelConfig, TrialConfig, config_hash, to_dict
from trainables.data import n_eval_problem
from trainables.data.base import eval_size
from trainables.data.check import CheckReport, check_dataset
from trainables.data.disk import dataset_root
from trainables.data.problems import DataError
from trainables.probes.downstream import downstream_configs


@dataclass(frozen=True)
class StudyDataCheck:
    """One :class:`CheckReport` per distinct dataset of the study, and the problems that stop it.
    """

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
    problems: list[str] = []
    for point in study.grid():
        trial = study.trial(point)
        for where, n_eval_key, data in _sets(trial):
            key = _dataset_key(data)
            if key not in reports:
                reports[key] = _check_one(study, where, data, problems)
            n_items = reports[key].n_items
            if n_items is not None:
                found = n_eval_problem(data, eval_size(n_items, data.eval_fraction), n_items,
                                       n_eval_key)
                if found is not None:
                    problems.append(f"{where}: {found}")
    return StudyDataCheck(tuple(reports.values()), tuple(dict.fromkeys(problems)))


def _check_one(study: StudyConfig, where: str, data: DataConfig, problems: list[str]
               ) -> CheckReport:
    missing = _root_problem(study, where, data)
    if missing is not None:
        problems.append(missing)
        return CheckReport(data.name, data.root, 0, (), data.skip_bad, None, data.image_size)
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
    """How to point ``data`` at its folder in this study (see the module docstring)."""
    relative = not Path(data.root or "").expanduser().is_absolute()
    if not where.startswith("data "):
        return (f"expected the dataset's folder: set root (or home) in the study file's "
                f"probe.downstream entry {where.split(' ', 1)[1]!r}")
    on_axis = any(k == "data" or k == "data.root" for k in study.keys.axes)
    if not on_axis:
        return ("expected the dataset's folder: --set data.root=PATH" +
                (" or --set data.home=DIR (the folder relative roots are read from)"
                 if relative else ""))
    if not relative:
        return ("expected the dataset's folder: data is an axis of this study, so fix the "
                "absolute root in its axis entry in the study file (--set data.root does not "
                "reach axis values)")
    env = " or ROTSWEEP_DATA=DIR" if _reads_env(study.source, "ROTSWEEP_DATA") else ""
    return ("expected the dataset's folder: data is an axis of this study, so point data.home "
            f"at the folder holding its datasets: --set data.home=DIR{env} (--set data.root "
            "does not reach axis values)")


def _reads_env(source: str, name: str) -> bool:
    try:
        return f"${{{name}" in Path(source).read_text()
    except OSError:
        return False


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
