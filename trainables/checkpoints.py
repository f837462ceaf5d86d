"""Content-addressed pre-training checkpoints.

A pre-trained encoder is keyed by the hash of exactly the config fields that determine it
(seed, data used for training, model, pretext, optimisation), so a second study that differs
only in evaluation settings (saliency, HoG, n_eval) reuses it instead of training again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trainables.config import TrialConfig, config_hash, to_dict
from trainables.storage import exists, join, load_torch, save_torch

FORMAT = 1


def pretrain_key(cfg: TrialConfig) -> str:
    """Hash of the fields that determine the pre-trained weights."""
    determining = {
        "seed": cfg.seed,
        # n_eval and skip_bad do not change which items train the model... skip_bad could, but
        # only on broken data, where the count of skipped items is reported anyway.
        "data": to_dict(replace(cfg.data, n_eval=1)),
        "model": to_dict(cfg.model),
        "pretext": to_dict(cfg.pretext),
        "train": to_dict(replace(cfg.train, num_threads=0)),
    }
    return config_hash(determining)


def checkpoint_path(root: str, cfg: TrialConfig) -> str:
    return join(root, "pretrain", f"{pretrain_key(cfg)}.pt")


def save_pretrained(root: str, cfg: TrialConfig, state: dict[str, Any],
                    history: list[dict[str, Any]]) -> str:
    """Store the pre-trained pretext module (encoder and heads), the config that made it and its
    per-epoch history; returns the path."""
    path = checkpoint_path(root, cfg)
    save_torch({"format": FORMAT, "key": pretrain_key(cfg), "config": to_dict(cfg),
                "state_dict": state, "history": history}, path)
    return path


def load_pretrained(root: str, cfg: TrialConfig) -> dict[str, Any] | None:
    """The stored checkpoint for ``cfg``, or ``None`` when it was never trained."""
    path = checkpoint_path(root, cfg)
    if not exists(path):
        return None
    blob = load_torch(path)
    if blob.get("format") != FORMAT or blob.get("key") != pretrain_key(cfg):
        return None
    return blob
