"""The HoG-SVM table of a study: one job per distinct (dataset, angles, HoG settings), cached.

It depends on the data only, so it runs once per dataset as a Ray task beside the trials, and
its rows are content-addressed in the cache: a second study on the same data reuses them.

Two keys, neither of which holds a path of this machine (``data.home``, ``data.root``: where
the files are found, not what they are), so a study run or resumed from another folder finds
its rows and writes them over the same part:

* the *job key* (:func:`hog_key`): the settings; names the job's part of the study's table, so
  writing it again replaces it (a resumed launch never doubles the rows);
* the *content key* (:func:`content_key`): the job key and a fingerprint of the data as read
  (every image id, and the first image's pixels); names the cached rows.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F

from rotsweep.schema import RENAMED_IN_3
from rotsweep.storage import exists, join, read_bytes, write_bytes
from rotsweep.tables import write_part
from study.config.load import StudyConfig
from trainables.config import TrialConfig, config_hash, to_dict
from trainables.data import ImageSet, build_dataset
from trainables.data.base import choose


def data_settings(cfg: TrialConfig) -> dict[str, Any]:
    """What of ``data`` decides the images read, without where they are on this machine."""
    data = replace(cfg.data, n_train=None, n_eval=1, label=None, home=None, root=None)
    return to_dict(data)


def hog_key(cfg: TrialConfig) -> str:
    """Hash of what the HoG curve depends on: the data settings, the angles, the HoG settings,
    the crop (not ``hog.n_jobs``, which changes the speed only: the curve is the same)."""
    hog = replace(cfg.hog, n_jobs=1)
    return config_hash({"data": data_settings(cfg), "hog": to_dict(hog),
                        "angles": list(cfg.saliency.eval_angles), "crop": cfg.pretext.crop})


def fingerprint(dataset: ImageSet) -> str:
    """The data as read: every image id (relative to the dataset's root) and the first image's
    pixels, hashed."""
    digest = hashlib.sha256("\n".join(sorted(map(str, dataset.ids))).encode())
    if len(dataset):
        digest.update(dataset[0]["image"].numpy().tobytes())
    return digest.hexdigest()[:16]


def content_key(job_key: str, dataset: ImageSet) -> str:
    """The cache key of a job's rows: its job key and the data's :func:`fingerprint`."""
    return config_hash({"job": job_key, "data": fingerprint(dataset)})


def hog_jobs(study: StudyConfig) -> list[dict[str, Any]]:
    """One job (a trial config as a dict) per distinct HoG key among the study's grid."""
    jobs: dict[str, dict[str, Any]] = {}
    for point in study.grid():
        cfg = study.trial(point)
        if cfg.hog.enabled:
            jobs.setdefault(hog_key(cfg), to_dict(cfg))
    return list(jobs.values())


def hog_images(cfg: TrialConfig, dataset: ImageSet | None = None) -> torch.Tensor:
    """``hog.n_images`` images chosen deterministically, resized to ``hog.image_size``."""
    dataset = dataset if dataset is not None else build_dataset(cfg.data)
    picked = choose(dataset.ids, cfg.hog.n_images, cfg.data.split_seed)
    images = torch.stack([dataset[i]["image"] for i in picked])
    if images.shape[-1] != cfg.hog.image_size:
        images = F.interpolate(images, size=(cfg.hog.image_size,) * 2, mode="bilinear",
                               antialias=True, align_corners=False)
    return images


def write_cached_table(table: str, keys: tuple[str, str],
                       compute: Callable[[], list[dict[str, Any]]], study: str, dataset: str,
                       paths: dict[str, str]) -> int:
    """A data-only table's part: read from the content-addressed cache
    (``<cache_root>/<table>/<content key>.parquet``) or computed and cached, then written as
    the part ``<job key>`` of the study's table with its study and dataset (replacing an
    earlier write of the same job); returns the number of rows.

    Args:
        keys: the job key and the content key (see the module docstring).
    """
    key, cache_key = keys
    cached = join(paths["cache_root"], table, f"{cache_key}.parquet")
    if exists(cached):
        frame = pq.read_table(io.BytesIO(read_bytes(cached))).to_pandas()
        # rows cached before schema 3 use the old column names (hog_svm's ``angle``)
        frame = frame.rename(columns={old: new for new, old in RENAMED_IN_3.get(table, {}).items()})
    else:
        frame = pd.DataFrame(compute())
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        write_bytes(cached, buf.getvalue())
    write_part(paths["results_root"], table, frame.assign(study=study, dataset=dataset), key=key)
    return len(frame)


def run_hog_job(job: dict[str, Any], study: str, paths: dict[str, str]) -> int:
    """Compute (or reuse) one HoG-SVM curve and write it as a part of the study's table."""
    from trainables.hog_svm import hog_svm_curve  # scikit-learn: in the job's worker only
    from trainables.spec import parse_trial

    cfg = parse_trial(job)
    dataset = build_dataset(cfg.data)
    key = hog_key(cfg)
    return write_cached_table(
        "hog_svm", (key, content_key(key, dataset)),
        lambda: hog_svm_curve(hog_images(cfg, dataset), list(cfg.saliency.eval_angles),
                              cfg.hog, cfg.pretext.crop),
        study, cfg.data.tag, paths)
