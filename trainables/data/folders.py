"""Image and mask folders: ``image_folder_masks`` and its presets ``kvasir_seg``, ``lung_mask``.

The layout is an image folder and, beside it, one or more mask folders whose files are named
after the images (``images/a.jpg`` ↔ ``masks/a.jpg``). Several mask folders are merged, as
the Montgomery chest X-ray set's separate left and right lung masks
(``images: CXR_png, masks: [ManualMask/leftMask, ManualMask/rightMask]``). An image glob such
as ``images: "*/image"`` reads split folders (``train/image`` ↔ ``train/mask``) as one set.

Examples (``--set data.params.KEY=VALUE``): Kvasir-SEG as shipped (``kvasir_seg``; JPEG masks,
threshold 127, boxes from ``kavsir_bboxes.json``); BraTS PNG slices with label masks 0–4
(``image_folder_masks`` with ``mask_threshold=0``); Shenzhen-style ``a.png`` ↔ ``a_mask.png``
(``mask_name="{stem}_mask.*"``).
"""

from __future__ import annotations

import fnmatch
import glob
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.disk import DiskSet, Item, Source, check_mask, dataset_root
from trainables.data.inset import inpaint, overlay_masks
from trainables.data.problems import DataError, Problem
from trainables.data.transforms import (
    Intensity,
    fit_boxes,
    fit_image,
    fit_mask,
    fold_gray,
    mask_from_pixels,
    read_pixels,
    to_unit,
)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class FolderParams:
    """``data.params`` of the folder adapters.

    Attributes:
        images: the image folder under the root; a glob (``"*/image"``) reads several.
        masks: mask folders, relative to each image folder's parent; several are merged
            (pixel-wise OR).
        mask_name: the mask file of an image with stem ``{stem}``; glob wildcards allowed.
        mask_threshold: foreground = mask value > this (JPEG masks: 127; label masks: 0).
        extensions: image file extensions read (case-insensitive); other files are ignored.
        intensity: ``scale`` (by the file's bit depth), ``minmax`` or ``percentile`` per image.
        boxes_file: a JSON file (glob) under the root with Kvasir-SEG's bounding boxes
            (``{id: {height, width, bbox: [{xmin, ymin, xmax, ymax}]}}``); ``None``: no boxes.
        mask_inset: remove Kvasir-SEG's overlays, an orientation cue: the inset box in the
            bottom-left corner (detected per frame) and the burned-in text down the left edge
            are filled from the pixels around them (:mod:`trainables.data.inset`).
    """

    images: str = "images"
    masks: tuple[str, ...] = ("masks",)
    mask_name: str = "{stem}.*"
    mask_threshold: float = field(default=127.0, metadata={"ge": 0.0})
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    intensity: Intensity = "scale"
    boxes_file: str | None = None
    mask_inset: bool = False

    def __post_init__(self) -> None:
        if not self.masks:
            raise ValueError("data.params.masks: expected at least one mask folder")
        if "{stem}" not in self.mask_name:
            raise ValueError(f"data.params.mask_name: {self.mask_name!r} has no '{{stem}}'; "
                             "expected a pattern such as '{stem}.*' or '{stem}_mask.png'")


PRESETS: dict[str, dict[str, Any]] = {
    "image_folder_masks": {},
    "kvasir_seg": {"boxes_file": "kavsir_bboxes*.json"},
    "lung_mask": {},
}


class MaskFolder:
    """A mask folder's listing, indexed once (a glob per image would be quadratic)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names = sorted(p.name for p in path.iterdir() if p.is_file())
        self.by_stem: dict[str, list[str]] = {}
        for name in self.names:
            self.by_stem.setdefault(Path(name).stem, []).append(name)

    def find(self, pattern: str, stem: str) -> list[Path]:
        want = pattern.format(stem=stem)
        if want.endswith(".*") and not glob.has_magic(want[:-2]):
            found = self.by_stem.get(want[:-2], [])
        elif not glob.has_magic(want):
            found = [want] if want in self.names else []
        else:
            found = fnmatch.filter(self.names, want)
        return [self.path / n for n in found]


def _image_folders(root: Path, p: FolderParams) -> list[Path]:
    folders = sorted(f for f in root.glob(p.images) if f.is_dir())
    if not folders:
        entries = sorted(e.name + ("/" if e.is_dir() else "") for e in root.iterdir())[:12]
        raise DataError([Problem(str(root / p.images), "no such folder; expected the image "
                                 f"folder {p.images!r} under the root (the root holds: "
                                 f"{', '.join(entries) or 'nothing'})")])
    missing = [str(f.parent / m) for f in folders for m in p.masks
               if not (f.parent / m).is_dir()]
    if missing:
        raise DataError([Problem(m, "no such folder; expected the mask folder beside "
                                    "the images (data.params.masks)") for m in missing])
    return folders


def _image_files(folder: Path, p: FolderParams) -> list[Path]:
    ext = {e.lower() for e in p.extensions}
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in ext)
    if not files:
        raise DataError([Problem(str(folder), f"no image files; expected files ending in "
                                              f"{', '.join(sorted(ext))}")])
    return files


def _read_image(path: Path, p: FolderParams, max_pixels: int) -> np.ndarray:
    return fold_gray(to_unit(read_pixels(path, max_pixels), p.intensity))


def _read_mask(paths: list[Path], shape: tuple[int, int], image: Path,
               p: FolderParams, max_pixels: int) -> np.ndarray:
    """The union of an image's masks at full size, checked against the image's size."""
    merged = np.zeros(shape, dtype=bool)
    for path in paths:
        mask = mask_from_pixels(read_pixels(path, max_pixels), p.mask_threshold)
        if mask.shape != shape:
            raise DataError([Problem(str(path), f"mask is {mask.shape[1]}x{mask.shape[0]} "
                                     f"(WxH) but its image {image.name} is {shape[1]}x"
                                     f"{shape[0]}; expected the same size")])
        merged |= mask
    return merged


@dataclass(frozen=True)
class Pair:
    """An image, its mask file(s), its id and (Kvasir-SEG) its entry in the box file."""

    image: Path
    masks: tuple[Path, ...]
    image_id: str
    boxes: Mapping[str, Any] | None = None
    boxes_file: str = ""


def _load_pair(pair: Pair, cfg: DataConfig, p: FolderParams) -> list[Item]:
    x = _read_image(pair.image, p, cfg.max_image_pixels)
    full = _read_mask(list(pair.masks), x.shape[:2], pair.image, p, cfg.max_image_pixels)
    small = fit_mask(full, cfg.image_size, cfg.resize)
    top = None if full.any() else max(float(read_pixels(m, cfg.max_image_pixels).max())
                                       for m in pair.masks)
    check_mask(full, small, pair.masks[0], p.mask_threshold, top)
    fitted = None
    if pair.boxes is not None:
        fitted = fit_boxes(_kvasir_boxes(pair, x.shape[:2]), *x.shape[:2], cfg.image_size,
                           cfg.resize)
    image = _without_overlays(x, cfg) if p.mask_inset else fit_image(x, cfg.image_size,
                                                                     cfg.resize)
    return [Item(pair.image_id, image, small, fitted)]


def _without_overlays(x: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """The fitted uint8 image with Kvasir-SEG's inset box and text removed (``mask_inset``)."""
    if x.ndim != 3:
        return fit_image(x, cfg.image_size, cfg.resize)  # grey frames carry no colour overlay
    fill, black, _ = overlay_masks(x)
    x = np.where(black[..., None], 0.0, x).astype(np.float32)
    small = fit_image(x, cfg.image_size, cfg.resize)
    hole = fit_image(fill.astype(np.float32), cfg.image_size, cfg.resize) > 0
    margin = small.max(axis=-1) < 0.1 * 255 if small.ndim == 3 else small < 0.1 * 255
    filled = inpaint(small.astype(np.float32), hole, ignore=margin)
    return np.clip(np.rint(filled), 0, 255).astype(np.uint8)


def _read_boxes(root: Path, p: FolderParams) -> tuple[dict[str, Any] | None, Path | None]:
    if p.boxes_file is None:
        return None, None
    found = sorted(root.glob(p.boxes_file))
    if not found:
        return None, None  # boxes are optional: a set without them still has masks
    try:
        return json.loads(found[0].read_text()), found[0]
    except (OSError, ValueError) as err:
        raise DataError([Problem(str(found[0]), f"cannot be read as JSON ({err}); expected "
                                                "Kvasir-SEG's bounding-box file")]) from None


def _kvasir_boxes(pair: Pair, shape: tuple[int, int]) -> np.ndarray:
    """The pair's boxes ``(K, 4)`` x0, y0, x1, y1 in image pixels, checked against its size."""
    entry, image = pair.boxes or {}, pair.image
    h, w = shape
    if (entry.get("height"), entry.get("width")) != (h, w):
        raise DataError([Problem(pair.boxes_file, f"boxes of {image.stem} are for a "
                                 f"{entry.get('width')}x{entry.get('height')} image but "
                                 f"{image.name} is {w}x{h}; expected the same size")])
    try:
        rows = [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in entry["bbox"]]
    except (KeyError, TypeError):
        raise DataError([Problem(pair.boxes_file, f"entry {image.stem!r} has no bbox list "
                                                  "of xmin/ymin/xmax/ymax")]) from None
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


def _pair_sources(root: Path, cfg: DataConfig, p: FolderParams
                  ) -> tuple[list[Source], list[Problem]]:
    """One source per image with its mask(s) (and box entry); a problem per image without."""
    folders = _image_folders(root, p)
    boxes, boxes_path = _read_boxes(root, p)
    sources: list[Source] = []
    problems: list[Problem] = []
    for folder in folders:
        mask_dirs = [MaskFolder(folder.parent / m) for m in p.masks]
        prefix = f"{folder.parent.relative_to(root).as_posix()}/" if len(folders) > 1 else ""
        for image in _image_files(folder, p):
            masks, bad = _masks_of(image, mask_dirs, p)
            entry = None if boxes is None else boxes.get(image.stem)
            if boxes is not None and entry is None:
                bad = bad or Problem(str(boxes_path), f"no boxes for {image.stem!r}; "
                                                      "expected an entry per image")
            if bad:
                problems.append(bad)
                continue
            pair = Pair(image, tuple(masks), prefix + image.stem, entry, str(boxes_path))
            sources.append(Source(str(image), partial(_load_pair, pair, cfg, p)))
    return sources, problems


def _masks_of(image: Path, mask_dirs: list[MaskFolder], p: FolderParams
              ) -> tuple[list[Path], Problem | None]:
    masks = []
    for folder in mask_dirs:
        found = folder.find(p.mask_name, image.stem)
        if len(found) != 1:
            want = folder.path / p.mask_name.format(stem=image.stem)
            what = "missing mask" if not found else (
                f"{len(found)} candidate masks ({', '.join(f.name for f in found)})")
            return [], Problem(str(want), f"{what}; expected exactly one mask for image "
                                          f"{image.name}")
        masks.append(found[0])
    return masks, None


def build_folder_masks(cfg: DataConfig) -> DiskSet:
    """An image/mask folder pair (``image_folder_masks``, ``kvasir_seg``, ``lung_mask``; the
    presets differ only in their default ``params``, see :data:`PRESETS`)."""
    p = build(FolderParams, {**PRESETS.get(cfg.name, {}), **cfg.params}, "data.params")
    root = dataset_root(cfg)
    try:
        sources, problems = _pair_sources(root, cfg, p)
    except DataError as err:
        raise DataError(err.problems, cfg.name) from None
    return DiskSet(cfg.name, root, sources, cfg.skip_bad, problems)
