"""Saliency-vs-mask metrics, vectorised over a batch of maps.

Every metric is computed inside a region (the common field of view), so pixels no angle can
see never count. Maps are ``(B, H, W)`` non-negative saliency, masks ``(B, H, W)`` bool.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.stats import rankdata
from skimage.filters import threshold_otsu

ThresholdRule = Literal["fixed", "percentile", "otsu", "match_mask_area"]
_EPS = 1e-12


def minmax(maps: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each map to [0, 1] by its min and max inside ``region`` (constant maps → 0)."""
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


def soft_dice(sal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Threshold-free Dice 2Σ s·m / (Σ s + Σ m) of maps in [0, 1] against masks."""
    s, m = sal.flatten(1).float(), mask.flatten(1).float()
    return 2 * (s * m).sum(1) / (s.sum(1) + m.sum(1)).clamp_min(_EPS)


def mass_in_mask(sal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the total saliency that falls inside the mask, Σ s·m / Σ s."""
    s, m = sal.flatten(1).float(), mask.flatten(1).float()
    return (s * m).sum(1) / s.sum(1).clamp_min(_EPS)


def roc_auc(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """ROC-AUC of saliency as a score for "pixel in the mask", over the pixels of ``region``.

    Mann–Whitney U with average ranks for ties; NaN where the mask covers none or all of the
    region.
    """
    keep = region.flatten().cpu().numpy()
    s = sal.flatten(1).detach().float().cpu().numpy()[:, keep]
    m = mask.flatten(1).cpu().numpy()[:, keep].astype(bool)
    ranks = rankdata(s, axis=1)
    n_pos = m.sum(1).astype(np.float64)
    n_neg = m.shape[1] - n_pos
    u = (ranks * m).sum(1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)
    return torch.from_numpy(auc)


def binarize(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor, rule: ThresholdRule,
             threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary maps by ``rule`` and the threshold used per map.

    ``fixed``: s ≥ ``threshold``. ``percentile``: the top ``threshold`` share of the region's
    pixels. ``otsu``: Otsu's threshold of the region's values. ``match_mask_area``: the top k
    pixels, k = the mask's area (so Dice equals precision equals recall).

    Returns:
        ``(binary (B, H, W) bool, thresholds (B,))``.
    """
    b = sal.shape[0]
    flat = sal.flatten(1).float()
    keep = region.flatten()
    inside = flat[:, keep]
    if rule == "fixed":
        t = torch.full((b,), float(threshold))
    elif rule == "percentile":
        t = torch.quantile(inside.cpu(), 1 - threshold, dim=1)
    elif rule == "otsu":
        vals = inside.detach().cpu().numpy()
        t = torch.tensor([threshold_otsu(v) if np.ptp(v) > 0 else float(v.max()) for v in vals])
    elif rule == "match_mask_area":
        k = mask.flatten(1)[:, keep].sum(1).clamp_min(1)
        ordered = inside.sort(dim=1, descending=True).values.cpu()
        t = ordered.gather(1, (k.cpu() - 1).long()[:, None]).squeeze(1)
    else:
        raise ValueError(f"unknown threshold rule {rule!r}")
    t = t.to(flat.device, flat.dtype)
    binary = (flat >= t[:, None]) & keep[None]
    return binary.reshape(sal.shape), t


def mask_metrics(sal: torch.Tensor, mask: torch.Tensor, region: torch.Tensor,
                 rule: ThresholdRule, threshold: float) -> dict[str, torch.Tensor]:
    """Every metric of the ``saliency`` table for maps ``sal`` (in [0, 1]) vs ``mask``, inside
    ``region``; one value per map."""
    region = region.to(sal.device)
    sal = sal * region
    mask = mask.to(sal.device) & region
    binary, t = binarize(sal, mask, region, rule, threshold)
    return {
        "dice": dice_score(binary, mask).cpu(),
        "iou": iou_score(binary, mask).cpu(),
        "soft_dice": soft_dice(sal, mask).cpu(),
        "auc": roc_auc(sal, mask, region).float(),
        "mass_in_mask": mass_in_mask(sal, mask).cpu(),
        "threshold": t.cpu(),
    }
