"""The HoG-SVM table of a study: one job per distinct (dataset, angles, HoG settings), cached.

It depends on the data only, so it runs once per dataset as a Ray task beside the trials, and
its rows are content-addressed in the cache: a second study on the same data reuses them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from rotsweep.storage import exists, join, read_bytes, write_bytes
from rotsweep.tables import write_part
from study.config import StudyConfig
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.data import build_dataset
from trainables.data.base import choose
from trainables.hog_svm import hog_svm_curve


def hog_key(cfg: TrialConfig) -> str:
    """Hash of what the HoG curve depends on: the data, the angles, the HoG settings, the crop
    (not ``hog.n_jobs``, which changes the speed only: the curve is the same)."""
    data = replace(cfg.data, n_train=None, n_eval=1, label=None)
    hog = replace(cfg.hog, n_jobs=1)
    return config_hash({"data": to_dict(data), "hog": to_dict(hog),
                        "angles": list(cfg.saliency.eval_angles), "crop": cfg.pretext.crop})


def hog_jobs(study: StudyConfig) -> list[dict[str, Any]]:
    """One job (a trial config as a dict) per distinct HoG key among the study's grid."""
    jobs: dict[str, dict[str, Any]] = {}
    for point in study.grid():
        cfg = study.trial(point)
        if cfg.hog.enabled:
            jobs.setdefault(hog_key(cfg), to_dict(cfg))
    return list(jobs.values())


def hog_images(cfg: TrialConfig) -> torch.Tensor:
    """``hog.n_images`` images chosen deterministically, resized to ``hog.image_size``."""
    dataset = build_dataset(cfg.data)
    picked = choose(dataset.ids, cfg.hog.n_images, cfg.data.split_seed)
    images = torch.stack([dataset[i]["image"] for i in picked])
    if images.shape[-1] != cfg.hog.image_size:
        images = F.interpolate(images, size=(cfg.hog.image_size,) * 2, mode="bilinear",
                               antialias=True, align_corners=False)
    return images


def write_cached_table(table: str, key: str, compute: Callable[[], list[dict[str, Any]]],
                       study: str, dataset: str, paths: dict[str, str]) -> int:
    """A data-only table's part: read from the content-addressed cache
    (``<cache_root>/<table>/<key>.parquet``) or computed and cached, then written under the
    study's results with its study and dataset; returns the number of rows."""
    cached = join(paths["cache_root"], table, f"{key}.parquet")
    if exists(cached):
        frame = pq.read_table(io.BytesIO(read_bytes(cached))).to_pandas()
    else:
        frame = pd.DataFrame(compute())
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        write_bytes(cached, buf.getvalue())
    write_part(paths["results_root"], table, frame.assign(study=study, dataset=dataset), key=key)
    return len(frame)


def run_hog_job(job: dict[str, Any], study: str, paths: dict[str, str]) -> int:
    """Compute (or reuse) one HoG-SVM curve and write it as a part of the study's table."""
    from trainables.config import parse_trial

    cfg = parse_trial(job)
    return write_cached_table(
        "hog_svm", hog_key(cfg),
        lambda: hog_svm_curve(hog_images(cfg), list(cfg.saliency.eval_angles), cfg.hog,
                              cfg.pretext.crop),
        study, cfg.data.tag, paths)
