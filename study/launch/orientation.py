"""The ``orientation`` table of a study: one job per distinct dataset, cached by content.

Like the HoG-SVM curve (study/launch/hog.py), the gradient-orientation histogram depends on the data
only, so it runs once per distinct (data, field of view, number of images) as a Ray task beside
the trials, and a second study on the same data reuses the cached rows. It uses the same
``hog.n_images`` images as the HoG-SVM curve (the same deterministic choice), at the size the
network sees (``data.image_size``), so hypotheses (a) and (b) describe the same sample.
"""

from __future__ import annotations

from typing import Any

import torch

from study.config.load import StudyConfig
from study.launch.hog import content_key, data_settings, write_cached_table
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.data import ImageSet, build_dataset
from trainables.data.base import choose
from trainables.orientation import orientation_rows

N_BINS = 180  # 1° bins: the shift by any whole-degree eval angle is exact
VERSION = 1  # bump when the computation changes, so cached rows are not reused


def orientation_key(cfg: TrialConfig) -> str:
    """Hash of what the histogram depends on: the data settings (no paths: see study/launch/hog.py),
    the images chosen, the crop, the bins."""
    return config_hash({"data": data_settings(cfg), "n_images": cfg.hog.n_images,
                        "crop": cfg.pretext.crop, "n_bins": N_BINS, "version": VERSION})


def orientation_jobs(study: StudyConfig) -> list[dict[str, Any]]:
    """One job (a trial config as a dict) per distinct orientation key among the study's grid."""
    jobs: dict[str, dict[str, Any]] = {}
    for point in study.grid():
        cfg = study.trial(point)
        jobs.setdefault(orientation_key(cfg), to_dict(cfg))
    return list(jobs.values())


def orientation_images(cfg: TrialConfig, dataset: ImageSet | None = None) -> torch.Tensor:
    """``hog.n_images`` images chosen as for the HoG-SVM curve, at ``data.image_size``.

    Returns:
        ``(N, C, S, S)`` in [0, 1].
    """
    dataset = dataset if dataset is not None else build_dataset(cfg.data)
    picked = choose(dataset.ids, cfg.hog.n_images, cfg.data.split_seed)
    return torch.stack([dataset[i]["image"] for i in picked])


def run_orientation_job(job: dict[str, Any], study: str, paths: dict[str, str]) -> int:
    """Compute (or reuse) one dataset's histogram and write it as a part of the study's table.

    Args:
        job: a trial config as a dict (see :func:`orientation_jobs`).
        study: the study's name (the ``study`` column).
        paths: the study's folders (``results_root``, ``cache_root``; study/launch/runner.py
        layout).

    Returns:
        The number of rows written.
    """
    from trainables.spec import parse_trial

    cfg = parse_trial(job)
    dataset = build_dataset(cfg.data)
    key = orientation_key(cfg)
    return write_cached_table(
        "orientation", (key, content_key(key, dataset)),
        lambda: orientation_rows(orientation_images(cfg, dataset), N_BINS, cfg.pretext.crop),
        study, cfg.data.tag, paths)
