"""Kvasir-SEG's overlays, found and removed (``data.params.mask_inset``).

About half of the Kvasir-SEG frames carry the endoscope's position inset (Olympus ScopeGuide) as
a box in the bottom-left corner, blacked out (or, rarely, still green), and nearly all carry
burned-in text (date, time, settings) down the left edge. Both sit in the same place in every
frame, so they tell a network which way up an image is: an orientation cue inside the field of
view that a rotation study must not leave in (``rotsweep data check`` measures it).

What is done, per frame, at the file's resolution:

1. **The box** is *detected*, not assumed: overlay pixels are black (every channel < 0.1) or
   green (G > R + 0.1; mucosa is red), and the box is the rectangle anchored at the bottom-left
   (above any bottom margin) whose right edge is where overlay stops along its lowest rows and
   whose top edge is where it stops up its middle column, kept when it spans ≥ 15 % of the
   width, sits in the lower 70 % and is ≥ 90 % overlay. On the 60 samples this finds 32 boxes
   (31 black, 1 green); the other frames' corners are the octagonal field of view's diagonal
   cut, which is ~79 % overlay and is left alone (a fixed box would blank mucosa in those).
2. **The text**: thin bright strokes (:func:`text_pixels`) in the left :data:`TEXT_STRIP` of
   the frame above the box, grown by 2 pixels, and the progress bar's white squares in the
   band just above a box.
3. **Filling**: the box's part that the mirror image of the bottom-right corner shows as black
   margin becomes black (the field of view gets its octagonal corner back, like the other
   three); the rest of the box and the text are filled smoothly from the pixels around them
   (pull-push interpolation, then harmonic smoothing) once the image has its output size.

Masks are not changed: a polyp under the box keeps its mask.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import grey_opening, maximum_filter

MIN_WIDTH = 0.15  # of the frame's width
MIN_TOP = 0.30  # the box's top edge lies below this share of the height
MIN_FILL = 0.90  # share of overlay pixels in the box
TEXT_STRIP = 0.25  # of the width, from the left edge
TEXT_CONTRAST = 0.10
BAR_HEIGHT = 0.08  # of the height: the band above the box that holds the progress bar
SMOOTHING_STEPS = 30  # Jacobi steps per pyramid level


def overlay_pixels(x: np.ndarray) -> np.ndarray:
    """Black (every channel < 0.1) or green (G > R + 0.1) pixels of an ``(H, W, 3)`` frame."""
    return (x.max(axis=-1) < 0.1) | (x[..., 1] > x[..., 0] + 0.1)


def _first_clear(line: np.ndarray, width: int) -> int:
    """The first index that starts ``width`` pixels without overlay (``len(line)`` if none), so
    thin text strokes inside a box do not end it."""
    clear = np.convolve((~line).astype(np.int32), np.ones(width, dtype=np.int32), "valid")
    found = np.flatnonzero(clear == width)
    return int(found[0]) if len(found) else len(line)


def find_box(x: np.ndarray) -> tuple[int, int, int] | None:
    """The inset box of an RGB frame in [0, 1], as ``(top, bottom, right)`` (rows top..bottom,
    columns 0..right, exclusive ends), or ``None``; see the module docstring."""
    h, w = x.shape[:2]
    ov = overlay_pixels(x)
    bottom = h
    while bottom > h // 2 and ov[bottom - 1].mean() >= 0.98:  # a black margin under the frame
        bottom -= 1
    y = bottom - 1 - max(1, h // 50)
    if y < h // 2:
        return None
    right = min(_first_clear(ov[r], max(3, w // 40)) for r in (y, max(h // 2, y - h // 20)))
    if not MIN_WIDTH * w <= right <= 0.6 * w:
        return None
    top = y + 1 - _first_clear(ov[: y + 1, right // 2][::-1], max(3, h // 40))
    if top < MIN_TOP * h or ov[top:bottom, :right].mean() < MIN_FILL:
        return None
    return top, bottom, right


def overlay_masks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(fill, black, has_box)`` for an RGB frame: the pixels to fill from their surroundings
    (the box inside the field of view, the text) and those to set black (the box's margin
    part, taken from the mirrored bottom-right corner)."""
    h, w = x.shape[:2]
    fill = np.zeros((h, w), dtype=bool)
    black = np.zeros((h, w), dtype=bool)
    box = find_box(x)
    text_bottom = h
    if box is not None:
        top, bottom, right = box
        pad = max(2, min(h, w) // 150)  # JPEG ringing around the box's edges
        region = np.zeros((h, w), dtype=bool)
        region[max(0, top - pad):bottom, :min(w, right + pad)] = True
        margin = (x.max(axis=-1) < 0.1)[:, ::-1]  # the bottom-right corner, mirrored
        black = region & margin
        fill = region & ~margin
        text_bottom = max(0, top - pad)
    strip = int(TEXT_STRIP * w)
    fill[:text_bottom, :strip] |= text_pixels(x[:text_bottom, :strip])
    if box is not None:  # the progress bar's pure white squares sit right above the box
        bar = max(0, text_bottom - int(BAR_HEIGHT * h))
        fill[bar:text_bottom, :strip] |= text_pixels(x[bar:text_bottom, :strip], glints=False,
                                                      width=max(15, w // 25))
    return fill & ~black, black, box is not None


def text_pixels(x: np.ndarray, glints: bool = True, width: int = 11) -> np.ndarray:
    """Burned-in text in an RGB region: bright strokes (grey level more than
    :data:`TEXT_CONTRAST` above its ``width``-pixel morphological opening, which the letters are
    narrower than; the text is blended with the mucosa, so its
    colour does not tell it apart) that are not saturated white (the cores of specular glints
    stay, unless ``glints`` is false), grown by 2 pixels to take the strokes' JPEG fringes."""
    grey = x.mean(axis=-1)
    strokes = grey - grey_opening(grey, size=width) > TEXT_CONTRAST
    if glints:
        strokes &= x.min(axis=-1) < 0.97
    return maximum_filter(strokes, size=5)


def _halve(a: np.ndarray) -> np.ndarray:
    """Sums over 2 x 2 cells of ``(H, W, C)`` (zero-padded to even sides)."""
    h, w, c = a.shape
    a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, c).sum(axis=(1, 3))


def _neighbours(p: np.ndarray) -> np.ndarray:
    """The sum of the 4 neighbours of each inner pixel of a padded ``(H + 2, W + 2, C)``."""
    return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]


def _relax(values: np.ndarray, hole: np.ndarray, usable: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` Jacobi steps of the Laplace equation on the ``hole`` pixels of ``values``
    ``(H, W, C)``: each becomes the mean of its ``usable`` 4-neighbours (in place, returned)."""
    if not hole.any():
        return values
    rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
    window = (slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2))
    part, inside = values[window], hole[window]  # views: the steps write into ``values``
    pad = ((1, 1), (1, 1), (0, 0))
    weight = np.pad(usable[window].astype(values.dtype)[..., None], pad, mode="edge")
    total = np.maximum(_neighbours(weight), 1e-12)
    for _ in range(steps):
        mean = _neighbours(np.pad(part, pad, mode="edge") * weight) / total
        part[inside] = mean[inside]
    return values


def inpaint(image: np.ndarray, hole: np.ndarray, ignore: np.ndarray | None = None,
            steps: int = SMOOTHING_STEPS) -> np.ndarray:
    """``image`` ``(S, S[, C])`` with the ``hole`` pixels filled smoothly from the others,
    except the ``ignore`` pixels (the black margin outside the field of view), which never
    feed the fill.

    Multigrid pull-push: the usable pixels are summed down a pyramid until every coarse cell
    has some; coming back up, each level's unknown cells start from the coarser level and take
    ``steps`` Jacobi steps of the Laplace equation, so the fill is close to the harmonic
    (smoothest) one and meets its surroundings without an edge; a linear ramp is reproduced
    to within 1 % (tests).
    """
    if not hole.any() or hole.all():
        return image
    x = np.array(image, dtype=np.float64).reshape(*image.shape[:2], -1)
    source = ~hole if ignore is None else ~hole & ~ignore
    levels = [(x * source[..., None], source.astype(np.float64)[..., None])]
    while (levels[-1][1] <= 0).any() and min(levels[-1][1].shape[:2]) > 1:
        xs, ws = levels[-1]
        levels.append((_halve(xs), _halve(ws)))
    xs, ws = levels[-1]
    mean = xs.sum(axis=(0, 1), keepdims=True) / max(float(ws.sum()), 1e-12)
    estimate = np.broadcast_to(mean, xs.shape).copy()  # the coarsest level: the mean
    for level, (xs, ws) in reversed(list(enumerate(levels))):
        if level < len(levels) - 1:
            estimate = np.repeat(np.repeat(estimate, 2, axis=0), 2, axis=1)[: xs.shape[0],
                                                                              : xs.shape[1]]
        known = ws[..., 0] > 0
        estimate = np.where(known[..., None], xs / np.maximum(ws, 1e-12), estimate)
        usable = source | hole if level == 0 else np.ones_like(known)
        estimate = _relax(estimate, ~known, usable, steps)
    out = x.copy()
    out[hole] = estimate[hole]
    return out.reshape(image.shape).astype(image.dtype)
