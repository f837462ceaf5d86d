"""The probe stage of a trial: every (encoder, downstream set, block, probe, fraction) → a trained
probe → ``probe`` table rows, per-epoch metrics for ``report`` and a content-addressed cache.

Encoders: the trial's pre-trained one (rows with ``network = "pretrained"`` and
``init = model.init``, as in the ``saliency`` table) and the ``probe.baselines``
(``network = "untrained"``, ``init = "random_baseline"``; ``network = "torchvision"``,
``init = "torchvision_baseline"``: rotsweep/vocabulary.py). A probe's
result is cached under the hash of everything that determines it (the encoder's identity, the
downstream set, block, probe, fraction and ``probe.*`` hyper-parameters, the seed), so trials
that share a baseline (every angle set of a study, at one seed) train it once, and a resumed
trial does not train its probes again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from rotsweep.storage import exists, join, read_bytes, write_bytes
from rotsweep.vocabulary import network_of
from trainables.checkpoints import file_digest, pretrain_key
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.models import Backbone, build_backbone
from trainables.probes import PROBES, HeadInput
from trainables.probes.downstream import (
    DownstreamSet,
    downstream_configs,
    fraction_subset,
    load_downstream,
)
from trainables.probes.features import extract, load_items, standardize
from trainables.probes.fit import OBJECTIVES, FitResult, ProbeEpoch, fit

FORMAT = 1  # part of every cache key: bump when a code change makes cached results wrong
#: The step key of the per-epoch probe results (they carry no ``epoch``: that axis is
#: pre-training's, which schedulers read) and the prefix of every probe metric name.
PROBE_EPOCH = "probe_epoch"
METRIC_PREFIX = "probe/"
Report = Callable[[dict[str, Any]], None]


@dataclass
class EncoderSource:
    """An encoder to probe: its ``init`` label, what identifies its weights, how to get it."""

    init: str
    identity: dict[str, Any]
    get: Callable[[], Backbone]
    _built: Backbone | None = field(default=None, init=False, repr=False)

    def encoder(self) -> Backbone:
        if self._built is None:
            self._built = self.get()
        return self._built


def encoder_sources(cfg: TrialConfig, pretrained: Backbone, device: torch.device
                    ) -> list[EncoderSource]:
    """The pre-trained encoder, then each baseline (built only when a probe needs it).

    The random baseline is rebuilt from the trial's seed exactly as pre-training built its
    starting point (``torch.manual_seed(seed)`` then the backbone), so for a random-init trial
    it *is* the network before pre-training: a paired comparison.
    """
    size = cfg.data.image_size

    def built(model: Any, seed: int | None) -> Callable[[], Backbone]:
        def get() -> Backbone:
            if seed is not None:
                torch.manual_seed(seed)
            return build_backbone(model, image_size=size).to(device).eval()
        return get

    sources = [EncoderSource(cfg.model.init, {"pretrain": pretrain_key(cfg)}, lambda: pretrained)]
    if "random" in cfg.probe.baselines:
        model = replace(cfg.model, init="random", weights=None)
        sources.append(EncoderSource("random_baseline", {
            "model": to_dict(model), "seed": cfg.seed, "image_size": size},
            built(model, cfg.seed)))
    if "torchvision" in cfg.probe.baselines:
        model = replace(cfg.model, init="torchvision", weights=cfg.probe.weights)
        assert cfg.probe.weights is not None  # ProbeConfig checks it
        sources.append(EncoderSource("torchvision_baseline", {
            "model": {**to_dict(model), "weights": file_digest(cfg.probe.weights)},
            "image_size": size}, built(model, None)))
    return sources


@dataclass
class SplitCache:
    """Lazily extracted inputs of one (encoder, downstream set): pooled features, maps or
    images of the train and eval splits, with their targets."""

    source: EncoderSource
    data: DownstreamSet
    blocks: tuple[str, ...]
    cfg: TrialConfig
    device: torch.device
    _memo: dict[tuple[str, str], tuple[Any, torch.Tensor]] = field(
        default_factory=dict, init=False, repr=False)

    def get(self, inputs: str, split: str) -> tuple[Any, torch.Tensor]:
        """``(block → features or an images tensor, targets)`` of ``split``."""
        if (inputs, split) not in self._memo:
            subset = self.data.train if split == "train" else self.data.eval
            pc, cuda = self.cfg.probe, self.device.type == "cuda"
            if inputs == "images":
                self._memo[inputs, split] = load_items(subset, self.data.task, pc.batch_size)
            else:
                out = extract(self.source.encoder(), subset, self.data.task, self.blocks,
                              spatial=inputs == "spatial", pool=pc.pool,
                              batch_size=pc.batch_size, device=self.device,
                              amp=cuda and self.cfg.train.amp,
                              channels_last=cuda and self.cfg.train.channels_last)
                self._memo[inputs, split] = (out.features, out.targets)
        return self._memo[inputs, split]


@dataclass(frozen=True)
class ProbeJob:
    """One probe run: which encoder, set, block, probe and training fraction."""

    init: str
    downstream: str
    probe: str
    block: str
    fraction: float

    @property
    def name(self) -> str:
        """The run's metric prefix: ``probe/<downstream>/<probe>/<block>/<init>/<fraction>``."""
        return (f"{METRIC_PREFIX}{self.downstream}/{self.probe}/{self.block}/{self.init}/"
                f"{self.fraction:g}")


def job_key(job: ProbeJob, source: EncoderSource, data: DownstreamSet, cfg: TrialConfig
            ) -> str:
    """The content hash of everything that determines a probe's result."""
    hyper = replace(cfg.probe, probes=(), blocks=(), fractions=(1.0,), baselines=(),
                    downstream=(), pretrain_data=False, weights=None)
    return config_hash({"format": FORMAT, "encoder": source.identity, "data": to_dict(data.data),
                        "probe": job.probe, "block": job.block, "fraction": job.fraction,
                        "hyper": to_dict(hyper), "seed": cfg.seed})


def run_job(job: ProbeJob, cache: SplitCache, cfg: TrialConfig, device: torch.device,
            seed: int) -> tuple[FitResult, int]:
    """Train and score one probe; returns its result and the number of training items."""
    probe = PROBES[job.probe]
    x_train, y_train = cache.get(probe.inputs, "train")
    x_eval, y_eval = cache.get(probe.inputs, "eval")
    labels = y_train if cache.data.task == "classification" else None
    idx = torch.tensor(fraction_subset(cache.data.train.ids, labels, job.fraction,
                                       cache.data.data.split_seed))
    if probe.inputs == "images":
        train, held_out = (x_train[idx], y_train[idx]), (x_eval, y_eval)
    else:
        # standardised with the training subset's statistics only
        tr, ev = standardize(x_train[job.block][idx], x_eval[job.block])
        train, held_out = (tr, y_train[idx]), (ev, y_eval)
    n_out = (int(max(y_train.max(), y_eval.max())) + 1 if cache.data.task == "classification"
             else 1)
    torch.manual_seed(seed)  # the head's initial weights
    head = HeadInput(dim=train[0].shape[1], n_out=n_out, image_size=cache.data.data.image_size,
                     block=job.block,
                     encoder=cache.source.encoder() if probe.inputs == "images" else None)
    model = probe.build(head, cfg.probe).to(device)
    cuda = device.type == "cuda"
    if cuda and cfg.train.channels_last:  # only 4-d weights change (finetune, the decoder)
        model = model.to(memory_format=torch.channels_last)
    result = fit(model, train, held_out, OBJECTIVES[probe.task](), cfg.probe, device,
                 torch.Generator().manual_seed(seed), amp=cuda and cfg.train.amp,
                 channels_last=cuda and cfg.train.channels_last)
    return result, len(idx)


def _cached(path: str) -> tuple[FitResult, int] | None:
    if not exists(path):
        return None
    blob = json.loads(read_bytes(path))
    if blob.get("format") != FORMAT:
        return None
    history = [ProbeEpoch(**h) for h in blob["history"]]
    return FitResult(history, blob["final"]), int(blob["n_train"])


def _store(path: str, result: FitResult, n_train: int) -> None:
    blob = {"format": FORMAT, "history": [h.as_dict() for h in result.history],
            "final": result.final, "n_train": n_train}
    write_bytes(path, json.dumps(blob, sort_keys=True).encode())


def cached_run(job: ProbeJob, cache: SplitCache, cfg: TrialConfig, device: torch.device,
               cache_root: str) -> tuple[FitResult, int]:
    """:func:`run_job`, or its stored result when the same probe was run before. The job's
    seed (head initialisation, shuffling) comes from its key, so a probe gives the same numbers
    whichever trial runs it and whatever else that trial probes."""
    key = job_key(job, cache.source, cache.data, cfg)
    path = join(cache_root, "probe", f"{key}.json")
    hit = _cached(path)
    if hit is not None:
        return hit
    result, n_train = run_job(job, cache, cfg, device, seed=int(key[:8], 16))
    _store(path, result, n_train)
    return result, n_train


def pair_probes(sets: list[DownstreamSet], probes: tuple[str, ...]
                ) -> list[tuple[DownstreamSet, list[str]]]:
    """Each downstream set with the probes of its task (classification or segmentation).

    Raises:
        ValueError: a set has no probe of its task, or a probe no set of its task.
    """
    paired = [(data, [p for p in probes if PROBES[p].task == data.task]) for data in sets]
    for data, mine in paired:
        if not mine:
            fitting = sorted(p for p, spec in PROBES.items() if spec.task == data.task)
            raise ValueError(f"probe.downstream {data.label!r}: a {data.task} set, but none of "
                             f"probe.probes {list(probes)} is one of its probes {fitting}")
    for name in probes:
        if not any(name in mine for _, mine in paired):
            raise ValueError(f"probe.probes: {name!r} needs a {PROBES[name].task} downstream "
                             f"set; the sets are {[(d.label, d.task) for d in sets]}")
    return paired


def table_rows(job: ProbeJob, result: FitResult, n_train: int, meta: dict[str, Any]
               ) -> list[dict[str, Any]]:
    """The ``probe`` table rows of one run: one per final metric (long format)."""
    from rotsweep.schema import columns

    keep = set(columns("probe"))
    common = {k: v for k, v in meta.items() if k in keep}
    return [{**common, "init": job.init, "network": network_of(job.init),
             "downstream": job.downstream, "probe": job.probe,
             "block": job.block, "n_train": n_train, "metric": metric, "value": float(value)}
            for metric, value in sorted(result.final.items())]


def report_curves(curves: dict[ProbeJob, list[ProbeEpoch]], report: Report) -> None:
    """One ``report`` per probe epoch holding every run's metrics at that epoch
    (``probe/<downstream>/<probe>/<block>/<init>/<fraction>/{train,eval}_{loss,<score>}``) and
    ``probe_epoch``, so MLflow gets a curve per run at step = probe epoch while Tune gets only
    ``probe.epochs`` results however many probes run."""
    epochs = max((len(h) for h in curves.values()), default=0)
    for epoch in range(1, epochs + 1):
        metrics: dict[str, Any] = {PROBE_EPOCH: epoch}
        for job, history in curves.items():
            if epoch > len(history):
                continue
            rec, score = history[epoch - 1], OBJECTIVES[PROBES[job.probe].task]().score
            metrics.update({f"{job.name}/train_loss": rec.train_loss,
                            f"{job.name}/train_{score}": rec.train_score,
                            f"{job.name}/eval_loss": rec.eval_loss,
                            f"{job.name}/eval_{score}": rec.eval_score})
        report(metrics)


def probe_stage(cfg: TrialConfig, encoder: Backbone, meta: dict[str, Any],
                device: torch.device, report: Report, cache_root: str) -> list[dict[str, Any]]:
    """Run every probe of ``cfg.probe`` on the pre-trained ``encoder`` and the baselines.

    Args:
        cfg: the trial config (``probe.*``; ``data`` for ``pretrain_data`` and the default
            image size; ``model`` for the baselines; ``train.amp`` / ``channels_last``).
        encoder: the pre-trained backbone (left unchanged: ``finetune`` trains a copy).
        meta: the trial's table columns (``study``, ``dataset``, ``trial_id``, ...).
        device: where probes run.
        report: receives the per-epoch metrics (see :func:`report_curves`).
        cache_root: the content-addressed cache (results go under ``probe/``).

    Returns:
        The ``probe`` table rows (empty when ``probe.probes`` is).

    Raises:
        KeyError: a ``probe.blocks`` name is not a block of the backbone.
        ValueError: a downstream set is empty or has no probe of its task (or vice versa).
    """
    pc = cfg.probe
    if not pc.probes:
        return []
    blocks = pc.blocks or tuple(encoder.block_names)
    for block in blocks:
        if block not in encoder.block_names:
            raise KeyError(f"probe.blocks: unknown block {block!r} of backbone "
                           f"{cfg.model.backbone!r}; expected one of {list(encoder.block_names)}")
    sets = pair_probes([load_downstream(label, data) for label, data in downstream_configs(cfg)],
                       pc.probes)
    rows: list[dict[str, Any]] = []
    curves: dict[ProbeJob, list[ProbeEpoch]] = {}
    for source in encoder_sources(cfg, encoder, device):
        for data, probes in sets:
            cache = SplitCache(source, data, blocks, cfg, device)
            for block in blocks:
                for probe in probes:
                    for fraction in pc.fractions:
                        job = ProbeJob(source.init, data.label, probe, block, fraction)
                        result, n_train = cached_run(job, cache, cfg, device, cache_root)
                        rows += table_rows(job, result, n_train, meta)
                        curves[job] = result.history
    report_curves(curves, report)
    return rows
