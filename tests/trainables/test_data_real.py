"""The real samples in ../shared/data, read as they come (skipped when absent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage

from study.cli.main import main
from trainables.config import DataConfig
from trainables.data import build_dataset
from trainables.data.check import check_dataset

pytestmark = pytest.mark.data

DEEPMEDIC = {"image_pattern": "Flair_subtrMeanDivStd.nii.gz",
             "label_pattern": "OTMultiClass.nii.gz", "brain_pattern": "brainmask.nii.gz"}

# (name, folder, params, items): the four folders, as `rotsweep data check` must read them
SAMPLES: list[tuple[str, str, dict[str, Any], int]] = [
    ("kvasir_seg", "kvasir_seg", {}, 60),
    ("lung_mask", "covid_cxr_lung", {}, 32),
    ("brats", "brats2013_deepmedic/nifti", DEEPMEDIC, 1),
    ("brats", "brats2013_deepmedic/nifti", {**DEEPMEDIC, "slices": "above_area",
                                            "min_tumour_pixels": 100}, 67),
    ("image_folder_masks", "brats2013_deepmedic", {"mask_threshold": 0}, 60),
    ("image_folder_masks", "isbi2012_em_membrane", {}, 30),
]


@pytest.mark.parametrize(("name", "folder", "params", "n"), SAMPLES,
                         ids=[f"{s[0]}-{s[1].split('/')[0]}-{len(s[2])}" for s in SAMPLES])
def test_data_check_passes(shared_data: Path, name: str, folder: str, params: dict[str, Any],
                           n: int) -> None:
    report = check_dataset(DataConfig(name=name, root=str(shared_data / folder),
                                      params=params, n_eval=None))
    assert report.ok and not report.problems, report.lines()
    assert report.n_usable == n
    assert report.foreground is not None and report.foreground[1] > 0  # no empty mask


def test_cli_data_check_on_the_samples(shared_data: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "kvasir_seg", "--root", str(shared_data / "kvasir_seg")]) == 0
    assert "kvasir_seg at " in capsys.readouterr().out
    # BRATS label masks 0-4 need threshold 0: the default (JPEG, 127) fails, naming the fix
    assert main(["data", "check", "image_folder_masks", "--root",
                 str(shared_data / "brats2013_deepmedic")]) == 1
    assert "need data.params.mask_threshold=0" in capsys.readouterr().out


def box_iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return ix * iy / (area - ix * iy)


def test_kvasir_boxes_agree_with_the_masks(shared_data: Path) -> None:
    ds = build_dataset(DataConfig(name="kvasir_seg", root=str(shared_data / "kvasir_seg"),
                                  image_size=128))
    ious = []
    for i in range(len(ds)):
        s = ds[i]
        covered = torch.zeros_like(s["mask"])
        for x0, y0, x1, y1 in s["boxes"].tolist():
            covered[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
        assert bool((s["mask"] <= covered).all()), s["image_id"]  # every polyp pixel is boxed
        rows, cols = torch.nonzero(s["mask"], as_tuple=True)
        tight = [float(cols.min()), float(rows.min()), float(cols.max()) + 1,
                 float(rows.max()) + 1]
        b = s["boxes"]
        outer = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()),
                 float(b[:, 3].max())]
        ious.append(box_iou(tight, outer))
    # the JSON's boxes were drawn on the same pixels: most are the masks' own bounding boxes
    assert np.median(ious) > 0.95 and min(ious) > 0.7


@pytest.mark.slow
def test_lungs_are_darker_than_around_them(shared_data: Path) -> None:
    # the sample's own sanity check (its SOURCE.txt: 32/32 at full size), at 128 px
    ds = build_dataset(DataConfig(name="lung_mask", root=str(shared_data / "covid_cxr_lung"),
                                  image_size=128))
    darker = 0
    for i in range(len(ds)):
        s = ds[i]
        mask = s["mask"].numpy()
        ring = ndimage.binary_dilation(mask, iterations=6) & ~mask
        gray = s["image"].mean(0).numpy()
        darker += gray[mask].mean() < gray[ring].mean()
        assert ndimage.label(mask)[1] >= 2  # two lung fields (merged left + right masks)
    assert darker >= 30


def test_nifti_slices_match_the_png_slices(shared_data: Path) -> None:
    """Known answer: the PNG slices were made from the NIfTI volumes (FLAIR windowed over the
    brain's [p0.5, p99.5] to 0..255, flipud(slice.T)); the brats adapter reproduces them."""
    root = shared_data / "brats2013_deepmedic"
    for size in (64, 240):  # resized, and at the slices' own size
        nifti = build_dataset(DataConfig(name="brats", root=str(root / "nifti"),
                                         image_size=size, params=DEEPMEDIC))
        png = build_dataset(DataConfig(name="image_folder_masks", root=str(root),
                                       image_size=size, params={"mask_threshold": 0}))
        a = nifti.item(0)
        assert a.image_id == "brats_2013_pat0004_1_z095"  # the largest tumour area
        b = png.item(list(png.ids).index(a.image_id))
        assert np.array_equal(a.mask, b.mask)
        diff = np.abs(a.image.astype(int) - b.image.astype(int))
        assert diff.max() <= 1  # one grey level: the PNG was rounded before resizing
