"""Seed 004's pretext tasks (counting, jigsaw, context, colorization) against their papers:
known answers on data made for each, losses against hand computations, the permutation set
against a naive transcription of Noroozi & Favaro's Algorithm 1, and Lab against skimage."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from pretext_task_data import (
    blob_images,
    build_small_task,
    disc_images,
    lightness_coloured_images,
    square_images,
    train_steps,
)

from trainables.pretext.context import NEIGHBOURS, ContextParams, context_batch
from trainables.pretext.counting import counting_loss, downscale, split_tiles
from trainables.pretext.jigsaw import jigsaw_batch
from trainables.pretext.lab import (
    ab_bins,
    annealed_mean,
    colorization_loss,
    rebalance_weights,
    rgb_to_lab,
    soft_encode,
)
from trainables.pretext.permutations import hamming_distances, maximal_hamming_set


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine's cores are shared; numbers do not depend on it
    yield
    torch.set_num_threads(before)


def _accuracy(task, make, images: torch.Tensor, seed: int = 5) -> float:
    """The task's accuracy on fresh inputs made from held-out ``images`` (eval mode)."""
    task.eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x, y = make(images, g)
        logits = (task.puzzle_logits(x) if hasattr(task, "puzzle_logits")
                  else task.position_logits(x))
    task.train()
    return (logits.argmax(1) == y).float().mean().item()


# --- known answers ------------------------------------------------------------------------

def test_jigsaw_learns_the_permutation_of_disc_tiles() -> None:
    # discs: each tile shows its piece of the rim, so the order is visible; chance = 1/24
    task = build_small_task("jigsaw", {"permutations": 24}, size=36)
    losses = train_steps(task, disc_images(512, 36, torch.Generator().manual_seed(1)),
                         steps=100, batch=16, lr=3e-3)
    held_out = disc_images(256, 36, torch.Generator().manual_seed(2))
    acc = _accuracy(task, task.make_puzzles, held_out)
    assert acc > 0.5, acc  # measured 0.80 (chance 0.04)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_context_learns_the_relative_position_of_square_patches() -> None:
    # a filled square whose edges cross the 8 neighbours: each neighbour has its own piece
    task = build_small_task("context", size=48)
    train_steps(task, square_images(512, 48, torch.Generator().manual_seed(1)),
                steps=250, batch=16, lr=3e-3)
    held_out = square_images(256, 48, torch.Generator().manual_seed(2))
    acc = _accuracy(task, task.make_pairs, held_out)
    assert acc > 0.45, acc  # measured 0.71 (chance 0.125)


def _counting_distances(task, images: torch.Tensor) -> tuple[float, float, float]:
    """Mean |f(D∘x) − t|², |f(D∘y) − t|² (y: the next image) and |f(D∘x)|² on ``images``."""
    task.eval()
    n, half = images.shape[0], images.shape[-1] // 2
    with torch.no_grad():
        f_image = task.count(downscale(images, half, "area"))
        t = task.count(split_tiles(images).flatten(0, 1)).reshape(n, 4, -1).sum(1)
    task.train()
    eq = ((f_image - t) ** 2).sum(1).mean().item()
    con = ((f_image.roll(1, 0) - t) ** 2).sum(1).mean().item()
    return eq, con, (f_image**2).sum(1).mean().item()


@pytest.mark.parametrize("weight,steps", [(1.0, 100), (0.0, 60)])
def test_counting_learns_equivariance_and_the_contrast_keeps_it_from_zero(weight: float,
                                                                          steps: int) -> None:
    task = build_small_task("counting", {"contrast_weight": weight, "features": 256}, size=32)
    held_out = blob_images(128, 32, torch.Generator().manual_seed(2))
    eq0, con0, _ = _counting_distances(task, held_out)
    train_steps(task, blob_images(256, 32, torch.Generator().manual_seed(1)), steps=steps,
                batch=16, lr=1e-3)
    eq, con, norm = _counting_distances(task, held_out)
    if weight:
        # the tiles add up to the whole (ratio 1.00 → measured 0.11) while another image's
        # counts stay M = 10 away (measured 25.5): not the trivial solution
        assert eq / con < 0.3 * (eq0 / con0), (eq0, con0, eq, con)
        assert con > 10.0 and norm > 1.0, (con, norm)
    else:
        # negative control, seed 004 §5: without the contrastive term "the model would output
        # all 0s"
        assert norm < 1e-3, norm


def test_colorization_beats_the_mean_colour_where_colour_follows_lightness() -> None:
    size = 32
    task = build_small_task("colorization", size=size)
    train_pool = lightness_coloured_images(256, size, torch.Generator().manual_seed(1))
    train_steps(task, train_pool, steps=120, batch=16, lr=3e-3)
    held_out = lightness_coloured_images(64, size, torch.Generator().manual_seed(2))
    out = size // task.params.out_stride
    truth = torch.nn.functional.interpolate(rgb_to_lab(held_out)[:, 1:], size=(out, out),
                                            mode="area")
    mean_ab = torch.nn.functional.interpolate(rgb_to_lab(train_pool)[:, 1:], size=(out, out),
                                              mode="area").mean(dim=(0, 2, 3))
    task.eval()
    with torch.no_grad():
        predicted = task.predict_ab(held_out)
    error = (predicted - truth).norm(dim=1).mean().item()
    baseline = (mean_ab[None, :, None, None] - truth).norm(dim=1).mean().item()
    assert error < 0.6 * baseline, (error, baseline)  # measured 6.6 against 27.3


# --- losses by hand -----------------------------------------------------------------------

def test_counting_loss_by_hand() -> None:
    image = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    tiles = torch.tensor([[1.0, 1.0], [3.0, 0.0]])
    other = torch.tensor([[2.0, 2.0], [0.0, 1.0]])
    loss, eq, con = counting_loss(image, tiles, other, margin=10.0, contrast_weight=0.5)
    # image 0: |(0, 1)|² = 1; |(1, 1)|² = 2 → 1 + 0.5·(10 − 2) = 5
    # image 1: |(−3, 0)|² = 9; |(−3, 1)|² = 10 → 9 + 0.5·max(0, 0) = 9
    assert eq.tolist() == [1.0, 9.0] and con.tolist() == [2.0, 10.0]
    assert loss.item() == pytest.approx((5.0 + 9.0) / 2)


def test_counting_step_is_the_loss_of_its_tiles() -> None:
    task = build_small_task("counting", {"downsample": "area"}, size=32)
    x = blob_images(4, 32, torch.Generator().manual_seed(0))
    out = task.step(x, torch.Generator().manual_seed(3))
    shift = int(torch.randint(1, 4, (1,), generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        f = task.count(torch.cat([downscale(x, 16, "area"), split_tiles(x).flatten(0, 1)]))
    f_image, t = f[:4], f[4:].reshape(4, 4, -1).sum(1)
    expected = 0.0
    for i in range(4):  # image i is contrasted with image i − shift
        eq = float(((f_image[i] - t[i]) ** 2).sum())
        con = float(((f_image[(i - shift) % 4] - t[i]) ** 2).sum())
        expected += (eq + max(0.0, 10.0 - con)) / 4
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def _cell_ids(size: int) -> torch.Tensor:
    """One image whose pixel value is the index of its 3×3 cell (reading order)."""
    cell = size // 3
    r = torch.arange(size) // cell
    return (r[:, None] * 3 + r[None, :]).float().clamp(max=8)[None, None].expand(1, 3, -1, -1)


def test_jigsaw_tiles_come_from_their_cells_and_follow_the_permutation() -> None:
    perms = torch.as_tensor(maximal_hamming_set(10).copy())
    x = _cell_ids(30).repeat(6, 1, 1, 1)
    tiles, labels = jigsaw_batch(x, perms, tile=8, g=torch.Generator().manual_seed(0))
    assert tiles.shape == (6, 9, 3, 8, 8)
    shown = tiles[:, :, 0].amax(dim=(-2, -1))  # the cell each tile was cut from
    assert (tiles[:, :, 0].amin(dim=(-2, -1)) == shown).all()  # wholly inside its cell
    torch.testing.assert_close(shown.long(), perms[labels])


def test_jigsaw_loss_is_cross_entropy_by_hand() -> None:
    task = build_small_task("jigsaw", {"permutations": 12, "dropout": 0.0}, size=36)
    task.eval()  # batch statistics aside, the step's logits are the head's on its tiles
    x = disc_images(3, 36, torch.Generator().manual_seed(0))
    out = task.step(x, torch.Generator().manual_seed(4))
    tiles, labels = task.make_puzzles(x, torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = task.puzzle_logits(tiles)
    expected = -sum(float(logits[i, labels[i]]) - math.log(sum(math.exp(float(v))
                                                                for v in logits[i]))
                    for i in range(3)) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def test_context_pairs_are_the_centre_and_the_labelled_neighbour() -> None:
    size = 48
    patch, gap, jitter = ContextParams(jitter=0.0).geometry(size)
    assert (patch, gap, jitter) == (12, 6, 0)  # 3·12 + 2·6 = 48
    pitch = patch + gap
    # each pixel's value: which 3×3 layout cell it lies in (gaps hold 9)
    cell = torch.full((size,), 9)
    for k in range(3):
        cell[k * pitch:k * pitch + patch] = k
    ids = torch.where((cell[:, None] < 3) & (cell[None, :] < 3),
                      cell[:, None] * 3 + cell[None, :], 9).float()
    x = ids[None, None].expand(16, 3, -1, -1)
    pairs, labels = context_batch(x, patch, gap, jitter, torch.Generator().manual_seed(0))
    centre, neighbour = pairs[:, 0, 0], pairs[:, 1, 0]
    assert (centre == 4).all()
    dr, dc = torch.tensor(NEIGHBOURS)[labels].unbind(1)
    assert (neighbour == (4 + 3 * dr + dc)[:, None, None]).all()
    assert len(set(labels.tolist())) > 4


def test_context_loss_is_cross_entropy_by_hand() -> None:
    task = build_small_task("context", {"dropout": 0.0}, size=48)
    task.eval()
    x = square_images(3, 48, torch.Generator().manual_seed(0))
    out = task.step(x, torch.Generator().manual_seed(4))
    pairs, labels = task.make_pairs(x, torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = task.position_logits(pairs)
    expected = -sum(float(torch.log_softmax(logits[i], 0)[labels[i]]) for i in range(3)) / 3
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def test_colorization_loss_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    index = torch.tensor([[0, 1], [2, 1]])
    weight = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    lse0 = math.log(math.exp(2) + 1 + math.exp(-1))
    row0 = -(0.75 * (2 - lse0) + 0.25 * (0 - lse0))
    row1 = -(0.5 * -math.log(3) + 0.5 * -math.log(3))
    assert colorization_loss(logits, index, weight).item() == pytest.approx((row0 + row1) / 2)
    pixel = torch.tensor([2.0, 0.5])
    assert colorization_loss(logits, index, weight, pixel).item() == pytest.approx(
        (2 * row0 + 0.5 * row1) / 2)


def test_soft_encoding_weights_the_nearest_bins_by_a_gaussian() -> None:
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [30.0, 30.0]])
    index, weight = soft_encode(torch.tensor([[2.0, 0.0]]), centres, k=2, sigma=5.0)
    assert index.tolist() == [[0, 1]]
    w0, w1 = math.exp(-4 / 50), math.exp(-64 / 50)  # d² = 4 and 64, 2σ² = 50
    assert weight[0].tolist() == pytest.approx([w0 / (w0 + w1), w1 / (w0 + w1)])


def test_rebalancing_weights_rare_colours_up_and_average_one() -> None:
    prior = torch.tensor([0.7, 0.2, 0.1])
    w = rebalance_weights(prior, torch.eye(3), mix=0.5)
    expected = 1 / (0.5 * prior + 0.5 / 3)
    expected = expected / (prior * expected).sum()
    torch.testing.assert_close(w, expected)
    assert (prior * w).sum().item() == pytest.approx(1.0)
    assert w[2] > w[1] > w[0]


def test_annealed_mean_goes_from_mean_to_mode() -> None:
    centres = torch.tensor([[0.0, 0.0], [10.0, 20.0]])
    logits = torch.log(torch.tensor([0.25, 0.75]))[None, :, None, None]
    mean = annealed_mean(logits, centres, 1.0)[0, :, 0, 0]
    torch.testing.assert_close(mean, torch.tensor([7.5, 15.0]))
    mode = annealed_mean(logits, centres, 0.01)[0, :, 0, 0]
    torch.testing.assert_close(mode, torch.tensor([10.0, 20.0]))


# --- colour and permutations ---------------------------------------------------------------

def test_lab_matches_skimage() -> None:
    from skimage.color import rgb2lab

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 11, generator=g, dtype=torch.float64)
    x[0, :, 0, :3] = torch.tensor([[0.0, 1.0, 0.02]] * 3).T  # black, white, the linear toe
    ours = rgb_to_lab(x).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, rgb2lab(x.permute(0, 2, 3, 1).numpy()), atol=1e-8)
    assert rgb_to_lab(x.float()).dtype == torch.float32


def test_ab_bins_are_the_in_gamut_grid() -> None:
    bins = ab_bins(10.0)
    assert bins.shape == (261, 2)  # Zhang et al.'s hull, computed differently, has 313
    assert ((bins / 10) == (bins / 10).round()).all()
    assert bins[:, 0].min() == -90 and bins[:, 1].min() == -110  # sRGB's extremes
    pure = rgb_to_lab(torch.eye(3)[:, :, None, None].float())[:, 1:, 0, 0]  # R, G, B
    nearest = torch.cdist(pure, bins).min(dim=1).values
    assert (nearest <= 10 / math.sqrt(2) + 1e-4).all()


def _naive_hamming_set(size: int, first: int, n_items: int) -> list[tuple[int, ...]]:
    """Algorithm 1 of Noroozi & Favaro 2016, transcribed with loops."""
    remaining = list(itertools.permutations(range(n_items)))
    chosen = [remaining.pop(first)]
    while len(chosen) < size:
        totals = [sum(sum(a != b for a, b in zip(p, q, strict=True)) for q in chosen)
                  for p in remaining]
        chosen.append(remaining.pop(totals.index(max(totals))))
    return chosen


@pytest.mark.parametrize("n_items,size,seed", [(4, 10, 0), (4, 24, 3), (5, 30, 1)])
def test_permutation_set_is_algorithm_one(n_items: int, size: int, seed: int) -> None:
    first = int(np.random.default_rng(seed).integers(math.factorial(n_items)))
    ours = maximal_hamming_set(size, seed, n_items)
    assert [tuple(p) for p in ours.tolist()] == _naive_hamming_set(size, first, n_items)


def test_permutation_set_of_nine_tiles() -> None:
    perms = maximal_hamming_set(100)
    assert perms.shape == (100, 9) and len({tuple(p) for p in perms.tolist()}) == 100
    assert (np.sort(perms, axis=1) == np.arange(9)).all()
    d = hamming_distances(perms)[np.triu_indices(100, 1)]
    assert d.min() >= 2 and d.mean() == pytest.approx(8.08, abs=0.01)  # the paper: 8.08
    assert (maximal_hamming_set(100, 0) == perms).all()
    assert not (maximal_hamming_set(100, 1) == perms).all()
