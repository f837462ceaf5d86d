"""The common steps: reading any pixel format, intensity to [0, 1], fitting to a square."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables.data.transforms import (
    fit_boxes,
    fit_image,
    fit_mask,
    fold_gray,
    mask_from_pixels,
    read_pixels,
    to_tensors,
    to_unit,
)


@pytest.mark.parametrize(("mode", "shape"), [
    ("L", (6, 5)), ("RGB", (6, 5, 3)), ("RGBA", (6, 5, 3)), ("LA", (6, 5)), ("P", (6, 5, 3)),
    ("I;16", (6, 5)), ("1", (6, 5)),
])
def test_read_pixels_folds_every_mode_to_grey_or_rgb(tmp_path: Path, mode: str,
                                                     shape: tuple[int, ...]) -> None:
    path = tmp_path / "x.png"
    Image.new(mode, (5, 6)).save(path)
    assert read_pixels(path).shape == shape


def test_sixteen_bit_images_scale_by_their_range(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    Image.fromarray(np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)).save(path)
    x = to_unit(read_pixels(path))
    assert x == pytest.approx(np.array([[0, 1], [32768 / 65535, 1000 / 65535]]), abs=1e-6)


def test_intensity_rules() -> None:
    x = np.array([[10, 20], [30, 250]], dtype=np.uint8)
    assert to_unit(x, "scale") == pytest.approx(x / 255.0)
    assert to_unit(x, "minmax") == pytest.approx((x - 10) / 240.0)
    values = np.arange(101, dtype=np.uint8).reshape(1, -1)
    p = to_unit(values, "percentile", (10.0, 90.0))
    assert p[0, 10] == 0.0 and p[0, 90] == 1.0 and p[0, 50] == pytest.approx(0.5)
    assert to_unit(np.full((2, 2), 7, np.uint8), "minmax").max() == 0.0  # flat: no division


def test_gray_encoded_as_rgb_is_folded_to_one_channel() -> None:
    g = np.random.default_rng(0).integers(0, 255, (4, 4)).astype(np.uint8)
    assert fold_gray(np.stack([g] * 3, -1)).shape == (4, 4)
    colour = np.stack([g, g, g + 1], -1)
    assert fold_gray(colour).shape == (4, 4, 3)
    image, _ = to_tensors(g, np.zeros((4, 4), bool))
    assert image.shape == (3, 4, 4) and bool((image[0] == image[2]).all())


def test_jpeg_masks_binarise_above_the_threshold() -> None:
    ringing = np.array([[0, 3, 126], [128, 250, 255]], dtype=np.uint8)
    assert mask_from_pixels(ringing, 127).tolist() == [[False, False, False], [True, True, True]]
    labels = np.array([[0, 1, 2, 4]], dtype=np.uint8)
    assert mask_from_pixels(labels, 0).tolist() == [[False, True, True, True]]
    colour = np.zeros((1, 2, 3), np.uint8)
    colour[0, 1, 0] = 200  # a red foreground counts
    assert mask_from_pixels(colour, 127).tolist() == [[False, True]]


@pytest.mark.parametrize("mode", ["stretch", "crop", "pad"])
def test_boxes_follow_the_mask_through_every_resize_mode(mode: str) -> None:
    h, w, size = 60, 90, 30
    top, left, bottom, right = 12, 33, 42, 57  # inside the central 60 x 60 square
    mask = np.zeros((h, w), bool)
    mask[top:bottom, left:right] = True
    small = fit_mask(mask, size, mode)  # type: ignore[arg-type]
    box = fit_boxes(np.array([[left, top, right, bottom]]), h, w, size, mode)[0]  # type: ignore[arg-type]
    rows, cols = np.flatnonzero(small.any(1)), np.flatnonzero(small.any(0))
    assert box == pytest.approx([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], abs=1.0)


def test_resize_modes_known_geometry() -> None:
    h, w, size = 40, 80, 20
    box = np.array([[0, 0, 80, 40]])
    assert fit_boxes(box, h, w, size, "stretch")[0].tolist() == [0, 0, 20, 20]
    assert fit_boxes(box, h, w, size, "crop")[0].tolist() == [0, 0, 20, 20]  # clipped
    assert fit_boxes(box, h, w, size, "pad")[0].tolist() == [0, 5, 20, 15]
    x = np.ones((h, w), np.float32)
    padded = fit_image(x, size, "pad")
    assert padded[:4].max() == 0 and padded[6:14].min() == 255  # zero bands above and below


def test_tiny_foreground_keeps_its_most_covered_pixel() -> None:
    mask = np.zeros((240, 240), bool)
    mask[100:102, 50:52] = True  # 4 pixels: 0.28 of one output pixel at 64
    small = fit_mask(mask, 64, "stretch")
    assert 1 <= small.sum() <= 2
    assert not fit_mask(np.zeros((240, 240), bool), 64, "stretch").any()
