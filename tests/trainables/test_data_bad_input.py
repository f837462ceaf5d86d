"""Bad input: each case is one error naming the file and what was expected, found when the
dataset is built (before any training); ``skip_bad`` drops bad items and counts them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from data_layouts import (
    write_brats_subject,
    write_coco,
    write_kvasir_boxes,
    write_nifti,
    write_pairs,
)
from PIL import Image

from trainables.config import DataConfig
from trainables.data import DataError, build_dataset


def cfg(name: str, root: Path | None, skip_bad: bool = False, **params: Any) -> DataConfig:
    return DataConfig(name=name, root=None if root is None else str(root), image_size=32,
                      skip_bad=skip_bad, params=params)


def only_problem(c: DataConfig) -> str:
    with pytest.raises(DataError) as err:
        build_dataset(c)
    assert len(err.value.problems) == 1, err.value.problems
    return str(err.value.problems[0])


def test_missing_mask(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=3)
    (tmp_path / "masks" / "img001.jpg").unlink()
    msg = only_problem(cfg("kvasir_seg", tmp_path))
    assert msg.startswith(str(tmp_path / "masks" / "img001.*"))
    assert "missing mask; expected exactly one mask for image img001.jpg" in msg


def test_two_candidate_masks(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=2)
    Image.new("L", (48, 40)).save(tmp_path / "masks" / "img000.png")
    assert "2 candidate masks (img000.jpg, img000.png)" in only_problem(cfg("kvasir_seg",
                                                                            tmp_path))


def test_image_mask_size_mismatch(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=3)
    Image.new("L", (30, 30), 255).save(tmp_path / "masks" / "img002.jpg")
    msg = only_problem(cfg("kvasir_seg", tmp_path))
    assert msg == (f"{tmp_path / 'masks' / 'img002.jpg'}: mask is 30x30 (WxH) but its image "
                   "img002.jpg is 48x40; expected the same size")


@pytest.mark.parametrize("which", ["images", "masks"])
def test_corrupt_or_truncated_file(tmp_path: Path, which: str) -> None:
    write_pairs(tmp_path, n=3)
    path = tmp_path / which / "img001.jpg"
    path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
    msg = only_problem(cfg("kvasir_seg", tmp_path))
    assert msg.startswith(f"{path}: cannot be read as an image")
    (tmp_path / which / "img001.jpg").write_text("not an image at all")
    assert only_problem(cfg("kvasir_seg", tmp_path)).startswith(f"{path}: cannot be read")


def test_empty_mask(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=3)
    Image.new("L", (48, 40), 0).save(tmp_path / "masks" / "img000.jpg")
    msg = only_problem(cfg("kvasir_seg", tmp_path))
    assert msg.startswith(f"{tmp_path / 'masks' / 'img000.jpg'}: empty mask: no pixel > 127")


def test_label_masks_with_the_jpeg_threshold_say_what_to_set(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=1, image_ext=".png", mask_ext=".png", mask_value=4)
    msg = only_problem(cfg("image_folder_masks", tmp_path))
    assert "(largest value 4); label masks such as BraTS 0-4 need " \
           "data.params.mask_threshold=0" in msg


def test_wrong_folder(tmp_path: Path) -> None:
    write_pairs(tmp_path / "kvasir", n=2)
    # the parent of the dataset: the message lists what the root holds
    msg = only_problem(cfg("kvasir_seg", tmp_path))
    assert msg == (f"{tmp_path / 'images'}: no such folder; expected the image folder 'images' "
                   "under the root (the root holds: kvasir/)")
    # the image folder itself
    assert "no such folder" in only_problem(cfg("kvasir_seg", tmp_path / "kvasir" / "images"))
    # a root that does not exist
    msg = only_problem(cfg("kvasir_seg", tmp_path / "nowhere"))
    assert msg.startswith(f"{tmp_path / 'nowhere'}: no such folder")
    # no root at all
    assert only_problem(cfg("kvasir_seg", None)).startswith("data.root: not set")


def test_missing_mask_folder(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=2)
    msg = only_problem(cfg("lung_mask", tmp_path, masks=["masks", "right"]))
    assert msg.startswith(f"{tmp_path / 'right'}: no such folder; expected the mask folder")


def test_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    assert "no image files; expected files ending in" in only_problem(
        cfg("image_folder_masks", tmp_path))


def test_every_bad_file_is_listed_not_only_the_first(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=6)
    (tmp_path / "masks" / "img001.jpg").unlink()
    (tmp_path / "images" / "img004.jpg").write_text("broken")
    with pytest.raises(DataError) as err:
        build_dataset(cfg("kvasir_seg", tmp_path))
    files = sorted(Path(p.path).name for p in err.value.problems)
    assert files == ["img001.*", "img004.jpg"]
    assert str(err.value).splitlines()[0] == "kvasir_seg: 2 problems reading the dataset"


def test_skip_bad_drops_bad_items_and_counts_them(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    write_pairs(tmp_path, n=6)
    (tmp_path / "masks" / "img001.jpg").unlink()
    Image.new("L", (48, 40), 0).save(tmp_path / "masks" / "img003.jpg")
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(cfg("kvasir_seg", tmp_path, skip_bad=True))
    assert list(ds.ids) == ["img000", "img002", "img004", "img005"]
    assert len(ds.problems) == 2
    assert "kvasir_seg: skipped 2 bad item(s) (data.skip_bad)" in caplog.text


def test_skip_bad_with_nothing_left_still_fails(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=2)
    for f in (tmp_path / "masks").iterdir():
        f.unlink()
    with pytest.raises(DataError) as err:
        build_dataset(cfg("kvasir_seg", tmp_path, skip_bad=True))
    assert len(err.value.problems) == 2


def test_duplicate_ids(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=2)
    Image.new("RGB", (48, 40)).save(tmp_path / "images" / "img000.png")
    assert "id 'img000' also comes from" in only_problem(cfg("kvasir_seg", tmp_path))


def test_kvasir_boxes_missing_or_for_another_size(tmp_path: Path) -> None:
    stems = write_pairs(tmp_path, n=3)
    write_kvasir_boxes(tmp_path, stems[:2])
    box_file = tmp_path / "kavsir_bboxes.json"
    assert only_problem(cfg("kvasir_seg", tmp_path)) == (
        f"{box_file}: no boxes for 'img002'; expected an entry per image")
    boxes = json.loads(box_file.read_text())
    boxes["img002"] = {**boxes["img000"], "width": 99}
    box_file.write_text(json.dumps(boxes))
    assert "boxes of img002 are for a 99x40 image but img002.jpg is 48x40" in only_problem(
        cfg("kvasir_seg", tmp_path))
    box_file.write_text("{not json")
    assert "cannot be read as JSON" in only_problem(cfg("kvasir_seg", tmp_path))


def test_brats_bad_subjects(tmp_path: Path) -> None:
    write_brats_subject(tmp_path, "BraTS20_Training_001")
    write_brats_subject(tmp_path, "BraTS20_Training_002")
    write_brats_subject(tmp_path, "BraTS20_Training_003")
    write_brats_subject(tmp_path, "BraTS20_Training_004")
    (tmp_path / "BraTS20_Training_001" / "BraTS20_Training_001_seg.nii.gz").unlink()
    (tmp_path / "BraTS20_Training_002" / "BraTS20_Training_002_flair.nii.gz").write_bytes(b"x")
    write_nifti(tmp_path / "BraTS20_Training_003" / "BraTS20_Training_003_seg.nii.gz",
                np.zeros((20, 32, 10), np.float32))
    write_nifti(tmp_path / "BraTS20_Training_004" / "BraTS20_Training_004_flair.nii.gz",
                np.ones((20, 30, 10), np.float32))
    with pytest.raises(DataError) as err:
        build_dataset(cfg("brats", tmp_path))
    msgs = sorted(str(p) for p in err.value.problems)
    assert len(msgs) == 4
    assert "BraTS20_Training_001/*_seg.nii*: no file (the folder holds: " in msgs[0]
    assert "BraTS20_Training_002_flair.nii.gz: cannot be read as NIfTI" in msgs[1]
    assert "BraTS20_Training_003_seg.nii.gz: no axial slice with >= 1 tumour voxels" in msgs[2]
    assert "_004_flair.nii.gz: volume shape (20, 30, 10) differs from the label" in msgs[3]


def test_brats_wrong_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert "no subject folders matching '*'" in only_problem(cfg("brats", tmp_path))


def test_coco_bad_files(tmp_path: Path) -> None:
    write_coco(tmp_path)
    (tmp_path / "val2017" / "000000000001.jpg").unlink()
    Image.new("RGB", (10, 10)).save(tmp_path / "val2017" / "000000000002.jpg")
    with pytest.raises(DataError) as err:
        build_dataset(cfg("coco_boxes", tmp_path))
    msgs = sorted(str(p) for p in err.value.problems)
    assert msgs[0].endswith("000000000001.jpg: missing; expected an image file")
    assert "000000000002.jpg: image is 10x10 but the JSON says 40x30" in msgs[1]
    assert "no such file; expected the COCO instances JSON" in only_problem(
        cfg("coco_boxes", tmp_path, annotations="annotations/instances_train2017.json"))
