"""``brats``: NIfTI subject folders, largest-tumour slice or all above an area, per-volume
intensity, configurable file names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_layouts import brats_volumes, write_brats_subject, write_nifti

from trainables.config import ConfigError, DataConfig
from trainables.data import build_dataset
from trainables.data.transforms import fit_image, fit_mask

S = 32


def cfg(root: Path, **params: Any) -> DataConfig:
    return DataConfig(name="brats", root=str(root), image_size=S, params=params)


def expected_image(vol: np.ndarray, z: int, brain: np.ndarray,
                   percentiles: tuple[float, float] = (0.5, 99.5)) -> torch.Tensor:
    """Naive reference: window the brain voxels' percentiles to [0, 1], 0 outside, then the
    displayed slice flipud(slice.T) resized."""
    lo, hi = np.percentile(vol[brain], percentiles)
    x = np.clip((vol - lo) / (hi - lo), 0, 1) * brain
    return torch.from_numpy(fit_image(np.flipud(x[:, :, z].T).astype(np.float32), S, "stretch"))


def test_largest_tumour_slice_per_subject(tmp_path: Path) -> None:
    flair, label = write_brats_subject(tmp_path, "BraTS20_Training_001")
    write_brats_subject(tmp_path, "BraTS20_Training_002", seed=1)
    ds = build_dataset(cfg(tmp_path))
    assert list(ds.ids) == ["BraTS20_Training_001_z007", "BraTS20_Training_002_z007"]
    item = ds.item(0)
    want_mask = fit_mask(np.flipud(label[:, :, 7].T > 0), S, "stretch")
    assert np.array_equal(item.mask, want_mask)
    got = torch.from_numpy(item.image.astype(np.int16))
    want = expected_image(flair, 7, flair > 0).to(torch.int16)
    assert (got - want).abs().max() <= 1
    assert ds[0]["image"].shape == (3, S, S)


def test_slices_above_an_area_threshold(tmp_path: Path) -> None:
    write_brats_subject(tmp_path, "BraTS20_Training_001")
    ds = build_dataset(cfg(tmp_path, slices="above_area", min_tumour_pixels=20))
    # tumour area of slice z is 6 z: z = 4..7 reach 20 voxels
    assert list(ds.ids) == [f"BraTS20_Training_001_z{z:03d}" for z in (4, 5, 6, 7)]


def test_modality_picks_its_volume(tmp_path: Path) -> None:
    flair, _ = write_brats_subject(tmp_path, "BraTS20_Training_001")
    t1 = build_dataset(cfg(tmp_path, modality="t1")).item(0).image
    fl = build_dataset(cfg(tmp_path)).item(0).image
    assert not np.array_equal(t1, fl)
    want = expected_image(np.sqrt(flair), 7, flair > 0).to(torch.int16)
    assert (torch.from_numpy(t1.astype(np.int16)) - want).abs().max() <= 1


def test_deepmedic_names_brain_mask_and_zscored_background(tmp_path: Path) -> None:
    # DeepMedic's example: z-scored volumes (background = the minimum, negative), a brain mask
    flair, label = brats_volumes()
    brain = flair > 0
    z = np.where(brain, (flair - 250.0) / 80.0, -3.5).astype(np.float32)
    case = tmp_path / "brats_2013_pat0004_1"
    write_nifti(case / "Flair_subtrMeanDivStd.nii.gz", z)
    write_nifti(case / "OTMultiClass.nii.gz", label)
    write_nifti(case / "brainmask.nii.gz", brain.astype(np.float64))
    names = {"image_pattern": "Flair_subtrMeanDivStd.nii.gz",
             "label_pattern": "OTMultiClass.nii.gz", "brain_pattern": "brainmask.nii.gz"}
    item = build_dataset(cfg(tmp_path, **names)).item(0)
    assert item.image_id == "brats_2013_pat0004_1_z007"
    want = expected_image(z, 7, brain).to(torch.int16)
    assert (torch.from_numpy(item.image.astype(np.int16)) - want).abs().max() <= 1
    # without the brain mask, "above the volume's minimum" finds the same brain
    no_mask = {k: v for k, v in names.items() if k != "brain_pattern"}
    assert np.array_equal(build_dataset(cfg(tmp_path, **no_mask)).item(0).image, item.image)


def test_root_may_be_one_subject_folder(tmp_path: Path) -> None:
    write_brats_subject(tmp_path, "BraTS20_Training_001")
    ds = build_dataset(cfg(tmp_path / "BraTS20_Training_001"))
    assert list(ds.ids) == ["BraTS20_Training_001_z007"]


def test_minmax_intensity_and_bad_percentiles(tmp_path: Path) -> None:
    flair, _ = write_brats_subject(tmp_path, "BraTS20_Training_001")
    item = build_dataset(cfg(tmp_path, intensity="minmax")).item(0)
    want = expected_image(flair, 7, flair > 0, (0.0, 100.0)).to(torch.int16)
    assert (torch.from_numpy(item.image.astype(np.int16)) - want).abs().max() <= 1
    with pytest.raises(ConfigError, match=r"percentiles.*low < high"):
        build_dataset(cfg(tmp_path, percentiles=[99, 1]))
