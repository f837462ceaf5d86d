"""The study's plan: every trial's stable id, and the bounded batches Tune runs them in.

**Stable trial ids.** Trial ``i`` of a study is ``<prefix>_<i:05d>`` (the prefix: five hex
digits of a hash of the study's name), the same in every launch. A grid study's trial ``i`` is
grid point ``i``; an Optuna study's ids are handed out as the searcher suggests trials. Tune is
made to use these ids (:class:`PlanGenerator`), so the table parts, the MLflow run map, the
done records and the pre-training state of a trial (all keyed by trial id) are found again by
any later launch.

**Batches.** Tune keeps every trial of an experiment in its experiment state and rewrites it
whole at every save (about 32 KB per finished trial: bench/tune_state.py), and its controller
walks every trial at each step. A launch therefore runs the study's unfinished trials in
batches of at most ``batch_size``, each batch a new, small Tune experiment under
``<storage>/tune/``, removed once it ended. Nothing of a batch is ever restored: ``--resume``
plans again from the trial book (``progress.json``): finished and early-stopped trials are
done, failed ones are tried again, the rest run (a trial killed mid-way continues from its
saved state, one that finished unrecorded replays its done record; see trainables/tune.py).
ASHA compares trials within a batch.

**Optuna across batches.** Each batch's searcher is rebuilt from the book: every trial that
ended is told to its grid point's Optuna study (value, pruned or failed), trials that did not
end are run again with their recorded values, and new suggestions go to the grid points with
the fewest trials, so every point gets exactly ``num_samples``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ray.tune.search import Searcher, SearchGenerator

from study.config.load import StudyConfig
from study.folder.book import TrialBook, TrialRecord
from study.launch.search import (
    _PRIMITIVE,
    GridOptunaSearch,
    _restore_state,
    _save_state,
    build_searcher,
    decode,
)

BATCH_SIZE = 256
#: statuses that need no further run (a FAILED trial is tried again by --resume)
DONE = ("FINISHED", "STOPPED")


def trial_prefix(name: str) -> str:
    """Five hex digits of the study name's hash: trial ids of two studies do not collide."""
    return hashlib.sha256(name.encode()).hexdigest()[:5]


def plan_ids(study: StudyConfig) -> list[str]:
    """The id of every trial of ``study``, in plan order."""
    n = study.n_trials()
    width = max(5, len(str(n - 1)))
    prefix = trial_prefix(study.name)
    return [f"{prefix}_{i:0{width}d}" for i in range(n)]


@dataclass(frozen=True)
class Planned:
    """One trial to run: its id and axes (None: the searcher suggests them)."""

    trial_id: str
    axes: Mapping[str, Any] | None


def pending(study: StudyConfig, book: TrialBook, states: Mapping[str, str] | None = None
            ) -> list[Planned]:
    """The trials of ``study`` that still need a run.

    Args:
        study: the study.
        book: its trial book (an Optuna trial's recorded axes are run again as they were).
        states: every planned trial's verdict from the data in storage
            (study/folder/completeness.py ``trial_states``: a trial runs unless FINISHED or
            STOPPED); without it, the book's statuses alone decide (an older caller).
    """
    ids = plan_ids(study)

    def done(tid: str) -> bool:
        if states is not None:
            return states.get(tid) in DONE
        return book.trials.get(tid, TrialRecord(tid)).status in DONE

    if study.keys.search.algorithm != "optuna":
        return [Planned(tid, point) for tid, point in zip(ids, study.grid(), strict=True)
                if not done(tid)]
    recorded = [tid for tid in ids if tid in book.trials and book.trials[tid].axes]
    rerun = [Planned(tid, dict(book.trials[tid].axes)) for tid in recorded if not done(tid)]
    return rerun + [Planned(tid, None) for tid in ids if tid not in recorded and not done(tid)]


def batches(items: Sequence[Planned], size: int) -> list[list[Planned]]:
    """``items`` cut into batches of at most ``size``."""
    return [list(items[i:i + size]) for i in range(0, len(items), max(1, size))]


# -- Optuna -----------------------------------------------------------------------------------
def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class StudySearch(GridOptunaSearch):
    """:class:`~study.launch.search.GridOptunaSearch` that deals each new trial to the grid point
    with the fewest trials so far (round-robin from a clean start) and learns from a trial book."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts = [0] * len(self.points)
        self._point_of = {_key(p): i for i, p in enumerate(self.points)}

    def point_index(self, axes: Mapping[str, Any]) -> int | None:
        """The grid point of a trial's axes (its searched values left out)."""
        point = {k: v for k, v in axes.items() if k not in self.params}
        return self._point_of.get(_key(point))

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.issued >= self.total:
            return Searcher.FINISHED
        index = min(range(len(self.points)), key=lambda i: self.counts[i])
        sampled = self.searchers[index].suggest(trial_id)
        if sampled is None:
            return None
        self.issued += 1
        self.counts[index] += 1
        self.owner[trial_id] = index
        return {"axes": {**self.points[index], **decode(self.params, sampled)}}

    def learn(self, records: Sequence[TrialRecord]) -> None:
        """Count every recorded trial against its grid point; tell Optuna the ended ones."""
        for rec in records:
            index = self.point_index(rec.axes)
            if index is None:
                continue
            self.issued += 1
            self.counts[index] += 1
            if rec.status in ("FINISHED", "STOPPED", "FAILED"):
                self.tell(index, rec.axes, rec.status, rec.metrics)

    def tell(self, index: int, axes: Mapping[str, Any], status: str,
             metrics: Mapping[str, float]) -> None:
        """Add one ended trial to grid point ``index``'s Optuna study."""
        opt = self.searchers[index]
        params = {}
        for key, p in self.params.items():
            value = axes.get(key)
            if p.kind == "choice" and not all(isinstance(v, _PRIMITIVE) for v in p.values):
                keys = [_key(v) for v in p.values]
                if _key(value) not in keys:
                    return
                value = keys.index(_key(value))
            params[key] = value
        import optuna  # a searching study only: a grid's launch never imports it

        metric_names = self.metric if isinstance(self.metric, list) else [self.metric]
        values = [metrics.get(m) for m in metric_names]
        state = optuna.trial.TrialState.COMPLETE
        if status == "STOPPED":
            state = optuna.trial.TrialState.PRUNED
        elif status == "FAILED" or any(v is None or v != v for v in values):
            state = optuna.trial.TrialState.FAIL
        done = state == optuna.trial.TrialState.COMPLETE
        try:
            trial = optuna.trial.create_trial(
                state=state, params=params, distributions=opt._space,
                values=[float(v) for v in values] if done else None)  # type: ignore[arg-type]
        except ValueError:  # a value outside today's search space: nothing to learn from it
            return
        opt._ot_study.add_trial(trial)


def study_search(study: StudyConfig, book: TrialBook) -> StudySearch | None:
    """The study's Optuna searcher, taught what ``book`` recorded (None for a grid study)."""
    base = build_searcher(study)
    if base is None:
        return None
    searcher = StudySearch(base.points, base.params, base.num_samples, base.metric, base.mode,
                           seed=study.base.seed)
    ids = set(plan_ids(study))
    searcher.learn([rec for tid, rec in book.trials.items() if tid in ids])
    return searcher


# -- what Tune is given -----------------------------------------------------------------------
class PlanSearch(Searcher):
    """Hands Tune one batch: planned trials with their axes as they are, open ones as the
    Optuna searcher suggests them; at most ``max_concurrent`` running at once (0: no limit).

    The config fragment it returns carries the trial's stable id (``trial_id``), which
    :class:`PlanGenerator` makes the Tune trial's id.
    """

    def __init__(self, batch: Sequence[Planned], optuna_search: StudySearch | None,
                 max_concurrent: int = 0) -> None:
        super().__init__()
        self.queue = list(batch)
        self.optuna = optuna_search
        self.max_concurrent = max_concurrent
        self.live: set[str] = set()
        self.fixed: dict[str, Mapping[str, Any]] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if not self.queue:
            return Searcher.FINISHED
        if self.max_concurrent and len(self.live) >= self.max_concurrent:
            return None
        item = self.queue[0]
        axes = item.axes
        if axes is None:
            if self.optuna is None:
                raise RuntimeError(f"trial {item.trial_id} has no axes and no searcher")
            suggested = self.optuna.suggest(item.trial_id)
            if not isinstance(suggested, dict):
                return None
            axes = suggested["axes"]
        else:
            self.fixed[item.trial_id] = axes
        self.queue.pop(0)
        self.live.add(item.trial_id)
        return {"trial_id": item.trial_id, "axes": dict(axes)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        self.live.discard(trial_id)
        if self.optuna is None:
            return
        if trial_id in self.optuna.owner:
            self.optuna.on_trial_complete(trial_id, result, error)
            return
        axes = self.fixed.pop(trial_id, None)
        index = self.optuna.point_index(axes) if axes is not None else None
        if index is not None:  # a trial re-run from the book: Optuna learns from it as well
            status = "FAILED" if error else "FINISHED" if result and "epoch" not in result \
                else "STOPPED"
            self.optuna.tell(index, axes, status, result or {})  # type: ignore[arg-type]

    save = _save_state
    restore = _restore_state


class PlanGenerator(SearchGenerator):
    """Tune's searcher wrapper, with each trial's id set to the planned one before Tune uses
    it (Tune names a trial's folders and actor only when the trial is started)."""

    def create_trial_if_possible(self, experiment_spec: dict) -> Any:
        trial = super().create_trial_if_possible(experiment_spec)
        if trial is not None:
            trial.trial_id = trial.config["trial_id"]
        return trial
