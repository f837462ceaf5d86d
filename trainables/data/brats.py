"""``brats``: axial slices of BraTS subject folders of NIfTI volumes (nibabel).

Each subject folder holds one volume per modality and a label volume (BraTS 2020:
``BraTS20_Training_001_flair.nii.gz`` … ``_seg.nii.gz``; labels 0 background, 1 necrosis,
2 oedema, 4 enhancing tumour). An item is an axial slice of the chosen modality with the
whole-tumour mask (label > 0): the slice with the largest tumour area (seed 000), or every slice
above an area threshold. Intensities are normalised per volume over brain voxels.

File names are patterns, so other distributions read as they come, e.g. DeepMedic's BRATS 2013
example (``../shared/data/brats2013_deepmedic/nifti``)::

    --set data.params.image_pattern=Flair_subtrMeanDivStd.nii.gz
    --set data.params.label_pattern=OTMultiClass.nii.gz
    --set data.params.brain_pattern=brainmask.nii.gz

Slices are shown as ``flipud(volume[:, :, z].T)``, the orientation of that sample's PNG slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from trainables.config import DataConfig
from trainables.config.parse import build
from trainables.data.disk import DiskSet, Item, Source, check_mask, dataset_root
from trainables.data.problems import DataError, Problem
from trainables.data.transforms import MAX_IMAGE_PIXELS, fit_image, fit_mask, too_large


@dataclass(frozen=True)
class BratsParams:
    """``data.params`` of ``brats``.

    Attributes:
        subjects: glob of the subject folders under the root (a root that itself holds the
            volumes is one subject).
        modality: the image modality, substituted for ``{modality}`` in ``image_pattern``
            (BraTS 2020: ``flair``, ``t1``, ``t1ce``, ``t2``; seed 000 does not say which).
        image_pattern: the image volume's file name in a subject folder (glob).
        label_pattern: the label volume's file name (glob); tumour = label > 0.
        brain_pattern: a brain-mask volume (> 0 = brain) for the intensity window; ``None``
            takes voxels above the volume's minimum (the background of skull-stripped and of
            z-scored volumes alike).
        slices: ``largest`` (the axial slice with the most tumour voxels, one item per
            subject) or ``above_area`` (every slice with at least ``min_tumour_pixels``).
        min_tumour_pixels: tumour voxels a slice needs to be used, in the volume's pixels.
        intensity: ``percentile`` maps ``percentiles`` of the brain voxels to [0, 1] and clips;
            ``minmax`` maps the brain's min..max. Outside the brain is 0.
        percentiles: the low and high percentile of ``percentile``.
    """

    subjects: str = "*"
    modality: str = "flair"
    image_pattern: str = "*_{modality}.nii*"
    label_pattern: str = "*_seg.nii*"
    brain_pattern: str | None = None
    slices: Literal["largest", "above_area"] = "largest"
    min_tumour_pixels: int = field(default=1, metadata={"ge": 1})
    intensity: Literal["percentile", "minmax"] = "percentile"
    percentiles: tuple[float, float] = field(default=(0.5, 99.5), metadata={"ge": 0.0,
                                                                            "le": 100.0})

    def __post_init__(self) -> None:
        try:
            self.image_pattern.format(modality=self.modality)
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"data.params.image_pattern: {self.image_pattern!r}; expected a "
                             "glob whose only placeholder is '{modality}'") from None
        if self.percentiles[0] >= self.percentiles[1]:
            raise ValueError(f"data.params.percentiles: {list(self.percentiles)}; expected "
                             "low < high")


def read_volume(path: Path, max_voxels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A 3-D NIfTI volume as a numpy array.

    The shape in the header is checked (3-D, at most ``max_voxels`` voxels:
    ``data.max_image_pixels``) before the data are read; nibabel reads the header alone.

    Raises:
        DataError: the file cannot be read as NIfTI, is not 3-D, or is larger than allowed.
    """
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape = tuple(int(d) for d in image.shape)
        if len(shape) != 3:
            raise DataError([Problem(str(path), f"volume has shape {shape}; expected 3-D")])
        error = too_large(path, shape, max_voxels, "voxels")
        if error is not None:
            raise error
        vol = np.asanyarray(image.dataobj)
    except DataError:
        raise
    except Exception as err:  # nibabel raises many types (ImageFileError, EOFError, zlib)
        raise DataError([Problem(str(path), f"cannot be read as NIfTI ({type(err).__name__}: "
                                            f"{err}); expected a .nii or .nii.gz volume")]
                        ) from None
    return vol


def _one_file(subject: Path, pattern: str, key: str) -> Path:
    found = sorted(f for f in subject.glob(pattern) if f.is_file())
    if len(found) != 1:
        names = ", ".join(f.name for f in found)
        here = sorted(f.name for f in subject.iterdir() if f.is_file())[:8]
        what = f"{len(found)} files ({names})" if found else (
            f"no file (the folder holds: {', '.join(here) or 'nothing'})")
        raise DataError([Problem(str(subject / pattern), f"{what}; expected exactly one file "
                                 f"matching (data.params.{key})")])
    return found[0]


def normalise_volume(vol: np.ndarray, brain: np.ndarray, p: BratsParams) -> np.ndarray:
    """Per-volume intensity window over ``brain`` voxels → float32 in [0, 1], 0 outside."""
    values = vol[brain].astype(np.float64)
    if p.intensity == "percentile":
        lo, hi = np.percentile(values, p.percentiles)
    else:
        lo, hi = values.min(), values.max()
    out = np.clip((vol.astype(np.float32) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    out[~brain] = 0.0
    return out.astype(np.float32)


def tumour_slices(tumour: np.ndarray, p: BratsParams) -> list[int]:
    """Axial indices used: the largest-area slice, or all slices at or above the area."""
    area = tumour.sum(axis=(0, 1))
    if p.slices == "largest":
        z = int(area.argmax())
        return [z] if area[z] >= p.min_tumour_pixels else []
    return [int(z) for z in np.flatnonzero(area >= p.min_tumour_pixels)]


def _same_grid(path: Path, shape: tuple[int, ...], label: tuple[int, ...]) -> None:
    if shape != label:
        raise DataError([Problem(str(path), f"volume shape {shape} differs from the label "
                                            f"volume's {label}; expected the same grid")])


def _load_subject(subject: Path, name: str, cfg: DataConfig, p: BratsParams) -> list[Item]:
    image_path = _one_file(subject, p.image_pattern.format(modality=p.modality),
                           "image_pattern")
    label_path = _one_file(subject, p.label_pattern, "label_pattern")
    label = read_volume(label_path, cfg.max_image_pixels)
    tumour = label > 0
    picked = tumour_slices(tumour, p)
    if not picked:
        raise DataError([Problem(str(label_path), f"no axial slice with >= "
                                 f"{p.min_tumour_pixels} tumour voxels (label > 0); expected "
                                 "a tumour")])
    vol = read_volume(image_path, cfg.max_image_pixels)
    _same_grid(image_path, vol.shape, label.shape)
    if p.brain_pattern:
        brain_path = _one_file(subject, p.brain_pattern, "brain_pattern")
        brain = read_volume(brain_path, cfg.max_image_pixels) > 0
        _same_grid(brain_path, brain.shape, label.shape)
    else:
        brain = vol > vol.min()
    if not brain.any():
        raise DataError([Problem(str(image_path), "no brain voxels (all values equal, or an "
                                                  "empty brain mask); expected an image")])
    x = normalise_volume(vol, brain, p)
    items = []
    for z in picked:
        full = np.flipud(tumour[:, :, z].T)
        small = fit_mask(full, cfg.image_size, cfg.resize)
        check_mask(full, small, f"{label_path}[z={z}]", 0.0)
        image = fit_image(np.flipud(x[:, :, z].T), cfg.image_size, cfg.resize)
        items.append(Item(f"{name}_z{z:03d}", image, small))
    return items


def _subjects(root: Path, p: BratsParams) -> list[Path]:
    pattern = p.image_pattern.format(modality=p.modality)
    if any(root.glob(pattern)):
        return [root]
    subjects = sorted(d for d in root.glob(p.subjects) if d.is_dir())
    if not subjects:
        raise DataError([Problem(str(root), f"no subject folders matching {p.subjects!r} and "
                                 f"no {pattern!r} here; expected subject folders of NIfTI "
                                 "volumes")])
    return subjects


def build_brats(cfg: DataConfig) -> DiskSet:
    """The ``brats`` adapter; ``cfg.params`` is validated as :class:`BratsParams`."""
    p = build(BratsParams, cfg.params, "data.params")
    root = dataset_root(cfg)
    try:
        subjects = _subjects(root, p)
    except DataError as err:
        raise DataError(err.problems, cfg.name) from None
    sources = [Source(str(s), partial(_load_subject, s, s.name, cfg, p)) for s in subjects]
    return DiskSet(cfg.name, root, sources, cfg.skip_bad)
