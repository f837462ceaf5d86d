"""A trial's saliency example grid reads on its own: a title naming the trial, dataset,
pre-training and network; θ over every column; one colour bar for the normalised maps."""

from __future__ import annotations

import io

import torch
from PIL import Image

from trainables.figures import grid_title, saliency_grid_figure, saliency_grid_png


def _inputs(n: int = 3, a: int = 24, size: int = 32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, size, size, generator=g)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    masks[:, 8:20, 10:24] = True
    maps = torch.rand(n, a, size, size, generator=g)
    return images, masks, maps


def test_grid_has_a_title_theta_per_column_and_a_colour_bar() -> None:
    images, masks, maps = _inputs()
    angles = [7.5 * k for k in range(24)]  # fractional degrees (issue 13)
    title = grid_title("t_00001", {"dataset": "kvasir_seg", "pretext": "moco_rotation",
                                   "train_angles": [22.5]}, "random")
    assert title == "t_00001 · kvasir_seg · moco_rotation θ=22.5° · pre-trained (from random " \
                    "init)"
    fig = saliency_grid_figure(images, masks, maps, angles, n_images=2, n_angles=4, title=title)
    assert fig.get_suptitle() == title
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["θ = 0°", "θ = 60°", "θ = 112.5°", "θ = 172.5°"] * 2
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "saliency (normalised per map)"]
    assert len(bars) == 1
    assert bars[0].get_ylim() == (0.0, 1.0)


def test_grid_png_is_small_and_titles_name_the_baseline() -> None:
    images, masks, maps = _inputs(n=4)
    png = saliency_grid_png(images, masks, maps, [15 * k for k in range(24)])
    with Image.open(io.BytesIO(png)) as img:
        assert img.width <= 700
    assert grid_title("t", {"dataset": "d", "pretraining": "jigsaw perms=100"},
                      "random_baseline") == "t · d · jigsaw perms=100 · untrained (random " \
                                            "init), same architecture"
