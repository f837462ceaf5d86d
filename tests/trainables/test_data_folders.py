"""Image/mask folders: kvasir_seg, lung_mask, image_folder_masks, on files in the real layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_layouts import rect_of, write_kvasir_boxes, write_pairs
from PIL import Image

from trainables.config import DataConfig
from trainables.data import build_dataset, collate, load_split
from trainables.data.transforms import fit_boxes, fit_mask

H, W, S = 40, 48, 32


def cfg(name: str, root: Path, **params: Any) -> DataConfig:
    return DataConfig(name=name, root=str(root), image_size=S, params=params)


def rect_mask(k: int) -> np.ndarray:
    top, left, bottom, right = rect_of(k, H, W)
    mask = np.zeros((H, W), bool)
    mask[top:bottom, left:right] = True
    return mask


def test_kvasir_seg_jpeg_masks_and_boxes(tmp_path: Path) -> None:
    stems = write_pairs(tmp_path, n=5)  # JPEG masks: ringing around 0 and 255
    write_kvasir_boxes(tmp_path, stems)
    ds = build_dataset(cfg("kvasir_seg", tmp_path))
    assert list(ds.ids) == stems
    for k in range(len(ds)):
        s = ds[k]
        assert torch.equal(s["mask"], torch.from_numpy(fit_mask(rect_mask(k), S, "stretch")))
        top, left, bottom, right = rect_of(k, H, W)
        want = fit_boxes(np.array([[left, top, right, bottom]]), H, W, S, "stretch")
        assert torch.equal(s["boxes"], torch.from_numpy(want))
        inside, outside = s["image"][:, s["mask"]], s["image"][:, ~s["mask"]]
        assert inside.mean() > 0.75 and outside.mean() < 0.35
    batch = collate([ds[i] for i in range(3)])
    assert len(batch["boxes"]) == 3  # type: ignore[arg-type]


def test_kvasir_without_a_box_file_has_masks_only(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=3)
    assert "boxes" not in build_dataset(cfg("kvasir_seg", tmp_path))[0]


def test_lung_mask_merges_montgomery_left_and_right_masks(tmp_path: Path) -> None:
    masks = ("ManualMask/leftMask", "ManualMask/rightMask")
    write_pairs(tmp_path, n=4, images="CXR_png", masks=masks, image_ext=".png", mask_ext=".png",
                rgb=False)
    ds = build_dataset(cfg("lung_mask", tmp_path, images="CXR_png", masks=list(masks)))
    for k in range(len(ds)):
        assert torch.equal(ds[k]["mask"], torch.from_numpy(fit_mask(rect_mask(k), S, "stretch")))
        image = ds[k]["image"]
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_split_folders_read_as_one_set_with_unique_ids(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=3, images="train/image", masks=("mask",))
    write_pairs(tmp_path, n=2, images="test/image", masks=("mask",), seed=1)
    ds = build_dataset(cfg("image_folder_masks", tmp_path, images="*/image", masks=["mask"]))
    assert sorted(ds.ids) == ["test/img000", "test/img001", "train/img000", "train/img001",
                              "train/img002"]


def test_mask_name_pattern_and_label_masks(tmp_path: Path) -> None:
    # Shenzhen-style names (a.png <-> a_mask.png) and PNG label masks 0-4 (BraTS slices)
    write_pairs(tmp_path, n=3, image_ext=".png", mask_ext=".png", mask_name="{stem}_mask",
                mask_value=2)
    ds = build_dataset(cfg("image_folder_masks", tmp_path, mask_name="{stem}_mask.*",
                           mask_threshold=0))
    assert len(ds) == 3
    assert torch.equal(ds[1]["mask"], torch.from_numpy(fit_mask(rect_mask(1), S, "stretch")))


def test_other_files_in_the_image_folder_are_ignored(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=2)
    (tmp_path / "images" / "Thumbs.db").write_bytes(b"\x00\x01")
    (tmp_path / "images" / "README.txt").write_text("notes")
    assert len(build_dataset(cfg("image_folder_masks", tmp_path))) == 2


def test_cached_and_decoded_items_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pairs(tmp_path, n=3)
    cached = build_dataset(cfg("image_folder_masks", tmp_path))
    monkeypatch.setenv("ROTSWEEP_DATA_CACHE_MB", "0")  # every read decodes the files again
    fresh = build_dataset(cfg("image_folder_masks", tmp_path))
    for k in range(3):
        assert torch.equal(cached[k]["image"], fresh[k]["image"])
        assert torch.equal(cached[k]["mask"], fresh[k]["mask"])


def test_items_are_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pairs(tmp_path, n=3)
    ds = build_dataset(cfg("image_folder_masks", tmp_path))
    calls = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: calls.append(a) or None)
    for _ in range(3):  # three epochs read the cache, not the files
        [ds[k] for k in range(len(ds))]
    assert calls == []


def test_split_by_id_is_disjoint_and_complete(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=10)
    c = DataConfig(name="kvasir_seg", root=str(tmp_path), image_size=S, n_train=None,
                   n_eval=None, eval_fraction=0.3)
    train, evalset = load_split(c, "train"), load_split(c, "eval")
    assert len(evalset) == 3 and len(train) == 7
    assert set(train.ids).isdisjoint(evalset.ids)
    assert sorted([*train.ids, *evalset.ids]) == sorted(build_dataset(c).ids)


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_non_square_fit_modes_move_masks_and_boxes_together(tmp_path: Path, mode: str) -> None:
    stems = write_pairs(tmp_path, n=3)
    write_kvasir_boxes(tmp_path, stems)
    c = DataConfig(name="kvasir_seg", root=str(tmp_path), image_size=S, resize=mode)
    s = build_dataset(c)[2]
    rows = torch.nonzero(s["mask"].any(1)).flatten()
    cols = torch.nonzero(s["mask"].any(0)).flatten()
    got = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
    assert s["boxes"][0].tolist() == pytest.approx([float(v) for v in got], abs=1.0)
