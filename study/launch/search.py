"""The study's search on Ray Tune: grid axes, Optuna inside each grid point, ASHA, concurrency.

Tune's ``grid_search`` does not combine with a searcher (``OptunaSearch`` refuses grid
parameters), and turning the axes into categorical Optuna parameters would let TPE skip grid
points: a dataset × backbone grid must be covered exactly. So:

* ``algorithm: grid`` — the axes become ``tune.grid_search`` values under ``axes`` and Tune's
  basic variant generator makes one trial per grid point.
* ``algorithm: optuna`` — :class:`GridOptunaSearch` owns one ``OptunaSearch`` (TPE, its own seed)
  per grid point and deals trials out round-robin, ``num_samples`` per point; a suggestion is the
  grid point's values plus the searched ones, all under ``axes``. Each grid point is optimised
  on its own results only (the best learning rate of one dataset says nothing about another's).

ASHA early-stops on a *per-epoch* metric (``search.scheduler_metric``) with ``epoch`` as its time
axis, never at a trial's last epoch (that would only skip its evaluation). A stopped trial
reports no final metric, which Optuna records as pruned.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import Searcher

from study.config.load import SearchParam, StudyConfig, max_epochs

if TYPE_CHECKING:  # optuna is imported where a study searches (0.3 s a grid never needs)
    import optuna

_PRIMITIVE = (type(None), bool, int, float, str)


def search_space(study: StudyConfig) -> dict[str, Any]:
    """Tune's ``axes`` sub-space for ``algorithm: grid``: each axis as a ``tune.grid_search``."""
    return {key: tune.grid_search(list(values)) for key, values in study.keys.axes.items()}


def optuna_distribution(p: SearchParam) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a searched parameter. A ``choice`` among values that are not
    plain scalars (e.g. angle lists) is a choice among their positions, see :func:`decode`."""
    import optuna

    if p.kind == "uniform":
        return optuna.distributions.FloatDistribution(float(p.low), float(p.high))  # type: ignore[arg-type]
    if p.kind == "loguniform":
        return optuna.distributions.FloatDistribution(float(p.low), float(p.high), log=True)  # type: ignore[arg-type]
    if p.kind == "randint":  # [low, high) like tune.randint
        return optuna.distributions.IntDistribution(int(p.low), int(p.high) - 1)  # type: ignore[arg-type]
    if all(isinstance(v, _PRIMITIVE) for v in p.values):
        return optuna.distributions.CategoricalDistribution(list(p.values))
    return optuna.distributions.CategoricalDistribution(list(range(len(p.values))))


def decode(params: Mapping[str, SearchParam], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's sampled values → trial values (positions of non-scalar choices → the values)."""
    out = {}
    for key, value in sampled.items():
        p = params[key]
        structured = p.kind == "choice" and not all(isinstance(v, _PRIMITIVE) for v in p.values)
        out[key] = p.values[value] if structured else value
    return out


def _save_state(self: Searcher, checkpoint_path: str) -> None:
    """A searcher's whole state into Tune's searcher checkpoint (pickle, as Tune's own
    experiment state: the storage is trusted, see docs/operations.md)."""
    with open(checkpoint_path, "wb") as f:
        pickle.dump(self.__dict__.copy(), f)


def _restore_state(self: Searcher, checkpoint_path: str) -> None:
    """The inverse of :func:`_save_state`."""
    with open(checkpoint_path, "rb") as f:
        self.__dict__.update(pickle.load(f))


class GridOptunaSearch(Searcher):
    """One Optuna TPE study per grid point, ``num_samples`` trials each, dealt round-robin.

    Args:
        points: the grid points, ``{dotted key: value}`` each (``[{}]`` without axes).
        params: the searched parameters by dotted key.
        num_samples: trials per grid point.
        metric: the final metric(s) to optimise (a list for multi-objective search).
        mode: ``max``/``min`` (a list, one per metric, for multi-objective search).
        seed: the first grid point's sampler seed; point ``i`` uses ``seed + i``.
    """

    def __init__(self, points: Sequence[Mapping[str, Any]], params: Mapping[str, SearchParam],
                 num_samples: int, metric: str | list[str], mode: str | list[str],
                 seed: int = 0) -> None:
        super().__init__(metric=metric, mode=mode)
        self.points = [dict(p) for p in points]
        self.params = dict(params)
        self.num_samples = num_samples
        from ray.tune.search.optuna import OptunaSearch

        space = {key: optuna_distribution(p) for key, p in self.params.items()}
        self.searchers = [OptunaSearch(space=space, metric=metric, mode=mode, seed=seed + i)
                          for i in range(len(self.points))]
        self.issued = 0
        self.owner: dict[str, int] = {}

    @property
    def total(self) -> int:
        return len(self.points) * self.num_samples

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict,
                              **spec: Any) -> bool:
        return True  # metric, mode and space were given to the constructor

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.issued >= self.total:
            return Searcher.FINISHED
        index = self.issued % len(self.points)
        sampled = self.searchers[index].suggest(trial_id)
        if sampled is None:
            return None
        self.issued += 1
        self.owner[trial_id] = index
        return {"axes": {**self.points[index], **decode(self.params, sampled)}}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        # Early stopping is ASHA's; OptunaSearch would also fail on per-epoch results, which
        # lack the final metric it reports to Optuna's (disabled) pruner.
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        index = self.owner.pop(trial_id, None)
        if index is not None:
            self.searchers[index].on_trial_complete(trial_id, result, error)

    save = _save_state
    restore = _restore_state


def build_searcher(study: StudyConfig) -> GridOptunaSearch | None:
    """The searcher of ``algorithm: optuna`` (``None`` for a plain grid)."""
    s = study.keys.search
    if s.algorithm != "optuna":
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created" per point
    metric: str | list[str] = list(s.metrics) if len(s.metrics) > 1 else s.metrics[0]
    mode: str | list[str] = list(s.modes) if len(s.metrics) > 1 else s.modes[0]
    return GridOptunaSearch(study.grid(), study.params, s.num_samples, metric, mode,
                            seed=study.base.seed)


def build_scheduler(study: StudyConfig) -> ASHAScheduler | None:
    """ASHA on the per-epoch ``scheduler_metric`` by ``epoch`` (``None`` without a scheduler).

    ASHA's rungs are at ``grace_period × reduction_factor^k ≤ max_t``; ``max_t`` is one epoch
    short of the longest trial so that no rung sits at a trial's last epoch, where stopping it
    would only skip its evaluation (its training is done), and ``stop_last_trials`` is off so
    that reaching ``max_t`` does not stop a trial either.
    """
    s = study.keys.search
    if s.scheduler != "asha":
        return None
    return ASHAScheduler(
        time_attr="epoch", metric=s.scheduler_metric, mode=s.scheduler_mode,
        max_t=max_epochs(study.keys, study.base, study.params) - 1, grace_period=s.grace_period,
        reduction_factor=s.reduction_factor, stop_last_trials=False)


def build_tune_config(study: StudyConfig) -> tune.TuneConfig:
    """Search algorithm, scheduler, trial count and concurrency limit of ``study``.

    The searcher and the scheduler carry their own metric and mode (they differ: a final metric
    for the search, a per-epoch one for early stopping), so the TuneConfig names none.
    """
    searcher = build_searcher(study)
    return tune.TuneConfig(
        num_samples=searcher.total if searcher else 1,
        search_alg=searcher,
        scheduler=build_scheduler(study),
        max_concurrent_trials=study.keys.max_concurrent or None,
        # a trial's process is reused by the next one with the same resources: starting a
        # process that imports torch costs seconds, more than a small trial (see
        # trainables/tune.py for the per-trial state that is reset)
        reuse_actors=True,
    )


def param_space_axes(study: StudyConfig) -> dict[str, Any]:
    """The ``axes`` entry of the param space: grid values for Tune, or none for the searcher
    (which suggests the whole ``axes`` mapping itself)."""
    return {} if study.keys.search.algorithm == "optuna" else search_space(study)
