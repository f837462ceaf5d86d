"""Per-angle evaluation of a pre-trained encoder: saliency maps vs. rotated masks → table rows."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from trainables.config import TrialConfig
from trainables.metrics import mask_metrics, minmax
from trainables.pretext import Pretext
from trainables.rotation import apply_fov, rotate_each
from trainables.saliency import ScoreFn, region_mask, saliency_maps
from trainables.train import autocast


def make_score(pretext: Pretext, target: str, images: torch.Tensor, crop: str,
               amp: bool = False) -> ScoreFn:
    """The scalar whose input gradient is the saliency.

    ``pair_similarity``: cosine similarity between the embedding of the (rotated, noisy) input and
    the embedding of the unrotated reference image (contrastive saliency). ``rotation_logit``:
    the logit of the predicted rotation class (tasks with a rotation head).
    """
    encoder = pretext.encoder
    dev = images.device
    if target == "pair_similarity":
        with torch.no_grad(), autocast(dev, amp):
            ref = F.normalize(encoder(apply_fov(images, crop)).float(), dim=1)  # N x D

        def pair_similarity(x: torch.Tensor, idx: torch.Tensor, _a: torch.Tensor) -> torch.Tensor:
            with autocast(dev, amp):
                z = encoder(x)
            return F.cosine_similarity(z.float(), ref[idx], dim=1)

        return pair_similarity
    if target == "rotation_logit":
        logits_fn = getattr(pretext, "logits", None)
        if logits_fn is None:
            raise ValueError(
                f"saliency.target 'rotation_logit' needs a pretext with a rotation head; "
                f"{type(pretext).__name__} has none (use 'pair_similarity')"
            )

        def rotation_logit(x: torch.Tensor, _i: torch.Tensor, _a: torch.Tensor) -> torch.Tensor:
            with autocast(dev, amp):
                out = logits_fn(x).float()
            return out.gather(1, out.argmax(1, keepdim=True)).squeeze(1)

        return rotation_logit
    raise ValueError(f"saliency.target {target!r} is not available")


def evaluate_saliency(
    pretext: Pretext,
    images: torch.Tensor,
    masks: torch.Tensor,
    image_ids: list[str],
    cfg: TrialConfig,
) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """Saliency metrics at every ``cfg.saliency.eval_angles`` for every image.

    Args:
        pretext: the trained task (its encoder is evaluated); frozen and set to ``eval()`` here.
        images: ``(N, 3, S, S)`` on the compute device.
        masks: ``(N, S, S)`` bool, unrotated.
        image_ids: N ids.
        cfg: the trial config.

    Returns:
        ``(rows, maps)``: one row per (angle, image) with the metric columns of the ``saliency``
        table, and the normalised maps ``(N, A, S, S)`` on the CPU (for example figures).
    """
    sc = cfg.saliency
    crop = cfg.pretext.crop
    pretext.eval().requires_grad_(False)
    amp = cfg.train.amp and images.device.type == "cuda"
    score = make_score(pretext, sc.target, images, crop, amp)
    maps = saliency_maps(score, images, list(sc.eval_angles), sc, crop=crop, seed=cfg.seed)
    n, a, s, _ = maps.shape
    region = region_mask(s, crop, images.device)
    # masks rotated with the images: map [i, j] is in the frame of image i rotated by angle j
    angles = torch.tensor(sc.eval_angles).repeat(n)
    rot_masks = rotate_each(masks.repeat_interleave(a, 0), angles, mode="nearest").bool()
    flat = maps.reshape(n * a, s, s)
    if sc.normalize == "minmax":
        flat = minmax(flat, region)
    metric = mask_metrics(flat, rot_masks.to(flat.device), region, sc.threshold_rule,
                          sc.threshold)
    rows = []
    for k in range(n * a):
        i, j = divmod(k, a)
        rows.append({
            "eval_angle": int(sc.eval_angles[j]), "image_id": image_ids[i],
            **{name: float(vals[k]) for name, vals in metric.items()},
        })
    return rows, flat.reshape(n, a, s, s).cpu()
