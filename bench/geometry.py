"""Geometry checks of issue 19: masks scored in the images' geometry, and no frame cue at the rim.

Two families of measurement, used by ``bench/rotation.py`` (which prints them) and by the
known-answer tests in ``tests/trainables/test_geometry_known_answers.py``:

- **Mask geometries** (:func:`perfect_map_spread`): a *perfect* saliency map, the rotated mask's
  own image (the mask through the images' band-limited rotation), scored without normalising at
  every angle under each way of putting masks and maps in one frame. A geometry that is right
  gives the same score at every angle; its spread (max − min over the angles) is the bias.
- **Frame-cue detectors** on content with no orientation (white or pink noise): held-out
  accuracy of a logistic regression telling images rotated by one angle from images rotated by
  another, on (a) radially and angularly binned log power spectra, (b) the variance of pixels
  in angular sectors of the outer annulus of the field of view, (c) pixel statistics (mean,
  variance, kurtosis) in rings and sectors; and (d) a CNN trained on the images themselves
  (:func:`cnn_cue_accuracy`: the project's small CNN, which sees every pixel and every local
  correlation the resampling leaves). Chance is 0.5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainables.evaluate import rotated_masks
from trainables.metrics import mask_metrics, minmax
from trainables.models.small import build_small_cnn
from trainables.rotation import Interpolation, fov_mask, rotate_each

Features = Callable[[np.ndarray, float], np.ndarray]
METRICS = ("dice", "iou", "soft_dice", "auc", "mass_in_mask", "q_bbox")


# ---- content ----------------------------------------------------------------------------------

def white_noise(n: int, size: int, seed: int) -> torch.Tensor:
    """``(n, 1, size, size)`` i.i.d. standard normal pixels."""
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


def pink_noise(n: int, size: int, seed: int) -> torch.Tensor:
    """``(n, 1, size, size)`` isotropic 1/f noise (amplitude ∝ 1/|k|), unit variance.

    Made on a periodic grid of 4 × ``size`` and cropped: made on the image's own grid, its
    largest structures are the waves of a square frequency lattice (1/S along the axes, √2/S
    on the diagonals), a real 4-fold orientation the spectrum detector reads (0.65 at 0° vs
    45° with the margin, 300 images per class)."""
    big = 4 * size
    spec = torch.fft.fft2(white_noise(n, big, seed).double())
    k = torch.fft.fftfreq(big, dtype=torch.float64)
    rho = torch.sqrt(k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / big)
    x = torch.fft.ifft2(spec / rho).real[..., :size, :size]
    return ((x - x.mean((-2, -1), keepdim=True)) / x.std((-2, -1), keepdim=True)).float()


def old_fov(size: int) -> torch.Tensor:
    """The field of view before issue 19: the inscribed disk shrunk by one pixel (radius
    ``size / 2 − 1``), whose rim reached into the padding's reach."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    return (r[:, None] ** 2 + r[None, :] ** 2) <= (size / 2 - 1) ** 2


def fov_radius(fov: torch.Tensor) -> float:
    """The radius of a disk field of view, from its pixels (the largest centre distance)."""
    s = fov.shape[-1]
    r = torch.arange(s, dtype=torch.float64) - (s - 1) / 2
    return float(torch.sqrt(r[:, None] ** 2 + r[None, :] ** 2)[fov].max())


# ---- detectors --------------------------------------------------------------------------------

def _polar(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    return np.hypot(yy, xx), np.degrees(np.arctan2(yy, xx)) % 360


def _axis_class(phi: np.ndarray, classes: int) -> np.ndarray:
    """Angular class of each pixel folded by 4-fold symmetry: class 0 is centred on the axes,
    class ``classes // 2`` on the diagonals (a frame cue has the frame's 4-fold symmetry)."""
    width = 90.0 / classes
    return (((phi + width / 2) % 90.0) // width).astype(int)


def spectrum_features(x: np.ndarray, radius: float) -> np.ndarray:
    """Log mean power of each ``(n, S, S)`` image's 2-D spectrum in 9 radial bins (8 up to
    Nyquist, the corners beyond) × 2 angular classes (folded mod 90°: near the axes, near the
    diagonals). Of the binnings tried on the old rim (600 white-noise images per class, 0° vs 45°:
    12 × 6 on a 2S grid 0.62, 8 × 4 0.62, 24 × 2 0.62, 8 × 2 0.66), the strongest."""
    power = np.abs(np.fft.fft2(x)) ** 2
    k = np.fft.fftfreq(x.shape[-1])
    ky, kx = np.meshgrid(k, k, indexing="ij")
    rb = np.minimum((np.hypot(ky, kx) / 0.5 * 8).astype(int), 8)
    ab = _axis_class(np.degrees(np.arctan2(ky, kx)) % 360, 2)
    cols = [power[:, (rb == i) & (ab == j)].mean(1) for i in range(9) for j in range(2)
            if ((rb == i) & (ab == j)).any()]
    return np.log(np.stack(cols, 1) + 1e-12)


def rim_sector_features(x: np.ndarray, radius: float) -> np.ndarray:
    """Log variance of the pixels in each of 4 angular classes (folded mod 90°, class 0 on the
    axes) of each of the 4 one-pixel rings at the outer edge of the field of view."""
    rho, phi = _polar(x.shape[-1])
    ab = _axis_class(phi, 4)
    cols = []
    for k in range(4):
        ring = (rho <= radius - k) & (rho > radius - k - 1)
        cols += [x[:, ring & (ab == j)].var(1) for j in range(4)]
    return np.log(np.stack(cols, 1) + 1e-12)


def pixel_statistics_features(x: np.ndarray, radius: float) -> np.ndarray:
    """Mean, log variance and kurtosis of the pixels in 8 rings (the outer 4 one pixel wide,
    the rest splitting the interior) × 2 angular classes (axes, diagonals)."""
    rho, phi = _polar(x.shape[-1])
    ab = _axis_class(phi, 2)
    edges = [0.0, radius * 0.4, radius * 0.6, radius * 0.8, radius - 4, radius - 3,
             radius - 2, radius - 1, radius]
    cols = []
    for lo, hi in itertools.pairwise(edges):
        for j in range(2):
            v = x[:, (rho > lo) & (rho <= hi) & (ab == j)]
            c = v - v.mean(1, keepdims=True)
            var = (c**2).mean(1)
            cols += [v.mean(1), np.log(var + 1e-12), (c**4).mean(1) / (var**2 + 1e-12)]
    return np.stack(cols, 1)


DETECTORS: dict[str, Features] = {
    "spectrum": spectrum_features,
    "rim_sectors": rim_sector_features,
    "pixel_statistics": pixel_statistics_features,
}


def held_out_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Accuracy on a random held-out half of a standardised logistic regression (C = 1)
    trained on the other half to tell feature rows ``a`` from ``b``."""
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[: len(x) // 2], order[len(x) // 2:]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    clf.fit(x[train], y[train])
    return float(clf.score(x[test], y[test]))


def frame_cue_accuracy(content: torch.Tensor, other: torch.Tensor, angles: tuple[float, float],
                       fov: torch.Tensor, detector: str) -> float:
    """Held-out accuracy of ``detector`` telling ``content`` rotated by ``angles[0]`` from
    ``other`` (different images of the same kind) rotated by ``angles[1]``, both cut to ``fov``
    (a disk, ``(S, S)`` bool) after the default rotation."""
    radius = fov_radius(fov)
    feats = [DETECTORS[detector]((rotate_each(x, [a] * x.shape[0])[:, 0] * fov).numpy(), radius)
             for x, a in ((content, angles[0]), (other, angles[1]))]
    return held_out_accuracy(*feats)



def cnn_cue_accuracy(content: torch.Tensor, other: torch.Tensor, angles: tuple[float, float],
                     fov: torch.Tensor, mode: Interpolation = "band_limited", steps: int = 300,
                     seed: int = 0) -> float:
    """Held-out accuracy of the project's small CNN (width 16, Adam, ``steps`` batches of 64)
    trained on a random half of ``content`` rotated by ``angles[0]`` and ``other`` rotated by
    ``angles[1]`` (``mode``: the resampling; cut to ``fov``), tested on the other half."""
    x = torch.cat([rotate_each(content, [angles[0]] * len(content), mode),
                   rotate_each(other, [angles[1]] * len(other), mode)]) * fov
    x = x.expand(-1, 3, -1, -1)
    y = torch.cat([torch.zeros(len(content)), torch.ones(len(other))]).long()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = order[: len(x) // 2], order[len(x) // 2:]
    return cnn_held_out(x[train], y[train], x[test], y[test], width=16, steps=steps, seed=seed,
                        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3))


def cnn_held_out(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor,
                 width: int, steps: int, seed: int,
                 optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
                 ) -> float:
    """Accuracy on ``(xt, yt)`` of the project's small CNN (``width``) and a linear head
    trained for ``steps`` random batches of 64 from ``(x, y)`` (``seed``: weights and batches)."""
    torch.manual_seed(seed)
    enc = build_small_cnn({"width": width}, image_size=x.shape[-1])
    head = torch.nn.Linear(enc.embed_dim, 2)
    opt = optimizer([*enc.parameters(), *head.parameters()])
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(x), (64,), generator=g)
        loss = F.cross_entropy(head(enc(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval()
    with torch.no_grad():
        return float((head(enc(xt)).argmax(1) == yt).float().mean())


# ---- mask geometries --------------------------------------------------------------------------

def _score(maps: torch.Tensor, mask: torch.Tensor, soft: torch.Tensor | None,
           region: torch.Tensor) -> dict[str, torch.Tensor]:
    return mask_metrics(maps, mask, region, "match_mask_area", 0.5, boxes=mask, soft=soft)


def geometry_scores(masks: torch.Tensor, angle: float, geometry: str, crop: str = "disk"
                    ) -> dict[str, torch.Tensor]:
    """Every metric of the perfect map of ``masks`` ``(B, S, S)`` at ``angle`` under one
    geometry (``match_mask_area`` binarisation, maps not normalised, box = the mask):

    - ``nearest``: the mask rotated by nearest neighbour (before issue 19);
    - ``soft`` (the default, :func:`trainables.evaluate.rotated_masks`): the mask rotated by
      the images' path; threshold-free metrics against the soft mask, the rest against it
      thresholded at 0.5;
    - ``clipped``: as ``soft``, the soft mask clipped to [0, 1];
    - ``thresholded``: the same mask thresholded at 0.5 for every metric;
    - ``back_rotated``: the map rotated back by −angle through the images' path and scored
      against the mask at 0° of the ``soft`` geometry (the map resampled instead of the mask).
    """
    b, size = masks.shape[0], masks.shape[-1]
    region = fov_mask(size, crop)  # type: ignore[arg-type]
    degrees = [angle] * b
    perfect = rotated_masks(masks, degrees)[0]
    if geometry == "nearest":
        return _score(perfect, rotate_each(masks, degrees, "nearest").bool(), None, region)
    if geometry == "back_rotated":
        back = rotate_each(perfect * region, [-angle] * b)
        soft0, binary0 = rotated_masks(masks, [0.0] * b)
        return _score(back, binary0, soft0, region)
    soft, binary = rotated_masks(masks, degrees)
    if geometry == "clipped":
        return _score(perfect, binary, soft.clamp(0, 1), region)
    return _score(perfect, binary, soft if geometry == "soft" else None, region)


def perfect_map_spread(masks: torch.Tensor, angles: list[float], geometry: str
                       ) -> dict[str, float]:
    """Per metric, the largest (over the masks) spread max − min over ``angles`` of the
    perfect map's score under ``geometry`` (see :func:`geometry_scores`)."""
    per = [geometry_scores(masks, a, geometry) for a in angles]
    out = {}
    for name in METRICS:
        v = torch.stack([p[name] for p in per]).double()  # A x B
        out[name] = float((v.amax(0) - v.amin(0)).max())
    return out


def noisy_map_change(masks: torch.Tensor, angle: float, noise: float = 0.3, seed: int = 0
                     ) -> dict[str, float]:
    """What rotating the *map* back (``back_rotated``) does to a map the network might give:
    the perfect map plus white noise of std ``noise`` (clipped at 0, ``minmax``-normalised),
    scored ``soft`` in the map's frame and ``back_rotated``; the mean absolute difference per
    metric (0 if resampling the map changed nothing)."""
    b, size = masks.shape[0], masks.shape[-1]
    region = fov_mask(size, "disk")
    g = torch.Generator().manual_seed(seed)
    soft, binary = rotated_masks(masks, [angle] * b)
    maps = minmax((soft + noise * torch.randn(soft.shape, generator=g)).clamp_min(0), region)
    direct = _score(maps, binary, soft, region)
    soft0, binary0 = rotated_masks(masks, [0.0] * b)
    back = _score(rotate_each(maps, [-angle] * b), binary0, soft0, region)
    return {k: float((direct[k] - back[k]).abs().mean()) for k in METRICS
            if not math.isnan(float(direct[k].mean()))}


# ---- what bench/rotation.py prints ------------------------------------------------------------

def synthetic_masks(kind: str, n: int, size: int) -> torch.Tensor:
    """``n`` masks of the synthetic ``kind`` (trainables/data/synthetic.py) at ``size`` px."""
    from trainables.config import DataConfig
    from trainables.data import build_dataset

    data = build_dataset(DataConfig(name="synthetic", image_size=size, params={
        "kind": kind, "n_images": n, "seed": 0}))
    return torch.stack([data[i]["mask"] for i in range(n)]).bool()


def mask_geometry_report(n: int = 8, size: int = 64) -> dict[str, dict[str, dict[str, float]]]:
    """Per synthetic kind and geometry, the perfect map's spread over 0–345° per metric, and
    what back-rotating a noisy map changes (``noisy_map_change``, at 30°)."""
    angles = [float(a) for a in range(0, 360, 15)]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for kind in ("ellipses", "rectangles", "discs"):
        masks = synthetic_masks(kind, n, size)
        out[kind] = {g: {k: round(v, 5) for k, v in perfect_map_spread(masks, angles, g).items()}
                     for g in ("nearest", "soft", "clipped", "thresholded", "back_rotated")}
        out[kind]["back_rotated_noisy_change"] = {
            k: round(v, 4) for k, v in noisy_map_change(masks, 30.0).items()}
    return out


def frame_cue_report(n: int = 600, size: int = 64) -> dict[str, float]:
    """Held-out accuracy of every detector, old field of view against the default, on white
    noise (0° vs 45°, 90° vs 135°), pink noise and discs (0° vs 45°)."""
    from trainables.config import DataConfig
    from trainables.data import build_dataset

    def discs(seed: int) -> torch.Tensor:
        data = build_dataset(DataConfig(name="synthetic", image_size=size, params={
            "kind": "discs", "n_images": n, "seed": seed}))
        return torch.stack([data[i]["image"] for i in range(n)]).mean(1, keepdim=True)

    content = {"white": (white_noise(n, size, 0), white_noise(n, size, 1)),
               "pink": (pink_noise(n, size, 2), pink_noise(n, size, 3)),
               "discs": (discs(2), discs(3))}
    out: dict[str, float] = {}
    for name, (a, b) in content.items():
        pairs = [(0.0, 45.0), (90.0, 135.0)] if name == "white" else [(0.0, 45.0)]
        for pair in pairs:
            for fov_name, fov in (("old", old_fov(size)), ("new", fov_mask(size))):
                for det in DETECTORS:
                    key = f"{name}_{pair[0]:g}_{pair[1]:g}_{det}_{fov_name}"
                    out[key] = round(frame_cue_accuracy(a, b, pair, fov, det), 3)
    return out


def overshoot_report(size: int = 64) -> dict[str, float]:
    """Ringing of the default rotation at hard edges: the largest value above 1 and below 0 of
    a square of ones on zeros (sides 6, 16, 40 px), over 0–85° in 5° steps, and of a straight
    step edge at 0°."""
    out: dict[str, float] = {}
    for side in (6, 16, 40):
        x = torch.zeros(1, size, size)
        c = size // 2 - side // 2
        x[0, c:c + side, c:c + side] = 1
        turned = rotate_each(x.expand(18, -1, -1).clone(), [5.0 * k for k in range(18)])
        out[f"square_{side}_overshoot"] = round(float(turned.amax()) - 1, 3)
        out[f"square_{side}_undershoot"] = round(-float(turned.amin()), 3)
    step = torch.zeros(1, size, size)
    step[0, :, size // 2:] = 1
    mid = rotate_each(step[None], [0.0])[0, 0, size // 4: 3 * size // 4,
                                        size // 4: 3 * size // 4]
    out["step_edge_overshoot"] = round(float(mid.amax()) - 1, 3)
    return out
