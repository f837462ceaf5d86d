"""Per-angle evaluation of a pre-trained encoder: saliency maps vs. rotated masks → table rows.

Maps stream out of the engine one batch of (image, angle) groups at a time; each batch's masks
(and box masks) are rotated with the images, the maps normalised inside the evaluation region
and scored, so memory never holds N × A maps (only those of the few images the example figure
shows).

Masks share the images' geometry (docs/rotation.md, "Rule 2"): a mask is rotated through the
same band-limited resampling as its image (:func:`rotated_masks`), which gives a soft mask;
the threshold-free metrics (soft Dice, mass in mask) compare the map with that soft
mask, and the thresholded ones (Dice, IoU, AUC's labels, Q(S, B)) with it thresholded once at
0.5 (the ringing of a hard mask edge leaves the soft mask in about [−0.1, 1.1]; it is not
clipped, see :func:`rotated_masks`). The map itself is never resampled. A map equal to the
rotated mask then scores the same at every angle (tests/trainables/test_geometry_known_answers.py);
nearest-neighbour masks gave a 4-fold pattern of 0.0065 in Dice at 64 px (issue 19).
"""

from __future__ import annotations

from typing import Any

import torch

from trainables.config import TrialConfig
from trainables.metrics import boxes_mask, evaluation_region, mask_metrics, minmax
from trainables.pretext import Pretext
from trainables.rotation import rotate_each
from trainables.saliency import build_target, degenerate_at, get_method, iter_saliency

FIGURE_IMAGES = 4
MASK_LEVEL = 0.5  # a rotated soft mask is "in the mask" from this value on


def rotated_masks(masks: torch.Tensor, degrees: torch.Tensor | list[float]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks rotated as their images are: ``(soft, binary)``.

    Args:
        masks: ``(B, H, W)`` bool (or 0/1) masks in the unrotated frame.
        degrees: ``B`` angles, one per mask.

    Returns:
        ``soft``: ``(B, H, W)`` float32, the mask's band-limited rotation (the images' path,
        :func:`trainables.rotation.rotate_each`), not clipped: its sum and its sum of squares
        are then the same at every angle (to 1e-5; clipping the ±10 % ringing at the edge
        makes them vary by 0.2–0.4 %, bench/rotation.py); ``binary``: ``soft ≥``
        :data:`MASK_LEVEL` (bool).
    """
    soft = rotate_each(masks.float(), degrees)
    return soft, soft >= MASK_LEVEL


def evaluate_saliency(
    pretext: Pretext,
    images: torch.Tensor,
    masks: torch.Tensor,
    image_ids: list[str],
    cfg: TrialConfig,
    boxes: list[torch.Tensor] | None = None,
) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """Saliency metrics at every ``cfg.saliency.eval_angles`` for every image.

    Args:
        pretext: the trained task (its encoder is evaluated); frozen and set to ``eval()`` here.
        images: ``(N, 3, S, S)`` on the compute device.
        masks: ``(N, S, S)`` bool, unrotated.
        image_ids: N ids.
        cfg: the trial config (``saliency.*``, ``pretext.crop``, ``train.amp`` and
            ``train.channels_last`` on CUDA, ``seed``).
        boxes: per image ``(K_i, 4)`` boxes (x0, y0, x1, y1 pixels) for seed 002's Q(S, B);
            ``None``: the dataset has none, ``q_bbox`` is ``None`` (null in the table).

    Returns:
        ``(rows, maps)``: one row per (image, angle), image-major, with the metric columns of the
        ``saliency`` table and ``degenerate`` (the target's map is degenerate by construction at
        that angle, :func:`trainables.saliency.degenerate_at`); and the normalised maps
        ``(min(N, 4), A, S, S)`` of the first images on the CPU (for the example figure).
    """
    sc = cfg.saliency
    crop = cfg.pretext.crop
    dev = images.device
    cuda = dev.type == "cuda"
    pretext.eval().requires_grad_(False)
    if cuda and cfg.train.channels_last:
        pretext.to(memory_format=torch.channels_last)
    angles = list(sc.eval_angles)
    n, a, size = images.shape[0], len(angles), images.shape[-1]
    target = build_target(sc.target, pretext, images, angles, sc, crop=crop,
                          shared_noise=get_method(sc.method).shared_noise,
                          amp=cuda and cfg.train.amp, seed=cfg.seed)
    region = evaluation_region(size, crop, sc.eval_margin, dev)
    masks = masks.to(dev)
    box_masks = (torch.stack([boxes_mask(b, size, dev) for b in boxes])
                 if boxes is not None else None)
    degrees = torch.tensor(angles)
    shown = min(n, FIGURE_IMAGES)
    done: list[torch.Tensor] = []
    values: dict[str, list[torch.Tensor]] = {}
    figure = torch.zeros(shown * a, size, size, device=dev)
    for q, maps in iter_saliency(target, images, angles, sc, crop=crop, seed=cfg.seed,
                                 channels_last=cuda and cfg.train.channels_last):
        img = (q // a).to(dev)
        # masks rotated with the images: map (i, j) is in the frame of image i at angles[j]
        soft, rot_mask = rotated_masks(masks[img], degrees[q % a])
        rot_boxes = (rotated_masks(box_masks[img], degrees[q % a])[1]
                     if box_masks is not None else None)
        if sc.normalize == "minmax":
            maps = minmax(maps, region)
        for name, v in mask_metrics(maps, rot_mask, region, sc.threshold_rule, sc.threshold,
                                    rot_boxes, soft=soft).items():
            values.setdefault(name, []).append(v)
        done.append(q)
        keep = q < shown * a
        figure[q[keep].to(dev)] = maps[keep.to(dev)].float()
    # one transfer at the end: reading values per batch would stall a GPU every batch
    order = torch.cat(done)
    table = {name: torch.cat(v).cpu().tolist() for name, v in values.items()}
    degenerate = [degenerate_at(sc.target, float(x)) for x in angles]
    rows = [{"eval_angle": float(angles[qi % a]), "image_id": image_ids[qi // a],
             "degenerate": degenerate[qi % a],
             **{name: vals[r] for name, vals in table.items()}}
            for r, qi in enumerate(order.tolist())]
    if boxes is None:  # no boxes in the dataset: a null, not a NaN score
        for row in rows:
            row["q_bbox"] = None
    return rows, figure.view(shown, a, size, size).cpu()
