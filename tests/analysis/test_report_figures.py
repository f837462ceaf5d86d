"""The report's figures and page as a reader sees them: no empty panels, baselines drawn where
they exist, raw units beside raw units, names for what a network is, a contents list, figures
small enough to embed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from analysis import figures
from analysis.curves import curve_table
from analysis.document import Document, embeddable, slug
from analysis.labels import config_differences, curve_labels, network_label, with_network


def _panels(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_a_metric_gets_panels_only_for_datasets_with_values(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    boxes = make_saliency(np.cos, dataset="coco", n_images=5)
    frame = pd.concat([boxes.assign(q_bbox=boxes["dice"]),
                       make_saliency(np.cos, dataset="brats", trial_id="t1", n_images=5)])
    curves = curve_table(frame, ["dice", "q_bbox"], n_boot=20)
    assert _panels(figures.curve_figure(curves, "q_bbox")) == ["coco: Q(S, B) vs. rotation"]
    assert len(_panels(figures.curve_figure(curves, "dice"))) == 2
    assert figures.curve_figure(curves.assign(mean=np.nan), "dice") is None


def test_baselines_are_dashed_where_they_exist(make_saliency: Callable[..., pd.DataFrame]
                                               ) -> None:
    trained = make_saliency(np.cos, n_images=5)
    base = make_saliency(np.sin, n_images=5, init="random_baseline")
    curves = curve_table(pd.concat([trained, base]), ["dice"], n_boot=20)
    ax = figures.curve_figure(curves, "dice").axes[0]
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles == {"θ = 90°, pre-trained": "-", "θ = 90°, untrained (random init)": "--"}
    assert figures.has_baseline(curves, "dice")
    alone = curve_table(trained, ["dice"], n_boot=20)
    assert not figures.has_baseline(alone)
    assert [ln.get_linestyle() for ln in figures.curve_figure(alone, "dice").axes[0]
            .get_lines()] == ["-"]


def test_orientation_figure_keeps_dice_in_its_own_units(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    # Dice wiggles by ±0.01 around 0.3: min-max scaling would stretch it over [0, 1]
    frame = make_saliency(lambda a: 0.3 + 0.01 * np.cos(np.radians(4 * a)), n_images=5,
                          image_sd=0.0, noise=0.0)
    curves = curve_table(frame, ["dice"], n_boot=20)
    weights = 1.0 + np.cos(np.radians(4 * np.arange(180)))
    orientation = pd.DataFrame({"dataset": "brats", "orientation": np.arange(180),
                                "weight": weights / weights.sum(), "n_images": 5})
    fig = figures.orientation_figure(orientation, None, curves)
    left = fig.axes[1]
    right = next(ax for ax in fig.axes[2:] if ax.get_ylabel().startswith("mean Dice"))
    s_line = left.get_lines()[0]
    assert s_line.get_ydata().max() == pytest.approx(1.0) and s_line.get_ydata().min() >= 0
    dice = right.get_lines()[0].get_ydata()
    assert dice.min() == pytest.approx(0.29, abs=1e-3)
    assert dice.max() == pytest.approx(0.31, abs=1e-3)


def test_network_labels_say_what_a_network_is() -> None:
    assert network_label("random") == "pre-trained (from random init)"
    assert network_label("moco_v2") == "pre-trained (from moco_v2 weights)"
    assert network_label("random_baseline") == "random init (untrained)"
    assert network_label("torchvision_baseline") == "torchvision weights (untrained)"
    frame = pd.DataFrame({"trial_id": ["a", "a"], "init": ["random", "random_baseline"],
                          "dice": [0.5, 0.1]})
    assert list(with_network(frame).columns) == ["trial_id", "network", "dice"]
    meta = pd.DataFrame({"train_angles": ["90", "90"], "init": ["moco_v2", "random_baseline"]})
    assert list(curve_labels(meta)) == ["θ = 90°, pre-trained (from moco_v2 weights)",
                                        "θ = 90°, random init (untrained)"]


def test_config_differences_tell_apart_what_the_columns_do_not() -> None:
    # seed 003: one angle set, NIN of 3 and 4 blocks, two seeds; train angles and seeds
    # are not differences (the label has the first; the second is pooled)
    def config(blocks: int, seed: int) -> str:
        return json.dumps({"seed": seed, "model": {"backbone": "nin",
                                                   "params": {"blocks": blocks}},
                           "pretext": {"name": "rotnet", "angles": [0, 90]},
                           "data": {"root": f"/d{seed}"}})

    trials = pd.DataFrame({"trial_id": ["a", "b", "c"],
                           "config_json": [config(3, 0), config(4, 0), config(3, 1)]})
    assert config_differences(trials) == {"a": "blocks=3", "b": "blocks=4", "c": "blocks=3"}
    assert config_differences(trials.iloc[[0, 2]]) == {}
    meta = pd.DataFrame({"train_angles": ["0/90"] * 3, "trial_id": ["a", "b", "c"]})
    assert list(curve_labels(meta, config_differences(trials))) == [
        "θ = 0/90°, blocks=3 (curve 1)", "θ = 0/90°, blocks=4", "θ = 0/90°, blocks=3 (curve 2)"]


def test_contents_links_every_heading_once(tmp_path: Path) -> None:
    doc = Document("t")
    for text in ("Summary", "1. Saliency vs. angle", "Extrema", "Summary"):
        doc.heading(text, 3 if text == "Extrema" else 2)
    assert [a for _, _, a in doc.headings()] == ["summary", "1-saliency-vs-angle", "extrema",
                                                 "summary-1"]
    assert slug("Seed 002: Q(S, B), backbone × dataset") == "seed-002-qs-b-backbone--dataset"
    html = doc.to_html(tmp_path)
    for anchor in ("summary", "1-saliency-vs-angle", "extrema", "summary-1"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    md = doc.to_markdown()
    assert "- [Summary](#summary)\n- [1. Saliency vs. angle](#1-saliency-vs-angle)\n" \
           "  - [Extrema](#extrema)" in md


def test_figures_are_embedded_small_until_the_budget_then_linked(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noisy = (rng.random((900, 2400, 3)) * 255).astype(np.uint8)  # a photograph, worst case
    Image.fromarray(noisy).save(tmp_path / "big.png")
    plot = Figure(figsize=(5, 4))
    plot.subplots().plot([0, 1], [0, 1])
    plot.savefig(tmp_path / "plot.png", dpi=100)
    mime, data = embeddable(tmp_path / "big.png")
    with Image.open(tmp_path / "big.png") as img:
        assert img.width == 2400
    assert mime == "image/jpeg" and len(data) < (tmp_path / "big.png").stat().st_size / 3
    mime, data = embeddable(tmp_path / "plot.png")
    assert mime == "image/png" and len(data) < 20_000
    doc = Document("t")
    doc.figure(Path("plot.png"), "a line")
    doc.figure(Path("big.png"), "noise")
    html = doc.to_html(tmp_path, embed_budget=50_000)
    assert html.count("data:image/png;base64,") == 1
    assert '<img alt="noise" src="big.png">' in html and "not embedded" in html
