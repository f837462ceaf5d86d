"""Orientation cues in a dataset: where its dark and bright pixels sit, by quadrant.

A rotation study asks how a network's saliency changes with the angle an image is turned by;
a dataset whose images carry a fixed mark in one place (Kvasir-SEG's black inset box in the
bottom-left corner, burned-in text on the left) gives every rotation away without any anatomy.
The check looks inside the *field of view*, the disc inscribed in the square image (the part
that stays in view at every rotation angle), and counts, per quadrant, the pixels whose grey
level (the mean of the channels) is dark (< :data:`DARK`) or bright (> :data:`BRIGHT`).

Without a cue the dataset's distribution does not change when an image is turned by a multiple
of 90° or mirrored, and each quadrant holds about 25 % of those pixels. The null distribution is
made exactly so: each image's four quadrant counts are moved by an independent random symmetry
of the square (one of 8), the counts pooled, and the largest share recorded; the p-value is the
share of such draws at least as large as the data's. A cue is flagged when one quadrant holds at
least :data:`FLAG_SHARE` of the pixels *and* p < :data:`FLAG_P` (an effect that matters and is
not chance from a few images with large dark areas).

Known answers (tests): synthetic discs and rectangles (each item moved by a random symmetry)
are not flagged; a folder of images with a black box in one corner is; the Kvasir-SEG samples
are flagged (dark: about 85 % in the bottom-left quadrant) unless ``mask_inset`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DARK = 0.05
BRIGHT = 0.95
FLAG_SHARE = 0.40
FLAG_P = 0.01
MIN_FRACTION = 1e-3  # fewer such pixels (share of the field of view) are too few to judge
N_DRAWS = 999
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
# the 8 symmetries of the square as permutations of (TL, TR, BL, BR): new[j] = old[perm[j]]
_SYMMETRIES = np.array([
    [0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0], [1, 3, 0, 2],  # rotations by 0, 90, 180, 270
    [1, 0, 3, 2], [0, 2, 1, 3], [2, 3, 0, 1], [3, 1, 2, 0],  # the four mirrors
])


@dataclass(frozen=True)
class QuadrantCue:
    """Where one kind of pixel (dark or bright) sits in a dataset's fields of view.

    Attributes:
        kind: ``dark`` or ``bright``.
        shares: the share of those pixels in each quadrant (:data:`QUADRANTS` order).
        fraction: those pixels as a share of all field-of-view pixels.
        mostly: per quadrant, the images whose pixels of this kind are mostly (> 50 %) there.
        p_value: of the largest share under the symmetry null (1.0 when too few pixels).
        flagged: a cue: one quadrant holds ≥ :data:`FLAG_SHARE` and p < :data:`FLAG_P`.
    """

    kind: str
    shares: tuple[float, float, float, float]
    fraction: float
    mostly: tuple[int, int, int, int]
    p_value: float
    flagged: bool

    def line(self) -> str:
        """One line: the shares, the images that carry it, the verdict."""
        if self.fraction < MIN_FRACTION:
            return (f"{self.kind} pixels: {100 * self.fraction:.2f}% of the field of view, too "
                    "few to judge")
        top = int(np.argmax(self.shares))
        shares = ", ".join(f"{q} {100 * s:.0f}%" for q, s in zip(QUADRANTS, self.shares,
                                                                    strict=True))
        verdict = (f"ORIENTATION CUE: {100 * self.shares[top]:.0f}% in the {QUADRANTS[top]} "
                   f"quadrant ({self.mostly[top]} images mostly there)" if self.flagged
                   else "no cue")
        return (f"{self.kind} pixels ({100 * self.fraction:.1f}% of the field of view): "
                f"{shares}; p {self.p_value:.3f}: {verdict}")


class CueCounter:
    """Quadrant counts of dark and bright field-of-view pixels, one image at a time.

    Args:
        size: the side of the square images counted.
    """

    def __init__(self, size: int) -> None:
        r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        yy, xx = torch.meshgrid(r, r, indexing="ij")
        disc = yy**2 + xx**2 <= (size / 2) ** 2
        self.quadrants = torch.stack([disc & (yy < 0) & (xx < 0), disc & (yy < 0) & (xx > 0),
                                      disc & (yy > 0) & (xx < 0), disc & (yy > 0) & (xx > 0)])
        self.n_fov = int(disc.sum())
        self.counts: dict[str, list[np.ndarray]] = {"dark": [], "bright": []}

    def add(self, image: torch.Tensor) -> None:
        """Count one ``(C, S, S)`` image in [0, 1]."""
        grey = image.float().mean(dim=0)
        for kind, where in (("dark", grey < DARK), ("bright", grey > BRIGHT)):
            per_q = (self.quadrants & where).flatten(1).sum(dim=1)
            self.counts[kind].append(per_q.numpy().astype(np.int64))

    def result(self, seed: int = 0) -> tuple[QuadrantCue, ...]:
        """The dark and the bright :class:`QuadrantCue` of every image added."""
        return tuple(quadrant_cue(kind, np.array(self.counts[kind]).reshape(-1, 4),
                                  self.n_fov, seed) for kind in ("dark", "bright"))


def symmetry_p_value(counts: np.ndarray, observed: float, seed: int = 0,
                     n_draws: int = N_DRAWS) -> float:
    """P(largest pooled share ≥ ``observed``) when each image's quadrant counts ``(N, 4)`` are
    moved by an independent uniformly random symmetry of the square."""
    rng = np.random.default_rng(seed)
    moved = counts[:, _SYMMETRIES]  # (N, 8, 4): every image under every symmetry
    total = float(counts.sum())
    hits = 0
    chunk = max(1, min(100, 1_000_000 // max(len(counts), 1)))  # bounded memory for big sets
    for start in range(0, n_draws, chunk):
        n = min(chunk, n_draws - start)
        pick = rng.integers(0, len(_SYMMETRIES), size=(n, len(counts)))
        pooled = moved[np.arange(len(counts))[None, :], pick].sum(axis=1)  # (n, 4)
        hits += int((pooled.max(axis=1) / total >= observed - 1e-12).sum())
    return (1 + hits) / (1 + n_draws)


def quadrant_cue(kind: str, counts: np.ndarray, n_fov: int, seed: int = 0) -> QuadrantCue:
    """The :class:`QuadrantCue` of per-image quadrant counts ``(N, 4)``."""
    total = float(counts.sum())
    fraction = total / max(n_fov * len(counts), 1)
    if fraction < MIN_FRACTION or total == 0:
        return QuadrantCue(kind, (0.25, 0.25, 0.25, 0.25), fraction, (0, 0, 0, 0), 1.0, False)
    shares = counts.sum(axis=0) / total
    per_image = counts.sum(axis=1)
    major = counts.max(axis=1) > 0.5 * per_image
    mostly = tuple(int(((counts.argmax(axis=1) == q) & major).sum()) for q in range(4))
    p = symmetry_p_value(counts, float(shares.max()), seed)
    flagged = bool(shares.max() >= FLAG_SHARE and p < FLAG_P)
    as_tuple = (float(shares[0]), float(shares[1]), float(shares[2]), float(shares[3]))
    return QuadrantCue(kind, as_tuple, fraction, mostly, p, flagged)  # type: ignore[arg-type]
