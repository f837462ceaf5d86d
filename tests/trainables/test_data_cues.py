"""Orientation cues (``rotsweep data check``) and Kvasir-SEG's overlays (``mask_inset``), with
known answers: synthetic shapes carry no cue, a planted corner box is flagged and found, the
same box in a random corner is not flagged, and the real Kvasir-SEG samples are flagged unless
their overlays are masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables.config import DataConfig
from trainables.data.check import check_dataset
from trainables.data.cues import FLAG_P, FLAG_SHARE, QUADRANTS, quadrant_cue, symmetry_p_value
from trainables.data.inset import find_box, inpaint, overlay_masks

BL = QUADRANTS.index("bottom-left")


def frame(rng: np.random.Generator, h: int = 120, w: int = 140, box: bool = True
          ) -> np.ndarray:
    """A colonoscopy-like RGB frame in [0, 1]: reddish texture, black octagon corners, and (with
    ``box``) a black inset box of 1/3 x 1/3 at the bottom-left."""
    x = np.empty((h, w, 3), np.float32)
    x[..., 0] = rng.uniform(0.6, 0.9, (h, w))
    x[..., 1] = rng.uniform(0.3, 0.45, (h, w))
    x[..., 2] = rng.uniform(0.2, 0.35, (h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    cut = h // 8
    corners = ((yy + xx < cut) | (yy + (w - 1 - xx) < cut) | ((h - 1 - yy) + xx < cut)
               | ((h - 1 - yy) + (w - 1 - xx) < cut))
    x[corners] = 0.0
    if box:
        x[h - h // 3:, : w // 3] = 0.0
    return x


def write_frames(root: Path, n: int, corner: str = "bottom-left", seed: int = 0) -> None:
    """``n`` frames with their box in ``corner`` (``random``: a random corner each) and a mask."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(n):
        x = frame(rng)
        turns = int(rng.integers(4)) if corner == "random" else 0
        x = np.rot90(x, turns) if turns % 2 == 0 else np.rot90(frame(rng, 140, 120), turns)
        mask = np.zeros(x.shape[:2], np.uint8)
        mask[50:70, 55:80] = 255
        Image.fromarray((x * 255).astype(np.uint8)).save(root / "images" / f"f{k:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"f{k:02d}.png")


@pytest.mark.parametrize("kind", ["discs", "rectangles"])
def test_synthetic_shapes_carry_no_cue(kind: str) -> None:
    report = check_dataset(DataConfig(name="synthetic", image_size=32, n_eval=None,
                                      params={"kind": kind, "n_images": 64}))
    dark, bright = report.cues
    assert not dark.flagged and not bright.flagged
    assert dark.fraction > 0.01 and max(dark.shares) < 0.3 and dark.p_value > FLAG_P


def test_a_corner_box_is_flagged_and_a_random_corner_is_not(tmp_path: Path) -> None:
    write_frames(tmp_path / "fixed", 24)
    write_frames(tmp_path / "random", 24, corner="random")
    fixed = check_dataset(DataConfig(name="image_folder_masks", root=str(tmp_path / "fixed"),
                                     image_size=32, n_eval=None))
    dark = fixed.cues[0]
    assert dark.flagged and dark.shares[BL] > 0.8 and dark.p_value == pytest.approx(0.001)
    assert dark.mostly[BL] == 24
    assert "ORIENTATION CUE" in fixed.lines()[-2] and "bottom-left quadrant" in fixed.lines()[-2]
    moved = check_dataset(DataConfig(name="image_folder_masks", root=str(tmp_path / "random"),
                                     image_size=32, n_eval=None))
    assert not moved.cues[0].flagged and moved.cues[0].p_value > 0.05
    masked = check_dataset(DataConfig(name="kvasir_seg", root=str(tmp_path / "fixed"),
                                      image_size=32, n_eval=None, params={"mask_inset": True}))
    assert not masked.cues[0].flagged and masked.cues[0].shares[BL] < FLAG_SHARE


def test_symmetry_null_known_answers() -> None:
    all_bl = np.tile([0, 0, 10, 0], (50, 1))
    assert symmetry_p_value(all_bl, 1.0) == pytest.approx(1 / 1000)  # the smallest p
    assert symmetry_p_value(np.tile([5, 5, 5, 5], (50, 1)), 0.25) == 1.0
    few = quadrant_cue("dark", np.tile([0, 0, 1, 0], (10, 1)), n_fov=10_000)
    assert not few.flagged and "too few to judge" in few.line()


def test_the_box_is_found_exactly_and_not_in_frames_without_one() -> None:
    rng = np.random.default_rng(1)
    x = frame(rng)
    assert find_box(x) == (120 - 40, 120, 140 // 3)
    assert find_box(frame(rng, box=False)) is None
    fill, black, found = overlay_masks(x)
    assert found and not (fill & black).any()
    # the box's corner outside the octagon becomes black, like the other three corners
    assert black[119, 0] and not black[119, 30] and fill[100, 30]


def test_inpaint_reproduces_a_linear_ramp() -> None:
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    image = np.stack([xx / 64, yy / 64, (xx + yy) / 128], axis=-1)
    hole = np.zeros((64, 64), bool)
    hole[10:30, 5:25] = True
    filled = inpaint(image, hole)
    assert np.abs(filled - image)[hole].max() < 0.01
    assert np.array_equal(filled[~hole], image[~hole])


@pytest.mark.data
@pytest.mark.slow  # about 15 s of CPU: 120 full-size JPEG frames decoded, 60 of them masked
def test_kvasir_samples_are_flagged_unless_masked(shared_data: Path) -> None:
    """Measured on the 60 samples (README numbers, 64 px): dark pixels 86 % in the bottom-left
    quadrant (p 0.001) as they come; with ``mask_inset`` no quadrant is flagged."""
    root = str(shared_data / "kvasir_seg")
    raw = check_dataset(DataConfig(name="kvasir_seg", root=root, n_eval=None))
    assert raw.cues[0].flagged and raw.cues[0].shares[BL] > 0.8
    masked = check_dataset(DataConfig(name="kvasir_seg", root=root, n_eval=None,
                                      params={"mask_inset": True}))
    assert not any(c.flagged for c in masked.cues)
    assert masked.cues[0].shares[BL] < 0.25 and masked.cues[0].fraction < 0.01
    assert masked.n_usable == 60 and masked.foreground == raw.foreground  # masks untouched
    boxes = sum(find_box(np.asarray(Image.open(p).convert("RGB"), np.float32) / 255) is not None
                for p in sorted((shared_data / "kvasir_seg" / "images").iterdir()))
    assert boxes == 32
