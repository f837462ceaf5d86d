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


def degrees(angle: float) -> str:
    """``90.0`` → ``"90"``, ``22.5`` → ``"22.5"`` (angles to 0.001°)."""
    value = round(float(angle), 3)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def grid_title(trial_id: str, meta: Mapping[str, Any], init: str) -> str:
    """The title of a trial's example grid: trial, dataset, pre-training and which network
    (``init`` is ``model.init`` for the pre-trained network, ``random_baseline`` for its
    untrained copy), e.g. ``"a1_00003 · kvasir_seg · moco_rotation θ=90° · pre-trained (from
    random init)"``."""
    described = meta.get("pretraining")
    if not described:
        angles = meta.get("train_angles") or ()
        described = f"{meta.get('pretext', '?')} θ={'/'.join(degrees(a) for a in angles)}°" \
            if angles else str(meta.get("pretext", "?"))
    if init.endswith("_baseline"):
        network = f"untrained ({init.removesuffix('_baseline')} init), same architecture"
    else:
        network = f"pre-trained (from {'random init' if init == 'random' else init})"
    return " · ".join([trial_id, str(meta.get("dataset", "?")), str(described), network])


def saliency_grid_png(images: torch.Tensor, masks: torch.Tensor, maps: torch.Tensor,
                      angles: Sequence[float], n_images: int = 4, n_angles: int = 6,
                      title: str | None = None, dpi: int = 80) -> bytes:
    """:func:`saliency_grid_figure` as PNG bytes (``dpi`` 80: a 6-column grid is ~600 px
    wide, small enough for the report to embed a dozen)."""
    fig = saliency_grid_figure(images, masks, maps, angles, n_images, n_angles, title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def saliency_grid_figure(images: torch.Tensor, masks: torch.Tensor, maps: torch.Tensor,
                         angles: Sequence[float], n_images: int = 4, n_angles: int = 6,
                         title: str | None = None) -> plt.Figure:
    """A titled grid: one column per evaluation angle θ (a few, evenly spread); per image, the
    rotated image with the rotated mask's outline (green) above its saliency map, with one
    colour bar for every map (maps are normalised to [0, 1] per image and angle).

    Args:
        images: ``(N, 3, S, S)`` in [0, 1], unrotated.
        masks: ``(N, S, S)`` bool, unrotated.
        maps: ``(N, A, S, S)`` normalised saliency in the rotated frame.
        angles: the A evaluation angles (degrees).
        n_images: images shown (rows of pairs).
        n_angles: angles shown (columns).
        title: the figure's title (what network, trial and dataset the maps are of;
            :func:`grid_title`).
    """
    n = min(n_images, images.shape[0])
    cols = sorted({round(k * (len(angles) - 1) / max(n_angles - 1, 1)) for k in range(n_angles)})
    fig, axes = plt.subplots(2 * n, len(cols), figsize=(1.2 * len(cols) + 0.8, 2.4 * n + 0.5),
                             squeeze=False, layout="constrained")
    shown = None
    for i in range(n):
        for c, j in enumerate(cols):
            img = rotate(images[i].float().cpu(), angles[j]).permute(1, 2, 0).clamp(0, 1)
            msk = rotate(masks[i].cpu(), angles[j], mode="nearest").float()
            top, bottom = axes[2 * i, c], axes[2 * i + 1, c]
            top.imshow(img.numpy())
            if msk.any():
                top.contour(msk.numpy(), levels=[0.5], colors="lime", linewidths=0.6)
            top.set_title(f"θ = {degrees(angles[j])}°", fontsize=7, pad=2)
            shown = bottom.imshow(maps[i, j].float().cpu().numpy(), cmap="inferno", vmin=0,
                                  vmax=1)
        axes[2 * i, 0].set_ylabel(f"image {i + 1}", fontsize=7)
        axes[2 * i + 1, 0].set_ylabel("saliency", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes, shrink=0.6, aspect=30, pad=0.02)
        bar.set_label("saliency (normalised per map)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


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
                    ) -> tuple[list[float], list[float]]:
    sums: dict[float, list[float]] = {}
    for r in rows:
        value = r.get(name)
        if value is not None and not math.isnan(value):
            sums.setdefault(float(r["eval_angle"]), []).append(float(value))
    angles = sorted(sums)
    return angles, [sum(sums[a]) / len(sums[a]) for a in angles]
