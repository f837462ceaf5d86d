"""Tiny datasets written in the real on-disk layouts, for the ``test_data_*`` modules.

Each writer puts a known object at a known place, so tests can check the adapters' masks,
boxes and labels against it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def rect_of(k: int, h: int, w: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the bright rectangle in image k of :func:`write_pairs`,
    exclusive ends."""
    top, left = 4 + k % 5, 6 + (2 * k) % 7
    return top, left, top + h // 2, left + w // 3


def _textured(rng: np.random.Generator, h: int, w: int, rgb: bool) -> np.ndarray:
    base = rng.integers(20, 60, size=(h, w, 3) if rgb else (h, w))
    return base.astype(np.uint8)


def write_pairs(root: Path, n: int = 6, h: int = 40, w: int = 48, image_ext: str = ".jpg",
                mask_ext: str = ".jpg", images: str = "images", masks: tuple[str, ...] = ("masks",),
                mask_value: int = 255, mask_name: str = "{stem}", rgb: bool = True,
                seed: int = 0) -> list[str]:
    """``n`` images with a bright rectangle (:func:`rect_of`) and its mask(s); with several mask
    folders the rectangle is split between them (left half, right half), as Montgomery's
    left/right lungs. Returns the stems."""
    rng = np.random.default_rng(seed)
    (root / images).mkdir(parents=True, exist_ok=True)
    for m in masks:
        (root / images).parent.joinpath(m).mkdir(parents=True, exist_ok=True)
    stems = []
    for k in range(n):
        stem = f"img{k:03d}"
        top, left, bottom, right = rect_of(k, h, w)
        pixels = _textured(rng, h, w, rgb)
        pixels[top:bottom, left:right] = 220
        Image.fromarray(pixels).save(root / images / f"{stem}{image_ext}", quality=95)
        cuts = np.linspace(left, right, len(masks) + 1).round().astype(int)
        for j, m in enumerate(masks):
            mask = np.zeros((h, w), dtype=np.uint8)
            mask[top:bottom, cuts[j]:cuts[j + 1]] = mask_value
            name = mask_name.format(stem=stem) + mask_ext
            Image.fromarray(mask).save((root / images).parent / m / name, quality=95)
        stems.append(stem)
    return stems


def write_kvasir_boxes(root: Path, stems: list[str], h: int = 40, w: int = 48,
                       name: str = "kavsir_bboxes.json") -> None:
    """Kvasir-SEG's box file for :func:`write_pairs` images (inclusive max, as the original)."""
    boxes = {}
    for k, stem in enumerate(stems):
        top, left, bottom, right = rect_of(k, h, w)
        boxes[stem] = {"height": h, "width": w, "bbox": [
            {"label": "polyp", "xmin": left, "ymin": top, "xmax": right, "ymax": bottom}]}
    (root / name).write_text(json.dumps(boxes))


def brats_volumes(shape: tuple[int, int, int] = (20, 32, 10), seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A FLAIR-like volume (0 outside a brain box) and labels 0/1/2/4 whose tumour area in
    axial slice z is ``6 * z`` for 1 <= z < 8 (largest at z = 7), 0 elsewhere."""
    rng = np.random.default_rng(seed)
    x, y, z = shape
    flair = np.zeros(shape, dtype=np.float32)
    flair[2:x - 2, 2:y - 2, :] = rng.uniform(100, 400, size=(x - 4, y - 4, z))
    label = np.zeros(shape, dtype=np.float32)
    for k in range(1, min(z, 8)):
        label[4:6, 5:5 + 3 * k, k] = np.tile([1, 2, 4], k)  # 2 x 3k voxels, BraTS labels
    return flair, label


def write_nifti(path: Path, volume: np.ndarray) -> None:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.diag([-1.0, -1.0, 1.0, 1.0])), str(path))


def write_brats_subject(root: Path, name: str = "BraTS20_Training_001", seed: int = 0,
                        modalities: tuple[str, ...] = ("flair", "t1")) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """A BraTS 2020 subject folder (other modalities are sqrt(flair)); returns (flair, label)."""
    flair, label = brats_volumes(seed=seed)
    for m in modalities:
        write_nifti(root / name / f"{name}_{m}.nii.gz", flair if m == "flair" else np.sqrt(flair))
    write_nifti(root / name / f"{name}_seg.nii.gz", label)
    return flair, label


def write_coco(root: Path) -> dict[str, Any]:
    """COCO 2017 layout: three images; a cat, a dog + a person, a person only (and a crowd cat
    in the first). Returns the JSON."""
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images, anns = [], []
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 18, "name": "dog"}]
    objects = {1: [(17, [4, 6, 10, 8], 0), (17, [20, 20, 6, 6], 1)],
               2: [(18, [10, 2, 20, 12], 0), (1, [0, 0, 5, 5], 0)],
               3: [(1, [1, 1, 8, 8], 0)]}
    for image_id, objs in objects.items():
        name = f"{image_id:012d}.jpg"
        Image.fromarray(np.full((30, 40, 3), 80, np.uint8)).save(root / "val2017" / name)
        images.append({"id": image_id, "file_name": name, "height": 30, "width": 40})
        for cat, (x, y, bw, bh), crowd in objs:
            poly = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat,
                         "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": crowd,
                         "segmentation": [poly]})
    js = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(js))
    return js


def write_cifar10(root: Path, n_per_batch: int = 3) -> np.ndarray:
    """CIFAR-10's python batches (5 train + test + meta), tiny; returns the train labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        y = rng.integers(0, 10, size=n_per_batch).tolist()
        data = rng.integers(0, 256, size=(n_per_batch, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": y}, f)
        if name.startswith("data"):
            labels += y
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return np.asarray(labels)


def write_svhn(root: Path, split: str = "train", n: int = 5) -> np.ndarray:
    """SVHN's ``{split}_32x32.mat`` (X: 32×32×3×N, y in 1..10 with 10 = digit 0)."""
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    y = np.array([[10], [1], [2], [3], [9]])[:n]
    x = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
    return np.where(y[:, 0] == 10, 0, y[:, 0])


def write_flowers102(root: Path, n: int = 6) -> list[int]:
    """Flowers102's ``jpg/image_00001.jpg`` …, ``imagelabels.mat`` (1-based) and ``setid.mat``
    (train = odd image ids). Returns the 0-based labels of the train split."""
    from scipy.io import savemat

    folder = root / "flowers-102"
    (folder / "jpg").mkdir(parents=True)
    for i in range(1, n + 1):
        Image.fromarray(np.full((20, 30, 3), 10 * i, np.uint8)).save(
            folder / "jpg" / f"image_{i:05d}.jpg")
    labels = np.array([(i % 3) + 1 for i in range(1, n + 1)])
    savemat(folder / "imagelabels.mat", {"labels": labels})
    train = np.arange(1, n + 1, 2)
    savemat(folder / "setid.mat", {"trnid": train, "valid": np.array([2]),
                                   "tstid": np.arange(2, n + 1, 2)})
    return [int(labels[i - 1]) - 1 for i in train]


def write_lfw(root: Path) -> dict[str, int]:
    """LFW's ``<Person_Name>/<Person_Name>_0001.jpg``: Ann 2 images, Bob 1, Cid 3."""
    counts = {"Ann_A": 2, "Bob_B": 1, "Cid_C": 3}
    for person, n in counts.items():
        (root / person).mkdir(parents=True)
        for i in range(1, n + 1):
            Image.fromarray(np.full((25, 25, 3), 40 * i, np.uint8)).save(
                root / person / f"{person}_{i:04d}.jpg")
    return counts
