"""Small PNG figures a trial logs as artifacts (matplotlib, headless)."""

from __future__ import annotations

import io
from collections.abc import Sequence

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
