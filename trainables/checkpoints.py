"""Content-addressed pre-training checkpoints.

A pre-trained task (encoder and heads) is keyed by the hash of exactly what determines it: the
seed, the data used for training, the model (with the *content* of its initial weights file,
not its path), the pretext task and the optimisation. A second study that differs only in
evaluation settings (saliency, HoG, ``data.n_eval``, the study's name) finds the checkpoint
and reuses it instead of training again. Writes are atomic (temporary name, then rename), so
concurrent trials with the same key never leave a half-written file.

What is kept is ``train.checkpoint_cache`` (not part of the key: every policy's file serves
every other): ``evaluation`` (the default) keeps what evaluation and probes load — the encoder
and the task's heads, without training-only state such as MoCo's key encoder and queue;
``keep`` keeps the task's whole state; ``none`` neither writes nor reads the cache.
:func:`cache_bytes` gives its disk cost for the end-of-launch summary. The default's reason: a
trial that differs from another only in evaluation settings loads the float32 encoder and heads
(ResNet-18 MoCo: 46.1 MB, ResNet-50: 112.2 MB) instead of pre-training again. ``--smoke``
studies use ``none`` (study/config/load.py ``SMOKE``): one-epoch weights are not worth the disk
(docs/tables.md, "The checkpoint cache").
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import lru_cache
from typing import Any

from rotsweep.storage import exists, join, read_bytes, tree_bytes
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.spec import resolved_dict
from trainables.storage import load_torch, save_torch

# Part of every key: bump it when a code change makes old checkpoints wrong for new runs.
# 3: the pretext task's own settings under ``pretext.params`` (issue 12).
FORMAT = 3


@lru_cache(maxsize=16)
def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (a path or a URI), cached per path for this process."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def determining_fields(cfg: TrialConfig) -> dict[str, Any]:
    """The config values (plus the weights file's digest) that determine pre-trained weights.

    ``model.params`` and ``pretext.params`` enter as their built params (the task's own
    settings with every default filled in, angles normalised), so ``params: {}`` and the same
    defaults written out, or ``angles: [-90]`` and ``[270]``, share one checkpoint.

    Left out: the study's name, ``saliency``, ``hog``, ``data.n_eval`` (evaluation only),
    ``data.home`` (where relative dataset roots are found, not which data), ``train.num_threads``
    and ``train.device`` (where, not what: CPU and CUDA runs of one config share a key).
    """
    data = replace(cfg.data, n_eval=1, label=None)  # the label names rows, not weights
    if getattr(data, "home", None) is not None:
        data = replace(data, home=None)
    resolved = resolved_dict(cfg)
    model = resolved["model"]
    if cfg.model.init == "random":
        model["weights"] = None
    else:
        assert cfg.model.weights is not None
        model["weights"] = {"sha256": file_digest(cfg.model.weights)}
    return {
        "format": FORMAT,
        "seed": cfg.seed,
        "data": to_dict(data),
        "model": model,
        "pretext": resolved["pretext"],
        "train": to_dict(replace(cfg.train, num_threads=0, device="auto",
                                 checkpoint_cache="evaluation")),
    }


def pretrain_key(cfg: TrialConfig) -> str:
    """Hash of the fields that determine the pre-trained weights (:func:`determining_fields`)."""
    return config_hash(determining_fields(cfg))


def checkpoint_path(root: str, cfg: TrialConfig) -> str:
    """Where the checkpoint of ``cfg`` lives under the cache ``root``."""
    return join(root, "pretrain", f"{pretrain_key(cfg)}.pt")


def save_pretrained(root: str, cfg: TrialConfig, state: Any,
                    history: list[dict[str, Any]]) -> str | None:
    """Store the pre-trained task as ``cfg.train.checkpoint_cache`` says, with the config that
    made it and its per-epoch history, atomically.

    Args:
        root: the cache folder or URI.
        cfg: the trial config (its key and its policy).
        state: the trained task (a :class:`~trainables.pretext.Pretext`: the policy picks its
            :meth:`evaluation_state` or its whole ``state_dict``), or a state dict kept as is.
        history: per-epoch metrics, replayed when the checkpoint is reused.

    Returns:
        The path written, or ``None`` with the ``none`` policy.
    """
    policy = cfg.train.checkpoint_cache
    if policy == "none":
        return None
    if hasattr(state, "evaluation_state"):
        state = state.state_dict() if policy == "keep" else state.evaluation_state()
    path = checkpoint_path(root, cfg)
    save_torch({"format": FORMAT, "key": pretrain_key(cfg), "config": to_dict(cfg),
                "contents": policy, "state_dict": state, "history": history}, path)
    return path


def cache_bytes(root: str) -> int:
    """Bytes the pre-training checkpoints under the cache ``root`` take (0 when none)."""
    return tree_bytes(join(root, "pretrain"))


def load_pretrained(root: str, cfg: TrialConfig) -> dict[str, Any] | None:
    """The stored checkpoint for ``cfg``, or ``None`` when it was never trained (or was made
    by another checkpoint format, or the policy is ``none``).

    Raises:
        ValueError: the file is not a torch file of tensors and plain data (read with
            ``weights_only=True``, so a file that names code is refused, never run).
    """
    path = checkpoint_path(root, cfg)
    if cfg.train.checkpoint_cache == "none" or not exists(path):
        return None
    try:
        blob = load_torch(path)
    except Exception as err:  # UnpicklingError for a refused global, RuntimeError, EOFError
        from trainables.models.init import load_refusal

        raise ValueError(f"cached checkpoint {path}: refused by torch.load(weights_only=True) "
                         f"({load_refusal(err)}); expected tensors and plain data as rotsweep "
                         "writes them; delete the file to train again") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or (
            blob.get("key") != pretrain_key(cfg)):
        return None
    return blob
