"""Content-addressed pre-training checkpoints.

A pre-trained task (encoder and heads) is keyed by the hash of exactly what determines it: the
seed, the data used for training, the model (with the *content* of its initial weights file,
not its path), the pretext task and the optimisation. A second study that differs only in
evaluation settings (saliency, HoG, ``data.n_eval``, the study's name) finds the checkpoint
and reuses it instead of training again. Writes are atomic (temporary name, then rename), so
concurrent trials with the same key never leave a half-written file.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import lru_cache
from typing import Any

from rotsweep.storage import exists, join, read_bytes
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.storage import load_torch, save_torch

# Part of every key: bump it when a code change makes old checkpoints wrong for new runs.
FORMAT = 2


@lru_cache(maxsize=16)
def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (a path or a URI), cached per path for this process."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


def determining_fields(cfg: TrialConfig) -> dict[str, Any]:
    """The config values (plus the weights file's digest) that determine pre-trained weights.

    Left out: the study's name, ``saliency``, ``hog``, ``data.n_eval`` (evaluation only),
    ``data.home`` (where relative dataset roots are found, not which data), ``train.num_threads``
    and ``train.device`` (where, not what: CPU and CUDA runs of one config share a key).
    """
    data = replace(cfg.data, n_eval=1, label=None)  # the label names rows, not weights
    if getattr(data, "home", None) is not None:
        data = replace(data, home=None)
    model = to_dict(cfg.model)
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
        "pretext": to_dict(cfg.pretext),
        "train": to_dict(replace(cfg.train, num_threads=0, device="auto")),
    }


def pretrain_key(cfg: TrialConfig) -> str:
    """Hash of the fields that determine the pre-trained weights (:func:`determining_fields`)."""
    return config_hash(determining_fields(cfg))


def checkpoint_path(root: str, cfg: TrialConfig) -> str:
    """Where the checkpoint of ``cfg`` lives under the cache ``root``."""
    return join(root, "pretrain", f"{pretrain_key(cfg)}.pt")


def save_pretrained(root: str, cfg: TrialConfig, state: dict[str, Any],
                    history: list[dict[str, Any]]) -> str:
    """Store the pre-trained pretext module (encoder and heads), the config that made it and its
    per-epoch history, atomically; returns the path."""
    path = checkpoint_path(root, cfg)
    save_torch({"format": FORMAT, "key": pretrain_key(cfg), "config": to_dict(cfg),
                "state_dict": state, "history": history}, path)
    return path


def load_pretrained(root: str, cfg: TrialConfig) -> dict[str, Any] | None:
    """The stored checkpoint for ``cfg``, or ``None`` when it was never trained (or was made
    by another checkpoint format)."""
    path = checkpoint_path(root, cfg)
    if not exists(path):
        return None
    blob = load_torch(path)
    if blob.get("format") != FORMAT or blob.get("key") != pretrain_key(cfg):
        return None
    return blob
