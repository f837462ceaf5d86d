"""``probe.*``: what the learned features are measured by after pre-training (issue 8).

A probe trains a small head on a pre-trained encoder's features (or the whole encoder, for
``finetune``) on a labelled *downstream set* and scores it on that set's held-out split. Every
combination of ``probes`` × ``blocks`` × downstream sets × ``fractions`` × (the pre-trained
encoder and each of ``baselines``) is one probe run and one group of ``probe`` table rows.

``blocks`` and ``fractions`` are lists so that one trial (one pre-training) can measure several;
a sweep that wants one trial per value puts them on an axis instead, e.g.
``axes: {probe.fractions: [[0.01], [0.1], [1.0]]}`` (trials that differ only in ``probe.*``
share the content-addressed pre-training checkpoint).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trainables.config.data import DataConfig
from trainables.config.names import name_problem
from trainables.config.parse import ConfigError, build

Baseline = Literal["random", "torchvision"]

# ``n_eval`` of a downstream set when none is given: every item of its evaluation split.
ALL_ITEMS = None  # DataConfig.n_eval None: every item (a number above the split is an error)
# What a downstream entry means when it does not say otherwise: every training item (the
# fractions subsample them) and every held-out item (16, DataConfig's default, is too few).
DOWNSTREAM_DEFAULTS: dict[str, Any] = {"n_train": None, "n_eval": ALL_ITEMS}


@dataclass(frozen=True)
class ProbeConfig:
    """The probe stage of a trial; nothing runs while ``probes`` is empty.

    Attributes:
        probes: registry keys in ``trainables.probes.PROBES`` (``rotsweep list probes``):
            ``linear`` (frozen features → one linear layer; seed 004), ``mlp`` (frozen
            features → seed 003's three fully-connected layers), ``finetune`` (the encoder up
            to the block and a linear head, all trained) and ``segmentation`` (a light
            decoder on a block's frozen feature maps, scored by Dice on held-out masks). The
            first three need labelled sets, ``segmentation`` mask sets; each probe runs on
            every downstream set of its kind.
        blocks: the backbone blocks probed (``conv1``..``convN`` for ``nin``, ``layer1``..
            ``layer4`` for ResNets; the backbone's ``block_names``); empty = every block (seed
            003 probes each conv block).
        downstream: the downstream sets, each a ``data``-like mapping (``name``, ``root``,
            ``image_size`` (default: ``data.image_size``), ``params``, ``split_seed``,
            ``eval_fraction``, ...; see ``DataConfig``) plus an optional ``label`` (the
            ``downstream`` column; default: ``name``). Its train split (at most ``n_train``
            items; default all) trains the probe, its eval split (at most ``n_eval``; default
            all) scores it. A list, so ``--set`` or an axis replaces it as a whole.
        pretrain_data: also probe on the trial's own ``data`` (labelled ``data.name``): its
            train split trains the probe and its eval split, never seen in pre-training,
            scores it (seed 000's mask sets: a segmentation probe per train angle).
        fractions: shares of each downstream training split used, each in (0, 1] (seed 004's
            sensitivity analysis: 1 %, 10 %, 100 %). The subsets are deterministic and nested
            (the 1 % items are among the 10 % ones) and, for labelled sets, stratified by class.
        baselines: also probe, with the same heads and data, ``random`` (the architecture at
            its random initialisation from the trial's seed: for a random-init trial exactly
            the network before pre-training) and ``torchvision`` (supervised ImageNet weights
            from ``weights``). Their rows have ``init`` ``random_baseline`` /
            ``torchvision_baseline``; the pre-trained encoder's rows have ``model.init``.
        weights: the local weights file of the ``torchvision`` baseline; never downloaded.
        epochs: passes over the probe's training subset (linear/MLP heads on cached features
            are cheap; seed 003 trains its classifiers for 100 epochs).
        batch_size: items per probe step.
        optimizer: ``adam`` or ``sgd`` (momentum ``momentum``; seed 003: SGD, 0.1, 0.9).
        lr: the probe's learning rate (``finetune``: of the whole network).
        momentum: SGD momentum.
        weight_decay: L2 penalty (seed 003: 5e-4).
        schedule: ``cosine`` (to 0 over ``epochs``) or ``none``.
        pool: side of the adaptive average-pooling grid a block's maps are reduced to before
            ``linear``, ``mlp`` and ``finetune`` heads (features = channels × pool²): 1 is
            global average pooling; seed 003 flattens NIN's whole 8×8 conv2 map (``pool: 8``
            at 32 px). Seed 004 also pools adaptively, so any input size fits one head.
        hidden: width of the two hidden layers of the ``mlp`` head (seed 003's classifier:
            200 for CIFAR-10's 10 classes, i.e. min(20 × classes, 2048)).
        decoder_channels: hidden channels of the ``segmentation`` decoder.
    """

    probes: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    downstream: tuple[Any, ...] = ()
    pretrain_data: bool = False
    fractions: tuple[float, ...] = field(default=(1.0,), metadata={"gt": 0.0, "le": 1.0})
    baselines: tuple[Baseline, ...] = ()
    weights: str | None = None
    epochs: int = field(default=10, metadata={"ge": 1})
    batch_size: int = field(default=64, metadata={"ge": 1})
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = field(default=1e-3, metadata={"gt": 0.0})
    momentum: float = field(default=0.9, metadata={"ge": 0.0, "lt": 1.0})
    weight_decay: float = field(default=0.0, metadata={"ge": 0.0})
    schedule: Literal["none", "cosine"] = "cosine"
    pool: int = field(default=1, metadata={"ge": 1, "le": 32})
    hidden: int = field(default=200, metadata={"ge": 1})
    decoder_channels: int = field(default=64, metadata={"ge": 1})

    def __post_init__(self) -> None:
        for name in ("probes", "blocks", "fractions", "baselines"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"probe.{name}: repeated value in {list(values)}")
        if self.probes and not (self.downstream or self.pretrain_data):
            raise ValueError("probe.downstream: the probes need at least one downstream set "
                             "(or probe.pretrain_data: true)")
        if "torchvision" in self.baselines and not self.weights:
            raise ValueError("probe.weights: baseline 'torchvision' needs a weights file path")
        problems: list[str] = []
        labels = []
        for i, entry in enumerate(self.downstream):
            try:
                labels.append(downstream_data(i, entry)[0])
            except ConfigError as err:
                problems += err.problems
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            problems.append(f"probe.downstream: repeated labels {repeated}; give each set its "
                            "own 'label'")
        if problems:
            raise ValueError("\n".join(problems))


def downstream_data(index: int, entry: Any, image_size: int | None = None
                    ) -> tuple[str, DataConfig]:
    """The label and :class:`DataConfig` of downstream set ``index`` (see
    :attr:`ProbeConfig.downstream`).

    Args:
        index: the set's position in ``probe.downstream`` (for messages).
        entry: the set's mapping: ``data`` keys and an optional ``label``.
        image_size: the trial's ``data.image_size``, the default size (the one the encoder
            was pre-trained at); ``None`` leaves ``DataConfig``'s default (for validation).

    Raises:
        ConfigError: a problem in the entry, with its path ``probe.downstream[<index>]``.
    """
    path = f"probe.downstream[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError([f"{path}: expected a mapping of data keys, got "
                           f"{type(entry).__name__} {entry!r}"])
    fields = {k: v for k, v in entry.items() if k != "label"}
    if "name" not in fields:
        raise ConfigError([f"{path}.name: required key is missing (a dataset registry name)"])
    label = entry.get("label", fields["name"])
    problem = name_problem(label, f"{path}.label")
    if problem:
        raise ConfigError([problem])
    raw = {**DOWNSTREAM_DEFAULTS, **fields}
    if image_size is not None and "image_size" not in fields:
        raw["image_size"] = image_size
    return label, build(DataConfig, raw, path)
