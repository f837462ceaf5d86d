"""The study-level keys of a study file: ``name``, ``axes``, ``search``, ``resources``, ...

Everything in a study file that is not the base trial (``study/config/load.py`` reads the file and
builds both).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from trainables.config.names import name_problem


@dataclass(frozen=True)
class SearchParam:
    """A searched hyper-parameter: ``uniform``/``loguniform`` over [low, high], ``randint`` over
    [low, high), or ``choice`` among ``values``."""

    kind: Literal["uniform", "loguniform", "randint", "choice"]
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "choice":
            if not self.values:
                raise ValueError("kind 'choice' needs 'values'")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"kind {self.kind!r} needs low < high")
        if self.kind == "loguniform" and (self.low or 0) <= 0:
            raise ValueError("kind 'loguniform' needs low > 0")
        if self.kind == "randint" and (self.low != int(self.low or 0)
                                       or self.high != int(self.high or 0)):
            raise ValueError("kind 'randint' needs whole numbers for low and high")


Mode = Literal["max", "min"]


@dataclass(frozen=True)
class SearchConfig:
    """How trials are chosen beyond the grid, and which of them stop early.

    Every grid point (one combination of ``axes``) gets ``num_samples`` trials. With
    ``algorithm: optuna`` each grid point has its own Optuna TPE study over ``params`` (a
    dataset's best learning rate says nothing about another's), so the grid is covered exactly
    and the search happens inside each point.

    Attributes:
        algorithm: ``grid`` (axes only) or ``optuna`` (TPE over ``params``, via Tune's
            ``OptunaSearch``).
        metric: the final metric searched on (``dice_mean``, ...; ``rotsweep`` lists them in the
            error for an unknown one), or a list of them for multi-objective search.
        mode: ``max`` or ``min``; a list (one per metric) for multi-objective search.
        num_samples: trials per grid point; more than 1 needs ``optuna`` (repeats of a
            deterministic trial give the same numbers: put seeds on an axis instead).
        params: dotted trial key → :class:`SearchParam`.
        scheduler: ``none`` or ``asha`` (asynchronous successive halving: stops the worse
            trials of each rung early, Li et al. 2018).
        scheduler_metric: the per-epoch metric ASHA compares (``loss`` or
            ``pretext_accuracy``: the final metrics do not exist until a trial ends).
        scheduler_mode: ``min`` or ``max`` for ``scheduler_metric``.
        grace_period: epochs every trial runs before ASHA may stop it.
        reduction_factor: ASHA keeps the best 1/``reduction_factor`` of the trials at each rung.
    """

    algorithm: Literal["grid", "optuna"] = "grid"
    metric: str | tuple[str, ...] = "dice_mean"
    mode: Mode | tuple[Mode, ...] = "max"
    num_samples: int = field(default=1, metadata={"ge": 1})
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    scheduler: Literal["none", "asha"] = "none"
    scheduler_metric: str = "loss"
    scheduler_mode: Mode = "min"
    grace_period: int = field(default=1, metadata={"ge": 1})
    reduction_factor: float = field(default=2.0, metadata={"gt": 1.0})

    def __post_init__(self) -> None:
        if isinstance(self.metric, tuple) and not self.metric:
            raise ValueError("search.metric: expected a metric name or a non-empty list")
        if isinstance(self.mode, tuple) and len(self.mode) != len(self.metrics):
            raise ValueError(f"search.mode: {len(self.mode)} modes for "
                             f"{len(self.metrics)} metrics; give one mode per metric")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The searched metric(s) as a tuple."""
        return self.metric if isinstance(self.metric, tuple) else (self.metric,)

    @property
    def modes(self) -> tuple[Mode, ...]:
        """One mode per metric (a single ``mode`` applies to every metric)."""
        return self.mode if isinstance(self.mode, tuple) else (self.mode,) * len(self.metrics)


@dataclass(frozen=True)
class Resources:
    """Per-trial resources requested from Ray.

    Attributes:
        cpu: CPUs per trial (fractions allowed).
        gpu: GPUs per trial; a fraction below 1 packs several trials on one GPU (0.25: four).
            A trial given a GPU trains on CUDA, one given none on the CPU.
    """

    cpu: float = field(default=1.0, metadata={"gt": 0.0})
    gpu: float = field(default=0.0, metadata={"ge": 0.0})

    def __post_init__(self) -> None:
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise ValueError(f"resources.gpu: {self.gpu}; Ray shares a GPU only in fractions "
                             "below 1, so more than one GPU must be a whole number")


@dataclass(frozen=True)
class Protocol:
    """Where a study's settings come from, for a study that re-runs a paper.

    Attributes:
        source: the paper the study re-runs (e.g. ``Saranchuk & Guerzhoy 2024``).
        deviations: dotted trial key → why this study departs from the paper there. The
            protocol test (``tests/study/test_protocols.py``) compares every transcribed
            protocol value with the study's resolved trials and accepts a difference only
            for a key named here.
    """

    source: str = ""
    deviations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class StudyKeys:
    """The study-level keys of a study file (everything that is not the base trial).

    Attributes:
        name: the study's name: the MLflow experiment, the ``study`` column and partition, and
            the Tune folder, so a safe name (letters, digits, ``.``, ``_``, ``-``, starting
            with a letter or digit; :mod:`trainables.config.names`).
        description: one line for ``rotsweep list studies`` and the report.
        axes: dotted trial key → the values it takes (the grid is their product).
        search, resources, max_failures, max_concurrent: see each class.
        smoke: dotted overrides applied by ``--smoke`` after the generic shrinking.
        protocol: the paper a study re-runs and its named deviations (:class:`Protocol`).
    """

    name: str
    description: str = ""
    axes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    search: SearchConfig = field(default_factory=SearchConfig)
    resources: Resources = field(default_factory=Resources)
    max_failures: int = field(default=1, metadata={"ge": 0})
    max_concurrent: int = field(default=0, metadata={"ge": 0})
    smoke: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    protocol: Protocol = field(default_factory=Protocol)

    def __post_init__(self) -> None:
        problem = name_problem(self.name, "name")
        if problem:
            raise ValueError(problem)
