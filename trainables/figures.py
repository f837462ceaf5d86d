"""Small PNG figures a trial logs as artifacts (matplotlib, headless)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from trainables.rotation import rotate


def saliency_grid_png(images: torch.Tensor, masks: torch.Tensor, maps: torch.Tensor,
                      angles: Sequence[int], n_images: int = 4, n_angles: int = 6) -> bytes:
    """A grid: per image, the rotated image with the rotated mask's outline and its saliency
    map at a few evaluation angles.

    Args:
        images: ``(N, 3, S, S)`` in [0, 1], unrotated.
        masks: ``(N, S, S)`` bool, unrotated.
        maps: ``(N, A, S, S)`` normalised saliency in the rotated frame.
        angles: the A evaluation angles.
    """
    n = min(n_images, images.shape[0])
    cols = [round(k * (len(angles) - 1) / max(n_angles - 1, 1)) for k in range(n_angles)]
    cols = sorted(set(cols))
    fig, axes = plt.subplots(2 * n, len(cols), figsize=(1.6 * len(cols), 3.2 * n),
                             squeeze=False)
    for i in range(n):
        for c, j in enumerate(cols):
            img = rotate(images[i].float().cpu(), angles[j]).permute(1, 2, 0).clamp(0, 1)
            msk = rotate(masks[i].cpu(), angles[j], mode="nearest").float()
            ax = axes[2 * i, c]
            ax.imshow(img.numpy())
            ax.contour(msk.numpy(), levels=[0.5], colors="lime", linewidths=0.6)
            ax.set_title(f"{angles[j]}°", fontsize=7)
            axes[2 * i + 1, c].imshow(maps[i, j].numpy(), cmap="inferno", vmin=0, vmax=1)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


CURVE_METRICS = ("dice", "soft_dice", "auc", "mass_in_mask")


def angle_curve_png(rows: Sequence[Mapping[str, Any]],
                    baseline: Sequence[Mapping[str, Any]] = ()) -> bytes:
    """The per-angle curve of a trial: the mean over images of each metric at every evaluation
    angle, with the random-init baseline (seed 002) dashed when given.

    Args:
        rows: ``saliency`` rows (``eval_angle`` and the metric columns).
        baseline: the random-init copy's rows, or empty.
    """
    fig, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(3.2 * len(CURVE_METRICS), 2.6),
                             squeeze=False)
    for ax, name in zip(axes[0], CURVE_METRICS, strict=True):
        for part, style, label in ((rows, "-", "trained"), (baseline, "--", "random init")):
            if not part:
                continue
            angles, means = _mean_per_angle(part, name)
            ax.plot(angles, means, style, marker=".", label=label)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("eval angle (°)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _mean_per_angle(rows: Sequence[Mapping[str, Any]], name: str
                    ) -> tuple[list[int], list[float]]:
    sums: dict[int, list[float]] = {}
    for r in rows:
        value = r.get(name)
        if value is not None and not math.isnan(value):
            sums.setdefault(int(r["eval_angle"]), []).append(float(value))
    angles = sorted(sums)
    return angles, [sum(sums[a]) / len(sums[a]) for a in angles]
