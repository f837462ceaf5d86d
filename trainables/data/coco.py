"""``coco_boxes``: COCO instances (pycocotools), the images holding chosen categories.

Seed 002 measures saliency against bounding boxes with its goodness Q(S, B), on COCO images of
cats and dogs. An item is an image with at least one (non-crowd) instance of the categories;
its ``boxes`` are those instances' boxes in resized pixels, and its mask is their union,
rasterised (or the instances' segmentations), so Q(S, B) and the mask metrics both apply.

Layout (COCO 2017 as distributed)::

    root/annotations/instances_val2017.json
    root/val2017/000000000139.jpg
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.disk import DiskSet, Item, Source, check_mask, dataset_root
from trainables.data.problems import DataError, Problem
from trainables.data.transforms import (
    fit_boxes,
    fit_image,
    fit_mask,
    fold_gray,
    read_pixels,
    to_unit,
)


@dataclass(frozen=True)
class CocoParams:
    """``data.params`` of ``coco_boxes``.

    Attributes:
        annotations: the instances JSON, relative to the root.
        images: the image folder, relative to the root.
        categories: category names kept (seed 002: cats and dogs).
        mask_from: ``boxes`` (the union of the boxes, seed 002's ground truth) or
            ``segmentation`` (the union of the instance masks).
        include_crowd: also keep ``iscrowd`` annotations (crowd regions, not instances).
        min_box_area: instances with a smaller box (pixels², original image) are ignored.
    """

    annotations: str = "annotations/instances_val2017.json"
    images: str = "val2017"
    categories: tuple[str, ...] = ("cat", "dog")
    mask_from: Literal["boxes", "segmentation"] = "boxes"
    include_crowd: bool = False
    min_box_area: float = 0.0


def read_coco(path: Path) -> Any:
    """A ``pycocotools.coco.COCO`` index of ``path`` (its progress prints silenced).

    Raises:
        DataError: the file is missing or not a COCO instances JSON.
    """
    from pycocotools.coco import COCO

    if not path.is_file():
        raise DataError([Problem(str(path), "no such file; expected the COCO instances JSON "
                                            "(data.params.annotations)")])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))
    except Exception as err:  # json errors, KeyError/TypeError on a wrong structure
        raise DataError([Problem(str(path), f"cannot be read as COCO instances "
                                            f"({type(err).__name__}: {err}); expected "
                                            "images, annotations and categories")]) from None


def boxes_mask(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """The union of boxes ``(K, 4)`` x0, y0, x1, y1 as an ``(h, w)`` mask: the pixels whose
    area the boxes touch."""
    mask = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        r0, r1 = int(np.floor(max(y0, 0))), int(np.ceil(min(y1, h)))
        c0, c1 = int(np.floor(max(x0, 0))), int(np.ceil(min(x1, w)))
        mask[r0:r1, c0:c1] = True
    return mask


def _load_image(coco: Any, info: Mapping[str, Any], anns: list[dict[str, Any]], folder: Path,
                cfg: DataConfig, p: CocoParams) -> list[Item]:
    path = folder / info["file_name"]
    x = fold_gray(to_unit(read_pixels(path, cfg.max_image_pixels)))
    h, w = x.shape[:2]
    if (info.get("height"), info.get("width")) != (h, w):
        raise DataError([Problem(str(path), f"image is {w}x{h} but the JSON says "
                                 f"{info.get('width')}x{info.get('height')}; expected the "
                                 "same size")])
    xywh = np.asarray([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    if p.mask_from == "boxes":
        full = boxes_mask(boxes, h, w)
    else:
        full = np.any([coco.annToMask(a).astype(bool) for a in anns], axis=0)
    small = fit_mask(full, cfg.image_size, cfg.resize)
    check_mask(full, small, path, 0.0)
    return [Item(Path(info["file_name"]).stem, fit_image(x, cfg.image_size, cfg.resize), small,
                 fit_boxes(boxes, h, w, cfg.image_size, cfg.resize))]


def _category_ids(coco: Any, path: Path, names: tuple[str, ...]) -> list[int]:
    known = {c["name"]: c["id"] for c in coco.loadCats(coco.getCatIds())}
    missing = [n for n in names if n not in known]
    if missing:
        raise DataError([Problem(str(path), f"no categories {missing}; expected names among "
                                            f"{sorted(known)}")])
    return [known[n] for n in names]


def _kept(coco: Any, image_id: int, cats: list[int], p: CocoParams) -> list[dict[str, Any]]:
    crowd = None if p.include_crowd else False
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=cats, iscrowd=crowd))
    return [a for a in anns if a["bbox"][2] * a["bbox"][3] >= max(p.min_box_area, 1e-9)]


def build_coco_boxes(cfg: DataConfig) -> DiskSet:
    """The ``coco_boxes`` adapter; ``cfg.params`` is validated as :class:`CocoParams`."""
    p = build(CocoParams, cfg.params, "data.params")
    root = dataset_root(cfg)
    ann_path, folder = root / p.annotations, root / p.images
    try:
        coco = read_coco(ann_path)
        cats = _category_ids(coco, ann_path, p.categories)
        if not folder.is_dir():
            raise DataError([Problem(str(folder), "no such folder; expected the images "
                                                  "(data.params.images)")])
    except DataError as err:
        raise DataError(err.problems, cfg.name) from None
    image_ids = sorted({i for c in cats for i in coco.getImgIds(catIds=[c])})
    sources = []
    for image_id in image_ids:
        anns = _kept(coco, image_id, cats, p)
        if anns:
            info = coco.loadImgs([image_id])[0]
            load = partial(_load_image, coco, info, anns, folder, cfg, p)
            sources.append(Source(str(folder / info["file_name"]), load))
    if not sources:
        raise DataError([Problem(str(ann_path), f"no image has an instance of {list(p.categories)}"
                                                "; expected at least one")], cfg.name)
    return DiskSet(cfg.name, root, sources, cfg.skip_bad)
