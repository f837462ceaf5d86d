"""The common steps from a file's pixels to a :data:`~trainables.data.base.Sample`.

Read (any PIL mode, 8 or 16 bit) → intensity to [0, 1] → grey stays one channel (three equal
channels are folded to one, and expanded again only when a sample is made) → fit to a square
(``stretch``, centre ``crop`` or zero ``pad``) → resize to ``data.image_size`` with antialiasing →
uint8 for the in-memory cache. Masks are resized as coverage (bilinear, antialiased) and kept
where at least half a pixel is foreground, so thin structures neither grow nor vanish by
nearest-neighbour aliasing; boxes follow the same geometry.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from trainables.data.problems import DataError, Problem

Resize = Literal["stretch", "crop", "pad"]
Intensity = Literal["scale", "minmax", "percentile"]

# Pillow modes folded to the three we compute with: grey, RGB, or a wide integer/float grey.
_CONVERT = {"1": "L", "LA": "L", "La": "L", "P": "RGBA", "PA": "RGBA", "RGBA": "RGB",
            "RGBa": "RGB", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB",
            "HSV": "RGB"}


# ``data.max_image_pixels``' default: 50 megapixels (a 10000 x 10000 PNG, 100 MP, decodes to
# 300 MB as uint8 RGB and 1.2 GB as float32, in every process that reads it)
MAX_IMAGE_PIXELS = 50_000_000


def too_large(path: Path | str, shape: tuple[int, ...], limit: int, unit: str = "pixels"
              ) -> DataError | None:
    """The error for a file whose header declares more than ``limit`` pixels (or voxels)."""
    n = int(np.prod(shape, dtype=np.int64))
    if n <= limit:
        return None
    size = " x ".join(str(d) for d in shape)
    return DataError([Problem(str(path), f"declares {size} = {n:,} {unit}, more than "
                                         f"data.max_image_pixels = {limit:,}; refused before "
                                         "decoding (raise data.max_image_pixels if the file "
                                         "is genuine)")])


def read_pixels(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """The pixels of an image file: ``(H, W)`` or ``(H, W, 3)``; uint8, uint16, int32 or float32.

    Alpha is dropped (palette images are expanded first). The size in the file's header is
    checked against ``max_pixels`` before anything is decoded (PIL reads the header only when
    opening); then the whole file is decoded, so a truncated or corrupt file fails now, naming
    the file. PIL's own decompression-bomb limit (about 179 MP) still refuses larger files.

    Raises:
        DataError: the file is missing, unreadable, not an image, or larger than ``max_pixels``.
    """
    try:
        with warnings.catch_warnings():
            # our limit decides below PIL's hard one; PIL's warning would only repeat it
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError:
        raise DataError([Problem(str(path), "missing; expected an image file")]) from None
    except Image.DecompressionBombError as err:
        raise DataError([Problem(str(path), f"refused before decoding: {err}")]) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError([Problem(str(path), f"cannot be read as an image ({err}); expected "
                                            "a readable PNG, JPEG, TIFF or BMP file")]) from None
    with im:
        error = too_large(path, (im.size[0], im.size[1]), max_pixels)
        if error is not None:
            raise error
        return _decode(im, path)


def _decode(im: Image.Image, path: Path) -> np.ndarray:
    """Decode an opened image (its header checked) to the array :func:`read_pixels` returns."""
    try:
        im.load()
        mode = _CONVERT.get(im.mode, im.mode)
        if mode == "RGBA":  # a palette with transparency: expand, then drop alpha
            im = im.convert("RGBA").convert("RGB")
        elif mode != im.mode:
            im = im.convert(mode)
        arr = np.asarray(im)
    except (OSError, ValueError, SyntaxError) as err:
        raise DataError([Problem(str(path), f"cannot be read as an image ({err}); expected "
                                            "a readable PNG, JPEG, TIFF or BMP file")]) from None
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def to_unit(arr: np.ndarray, rule: Intensity = "scale",
            percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Intensities mapped to [0, 1] as float32, same shape.

    Args:
        arr: pixels from :func:`read_pixels`.
        rule: ``scale`` divides by the type's full range (uint8: 255, uint16: 65535; other
            types fall back to ``minmax``); ``minmax`` stretches the image's own min..max;
            ``percentile`` stretches ``percentiles`` of the image's values and clips.
        percentiles: low and high percentile of ``percentile``.
    """
    x = arr.astype(np.float32)
    if rule == "scale" and arr.dtype in (np.uint8, np.uint16, np.bool_):
        top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
        return x / top
    if rule == "percentile":
        lo, hi = np.percentile(x, percentiles)
    else:
        lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros_like(x)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def fold_gray(x: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` with three equal channels (RGB-encoded grey) → ``(H, W)``; else unchanged."""
    if x.ndim == 3 and np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(
            x[..., 0], x[..., 2]):
        return x[..., 0]
    return x


def mask_from_pixels(arr: np.ndarray, threshold: float) -> np.ndarray:
    """Foreground = value > ``threshold`` (colour masks: the brightest channel), ``(H, W)`` bool.

    JPEG masks carry ringing around 0 and 255, hence the default threshold 127; label masks
    (BraTS 0–4) need 0.
    """
    values = arr.max(axis=-1) if arr.ndim == 3 else arr
    return values > threshold


def _window(h: int, w: int, mode: Resize) -> tuple[int, int, int, int]:
    """``(y0, x0, side_y, side_x)`` of the source window mapped onto the output square; a
    negative offset means zero padding."""
    if mode == "stretch":
        return 0, 0, h, w
    side = min(h, w) if mode == "crop" else max(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


def _cut(x: np.ndarray, h: int, w: int, mode: Resize) -> np.ndarray:
    y0, x0, sy, sx = _window(h, w, mode)
    if mode == "crop":
        return x[y0:y0 + sy, x0:x0 + sx]
    if mode == "pad":
        pad = [(-y0, sy - h + y0), (-x0, sx - w + x0)] + [(0, 0)] * (x.ndim - 2)
        return np.pad(x, pad)
    return x


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear with antialiasing (the same resampling as ``study.launch.hog``); float32 in, out."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    if t.shape[-2:] != (size, size):
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
    out = t[0, 0] if x.ndim == 2 else t[0].permute(1, 2, 0)
    return out.numpy()


def fit_image(x: np.ndarray, size: int, mode: Resize) -> np.ndarray:
    """A [0, 1] image ``(H, W[, 3])`` → uint8 ``(size, size[, 3])``."""
    h, w = x.shape[:2]
    out = _resize(_cut(x, h, w, mode), size)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def fit_mask(mask: np.ndarray, size: int, mode: Resize) -> np.ndarray:
    """A bool mask ``(H, W)`` → bool ``(size, size)``: the pixels at least half covered.

    A foreground too small to half-cover any output pixel keeps its most-covered pixel(s)
    instead of vanishing (a 3-voxel lesion on a 240-pixel slice at 64 px), so every mask that
    had a foreground still has one; one cropped away entirely is empty.
    """
    h, w = mask.shape
    cover = _resize(_cut(mask.astype(np.float32), h, w, mode), size)
    out = cover >= 0.5
    top = float(cover.max())
    if not out.any() and top > 1e-6:
        out = cover >= top * (1 - 1e-6)
    return out


def fit_boxes(boxes: np.ndarray, h: int, w: int, size: int, mode: Resize) -> np.ndarray:
    """Boxes ``(K, 4)`` x0, y0, x1, y1 in source pixels → the same boxes in output pixels,
    clipped to the image (a box cropped away entirely becomes empty, x0 == x1)."""
    y0, x0, sy, sx = _window(h, w, mode)
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - x0) * (size / sx)
    b[:, [1, 3]] = (b[:, [1, 3]] - y0) * (size / sy)
    return np.clip(b, 0.0, float(size)).astype(np.float32)


def to_tensors(image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached uint8 image ``(S, S[, 3])`` and bool mask → the sample's ``(3, S, S)`` float32 in
    [0, 1] (grey repeated on three channels) and ``(S, S)`` bool."""
    t = torch.from_numpy(image).float().div_(255.0)
    t = t.expand(3, -1, -1).clone() if t.ndim == 2 else t.permute(2, 0, 1).contiguous()
    return t, torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))
