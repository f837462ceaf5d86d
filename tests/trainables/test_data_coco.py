"""``coco_boxes``: a COCO instances JSON and its images, a category filter, boxes and masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_layouts import write_coco

from trainables.config import DataConfig
from trainables.data import DataError, build_dataset
from trainables.data.coco import boxes_mask
from trainables.data.transforms import fit_mask

S = 20  # images are 40 x 30: x scales by 0.5, y by 2/3


def cfg(root: Path, **params: Any) -> DataConfig:
    return DataConfig(name="coco_boxes", root=str(root), image_size=S, params=params)


def test_cats_and_dogs_with_boxes_in_resized_pixels(tmp_path: Path) -> None:
    write_coco(tmp_path)
    ds = build_dataset(cfg(tmp_path))
    assert list(ds.ids) == ["000000000001", "000000000002"]  # image 3 has only a person
    cat, dog = ds[0], ds[1]
    # the crowd cat is left out; bbox [4, 6, 10, 8] (x, y, w, h) -> x0 y0 x1 y1, scaled
    assert cat["boxes"].shape == (1, 4) and dog["boxes"].shape == (1, 4)
    assert cat["boxes"][0].tolist() == pytest.approx([2.0, 4.0, 7.0, 28 / 3])
    assert dog["boxes"][0].tolist() == pytest.approx([5.0, 4 / 3, 15.0, 28 / 3])
    want = fit_mask(boxes_mask(np.array([[4, 6, 14, 14]]), 30, 40), S, "stretch")
    assert torch.equal(cat["mask"], torch.from_numpy(want))


def test_crowd_and_other_categories_on_request(tmp_path: Path) -> None:
    write_coco(tmp_path)
    crowd = build_dataset(cfg(tmp_path, include_crowd=True))
    assert len(crowd[0]["boxes"]) == 2
    people = build_dataset(cfg(tmp_path, categories=["person"]))
    assert list(people.ids) == ["000000000002", "000000000003"]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_segmentation_masks(tmp_path: Path) -> None:
    write_coco(tmp_path)
    seg = build_dataset(cfg(tmp_path, mask_from="segmentation"))[1]
    boxes = build_dataset(cfg(tmp_path))[1]
    # the polygons are the boxes' outlines: the two masks cover the same region (±1 px edge)
    assert abs(int(seg["mask"].sum()) - int(boxes["mask"].sum())) <= 2 * S
    assert (seg["mask"] & boxes["mask"]).sum() >= 0.8 * seg["mask"].sum()


def test_boxes_mask_touched_pixels() -> None:
    m = boxes_mask(np.array([[1.5, 0.0, 3.0, 2.0]]), 4, 5)
    assert m.astype(int).tolist() == [[0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0] * 5, [0] * 5]


def test_unknown_category_names_the_known_ones(tmp_path: Path) -> None:
    write_coco(tmp_path)
    with pytest.raises(DataError, match=r"no categories \['zebra'\]; expected names among "
                                        r"\['cat', 'dog', 'person'\]"):
        build_dataset(cfg(tmp_path, categories=["zebra"]))
