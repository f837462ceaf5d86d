"""Saliency-vs-mask metrics, vectorised over a batch of maps (on any device).

Every metric is computed inside a region (the common field of view, optionally eroded), so
pixels no angle can see never count. Maps are ``(B, H, W)`` non-negative saliency, masks
``(B, H, W)`` bool, the region ``(H, W)`` bool.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from skimage.filters import threshold_otsu

from trainables.rotation import FieldOfView, fov_mask

ThresholdRule = Literal["fixed", "percentile", "otsu", "match_mask_area"]
_EPS = 1e-12


def evaluation_region(size: int, crop: FieldOfView, margin: float = 0,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """The field of view minus a rim of ``margin`` pixels: ``(size, size)`` bool.

    A pixel is kept when its centre is more than ``margin`` from the centre of every pixel
    outside the field of view (the frame counts as outside), so the region keeps the field of
    view's symmetry (a disk stays a disk) and ``margin = 0`` is the field of view itself.
    """
    region = fov_mask(size, crop, "cpu")
    if margin > 0:
        framed = np.pad(region.numpy(), 1, constant_values=False)
        far = distance_transform_edt(framed)[1:-1, 1:-1] > margin
        region = region & torch.from_numpy(far)
    return region.to(device)


def boxes_mask(boxes: torch.Tensor, size: int, device: torch.device | str = "cpu"
               ) -> torch.Tensor:
    """Rasterise ``(K, 4)`` boxes (x0, y0, x1, y1 in pixels) into one ``(size, size)`` bool mask:
    the pixels whose centre lies in at least one box (seed 002's B)."""
    c = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    out = torch.zeros(size, size, dtype=torch.bool, device=device)
    for x0, y0, x1, y1 in boxes.to(device=device, dtype=torch.float32).tolist():
        out |= ((c[:, None] >= y0) & (c[:, None] <= y1)) & ((c[None] >= x0) & (c[None] <= x1))
    return out


def minmax(maps: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each map to [0, 1] by its min and max inside ``region`` (constant maps → 0);
    pixels outside the region become 0."""
    flat = maps.flatten(1)
    keep = torch.ones_like(flat, dtype=torch.bool) if region is None else region.flatten()[None]
    lo = flat.masked_fill(~keep, float("inf")).amin(1, keepdim=True)
    hi = flat.masked_fill(~keep, float("-inf")).amax(1, keepdim=True)
    out = ((flat - lo) / (hi - lo).clamp_min(_EPS)).clamp(0, 1) * keep
    return out.reshape(maps.shape)


def dice_score(pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Dice 2|P∩M| / (|P| + |M|) per item of bool ``(B, H, W)`` tensors; 1 when both are empty."""
    p, m = pred.flatten(1).float(), mask.flatten(1).float()
    inter = (p * m).sum(1)
    denom = p.sum(1) + m.sum(1)
    return torch.where(denom > 0, 2 * inter / denom.clamp_min(_EPS), torch.ones_like(denom))


def iou_score(pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Jaccard |P∩M| / |P∪M| per item; 1 when both are empty."""
    p, m = pred.flatten(1).bool(), mask.flatten(1).bool()
    inter = (p & m).sum(1).float()
    union = (p | m).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(_EPS), torch.ones_like(union))


def q_bbox(binary: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Seed 002's goodness Q(S, B) = eᵀ(S∘B)e / (eᵀBe + eᵀ max(S − B, 0) e) per item.

    ``binary`` is the thresholded saliency S_p (1 where the map ≥ λ) and ``boxes`` the box mask
    B, both ``(B, H, W)`` bool. For 0/1 maps this is |S∩B| / |S∪B|. NaN where the item has no
    box and no salient pixel.
    """
    s, b = binary.flatten(1).float(), boxes.flatten(1).float()
    denom = b.sum(1) + (s - b).clamp_min(0).sum(1)
    return torch.where(denom > 0, (s * b).sum(1) / denom.clamp_min(_EPS),
                       torch.full_like(denom, float("nan")))


def soft_dice(sal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Threshold-free Dice 2Σ s·m / (Σ s + Σ m) of maps in [0, 1] against masks."""
    s, m = sal.flatten(1).float(), mask.flatten(1).float()
    return 2 * (s * m).sum(1) / (s.sum(1) + m.sum(1)).clamp_min(_EPS)


def mass_in_mask(sal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the total saliency that falls inside the mask, Σ s·m / Σ s."""
    s, m = sal.flatten(1).float(), mask.flatten(1).float()
    return (s * m).sum(1) / s.sum(1).clamp_min(_EPS)


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks along dim 1 of ``(B, P)`` values, ties sharing their average rank
    (``scipy.stats.rankdata(method="average", axis=1)``), as float64."""
    v, order = values.sort(dim=1)
    p = v.shape[1]
    pos = torch.arange(p, device=v.device).expand_as(v)
    new = torch.ones_like(v, dtype=torch.bool)
    new[:, 1:] = v[:, 1:] != v[:, :-1]
    first = torch.where(new, pos, torch.zeros_like(pos)).cummax(1).values
    last_of_run = torch.ones_like(new)
    last_of_run[:, :-1] = new[:, 1:]
    last = torch.where(last_of_run, pos, torch.full_like(pos, p)).flip(1).cummin(1).values.flip(1)
    avg = (first + last).double() / 2 + 1
    return torch.empty_like(avg).scatter_(1, order, avg)


def roc_auc(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """ROC-AUC of saliency as a score for "pixel in the mask", over the pixels of ``region``.

    Mann–Whitney U with average ranks for ties (equal to ``sklearn.metrics.roc_auc_score``);
    NaN where the mask covers none or all of the region.
    """
    keep = region.flatten().to(sal.device)
    s = sal.flatten(1)[:, keep].double()
    m = mask.flatten(1).to(sal.device)[:, keep].bool()
    ranks = average_ranks(s)
    n_pos = m.sum(1).double()
    n_neg = m.shape[1] - n_pos
    u = (ranks * m).sum(1) - n_pos * (n_pos + 1) / 2
    ok = (n_pos > 0) & (n_neg > 0)
    return torch.where(ok, u / (n_pos * n_neg).clamp_min(1), torch.full_like(u, float("nan")))


def otsu_thresholds(values: torch.Tensor, nbins: int = 256) -> torch.Tensor:
    """Otsu's threshold of every row of ``(B, P)`` values at once (float64), on the values'
    device: for CUDA maps, which would otherwise go to the host row by row.

    The rule of ``skimage.filters.threshold_otsu``: a ``nbins`` histogram over each row's
    [min, max] binned as ``numpy.histogram`` does (with its edge corrections), the between-class
    variance maximised over the bin boundaries, the threshold the centre of the first
    maximising bin; a constant row returns its value. Equal to skimage's up to a value that
    float rounding puts on the other side of a bin edge (then one bin apart).
    """
    v = values.double()
    b = v.shape[0]
    lo, hi = v.amin(1, keepdim=True), v.amax(1, keepdim=True)
    const = (hi == lo).squeeze(1)
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    steps = torch.arange(nbins + 1, device=v.device, dtype=torch.float64) / nbins
    edges = lo + span * steps  # B x (nbins + 1)
    edges[:, -1:] = lo + span
    idx = ((v - lo) / span * nbins).long().clamp_(max=nbins - 1)
    # numpy's corrections for values that rounding put in a neighbouring bin
    idx -= (v < edges.gather(1, idx)).long()
    idx += ((v >= edges.gather(1, idx + 1)) & (idx != nbins - 1)).long()
    offset = torch.arange(b, device=v.device)[:, None] * nbins
    counts = torch.bincount((idx + offset).flatten(), minlength=b * nbins).view(b, nbins)
    counts = counts.double()
    centres = (edges[:, :-1] + edges[:, 1:]) / 2
    w1, w2 = counts.cumsum(1), counts.flip(1).cumsum(1).flip(1)
    m1 = (counts * centres).cumsum(1) / w1.clamp_min(1)
    m2 = (counts * centres).flip(1).cumsum(1).flip(1) / w2.clamp_min(1)
    between = w1[:, :-1] * w2[:, 1:] * (m1[:, :-1] - m2[:, 1:]) ** 2
    t = centres.gather(1, between.argmax(1, keepdim=True)).squeeze(1)
    return torch.where(const, lo.squeeze(1), t)


def _otsu(values: torch.Tensor) -> torch.Tensor:
    # On the CPU skimage's per-row numpy histogram is faster than the batched version (measured:
    # 128 maps of 224 px, 0.07 s vs 0.5 s on one core); on CUDA the batched one saves transfers.
    if values.device.type == "cpu":
        rows = values.detach().float().numpy()
        return torch.tensor([threshold_otsu(r) if r.max() > r.min() else float(r[0])
                             for r in rows], dtype=torch.float64)
    return otsu_thresholds(values)


def _quantile(values: torch.Tensor, q: float) -> torch.Tensor:
    """Row-wise ``torch.quantile(values, q, dim=1)`` (linear interpolation) by one sort, without
    ``torch.quantile``'s 2²⁴-element limit on its input."""
    v = values.sort(dim=1).values
    pos = q * (v.shape[1] - 1)
    lo, frac = int(pos), pos - int(pos)
    hi = min(lo + 1, v.shape[1] - 1)
    return v[:, lo] + frac * (v[:, hi] - v[:, lo])


def binarize(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor, rule: ThresholdRule,
             threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary maps by ``rule`` and the threshold used per map.

    ``fixed``: s ≥ ``threshold``. ``percentile``: the top ``threshold`` share of the region's
    pixels. ``otsu``: Otsu's threshold of the region's values. ``match_mask_area``: the top k
    pixels, k = the mask's area in the region (so Dice equals precision equals recall, up to
    ties).

    Returns:
        ``(binary (B, H, W) bool, thresholds (B,))``; binary is False outside the region.

    Raises:
        ValueError: an unknown rule, naming the choices.
    """
    b = sal.shape[0]
    flat = sal.flatten(1).float()
    keep = region.flatten().to(flat.device)
    inside = flat[:, keep]
    if rule == "fixed":
        t = torch.full((b,), float(threshold), device=flat.device)
    elif rule == "percentile":
        t = _quantile(inside, 1 - threshold)
    elif rule == "otsu":
        t = _otsu(inside).to(flat.device)
    elif rule == "match_mask_area":
        k = mask.flatten(1).to(flat.device)[:, keep].sum(1).clamp(1, inside.shape[1])
        ordered = inside.sort(dim=1, descending=True).values
        t = ordered.gather(1, (k - 1).long()[:, None]).squeeze(1)
    else:
        raise ValueError(f"saliency.threshold_rule: unknown rule {rule!r}; expected one of "
                         f"['fixed', 'match_mask_area', 'otsu', 'percentile']")
    t = t.to(flat.dtype)
    binary = (flat >= t[:, None]) & keep[None]
    return binary.reshape(sal.shape), t


def mask_metrics(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor,
                 rule: ThresholdRule, threshold: float, boxes: torch.Tensor | None = None,
                 soft: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Every metric of the ``saliency`` table for maps ``sal`` (in [0, 1]) vs ``mask``, inside
    ``region``; one float32 value per map, on the maps' device (no host sync).

    Args:
        sal: ``(B, H, W)`` non-negative maps.
        mask: ``(B, H, W)`` bool masks in the maps' frame.
        region: ``(H, W)`` bool, where metrics are computed.
        rule, threshold: the binarisation for Dice, IoU and Q (see :func:`binarize`).
        boxes: ``(B, H, W)`` bool box masks (seed 002's B) for ``q_bbox``; for
            ``match_mask_area`` Q binarises to the boxes' area. ``None``: ``q_bbox`` is NaN.
        soft: ``(B, H, W)`` soft masks, about [−0.1, 1.1] (the mask rotated through the
            images' resampling, :func:`trainables.evaluate.rotated_masks`) for the threshold-free
            ``soft_dice`` and ``mass_in_mask``; ``None``: ``mask`` itself.
    """
    region = region.to(sal.device)
    sal = sal * region
    mask = mask.to(sal.device) & region
    weights = mask.float() if soft is None else soft.to(sal.device).float() * region
    binary, t = binarize(sal, mask, region, rule, threshold)
    out = {
        "dice": dice_score(binary, mask),
        "iou": iou_score(binary, mask),
        "soft_dice": soft_dice(sal, weights),
        "auc": roc_auc(sal, mask, region).float(),
        "mass_in_mask": mass_in_mask(sal, weights),
        "threshold": t,
        "q_bbox": torch.full((sal.shape[0],), float("nan"), device=sal.device),
    }
    if boxes is not None:
        boxes = boxes.to(sal.device) & region
        on_boxes = (binarize(sal, boxes, region, rule, threshold)[0]
                    if rule == "match_mask_area" else binary)
        out["q_bbox"] = q_bbox(on_boxes, boxes)
    return {k: v.float() for k, v in out.items()}
