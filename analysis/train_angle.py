"""Does the train angle change the metric? A test across train angles, seeds as replicates.

The study's own question (seed 000: "for each rotation angle θ used in generating the image
pairs"): do networks pre-trained at different θ differ in a saliency metric? The unit is the
trial (a seed trained at one θ); its value is its mean metric over the evaluation images and
angles. Every trial is evaluated on the same images, so each trial's mean is over the same
images and the images' own levels cancel from every comparison between trials (the images are
paired).

**Statistic.** The one-way ANOVA F of the trials' means with θ as the factor: the variance
between the θ groups' means over the pooled variance of trials within a θ (seeds).

**Null and permutations.** Under "θ does not change the metric" the trials of a dataset are
exchangeable (seeds drawn the same way at every θ), so θ labels are permuted among the
trials: ``p = (1 + #{F* ≥ F}) / (1 + n_perm)``. It needs replicates: with one seed per θ the
within-θ variance does not exist, and the permutation distribution of any statistic has too
few distinct values to reach α when the groups are small. :func:`distinct_groupings` counts
them, :func:`seeds_needed` gives the smallest balanced design whose p can go below α (3 θ:
3 seeds each; 2 θ: 4 each), and the report says so in words instead of printing p = 1.

**Effect sizes.** Each θ's mean metric (over seeds, images and evaluation angles) minus the
first θ's, with a 95 % CI. With seeds, the CI is Student's t with the between-seed SD of the
trials' means pooled over θ (df = trials − θ): the seed is the unit, the images are paired
inside every trial's mean, and a bootstrap of 3 seeds cannot reach past their extremes (it
under-covered: ``tests/analysis/test_train_angle.py``). With one seed per θ the CI is a
bootstrap over images (resampled once for all trials: paired; Hesterberg's expanded
percentile, :func:`analysis.bootstrap.expanded_alpha`) and is about those networks, not
about θ.

Size and power: ``bench/calibration.py`` (docs/statistics.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from analysis.bootstrap import expanded_alpha
from analysis.curves import CONDITION_KEYS, angle_label, present_metrics
from analysis.labels import is_baseline

ALPHA = 0.05
#: what tells the groups of a train-angle test apart (train angles and seed vary inside one;
#: ``pretraining`` describes the task *with* its θ, "moco_rotation θ=45°", so it varies too)
GROUP_KEYS = tuple(k for k in CONDITION_KEYS if k not in ("train_angles", "pretraining"))


def distinct_groupings(sizes: Sequence[int]) -> int:
    """How many different ways trials fall into θ groups of these sizes, as the F statistic
    sees them (groups of equal size are interchangeable): ``T! / Π n_j! / Π m_c!``."""
    total = math.factorial(sum(sizes))
    for n in sizes:
        total //= math.factorial(n)
    for m in Counter(sizes).values():
        total //= math.factorial(m)
    return total


def seeds_needed(n_angles: int, alpha: float = ALPHA) -> int:
    """The fewest seeds per θ (same at every θ) whose permutation p can go below ``alpha``."""
    n = 2
    while 1.0 / distinct_groupings([n] * n_angles) >= alpha:
        n += 1
    return n


def _f_statistic(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    # values (T,), codes (P, T) group labels 0..k-1: F per row of codes
    t = len(values)
    counts = np.stack([(codes == g).sum(axis=1) for g in range(k)], axis=1)  # P x k
    sums = np.stack([np.where(codes == g, values, 0.0).sum(axis=1) for g in range(k)], axis=1)
    means = sums / np.maximum(counts, 1)
    grand = values.mean()
    between = (counts * (means - grand) ** 2).sum(axis=1) / (k - 1)
    within = (((values - grand) ** 2).sum() - (counts * (means - grand) ** 2).sum(axis=1)) \
        / (t - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(within > 0, between / np.maximum(within, 1e-300), np.inf)


@dataclass(frozen=True)
class TrainAngleResult:
    """The outcome of :func:`train_angle_test`.

    Attributes:
        f: the ANOVA F of the trials' means (NaN without a test).
        p_value: the θ-label permutation p (NaN without a test).
        n_trials: trials; n_angles: distinct θ; seeds_per_angle: ``"3/3/3"``.
        testable: whether p can go below α at all.
        note: why there is no test, in words, else ``""``.
    """

    f: float
    p_value: float
    n_trials: int
    n_angles: int
    seeds_per_angle: str
    testable: bool
    note: str = ""


def untestable_note(sizes: Sequence[int], alpha: float = ALPHA) -> str:
    """``"3 trials, 1 seed per train angle: at least 3 seeds per angle are needed for
    p < 0.05"`` (empty when the design can reach ``alpha``)."""
    k, t = len(sizes), sum(sizes)
    if k >= 2 and max(sizes) >= 2 and 1.0 / distinct_groupings(sizes) < alpha:
        return ""
    if k < 2:
        return f"{t} trial{'s' if t != 1 else ''} at one train angle: nothing to compare"
    seeds = (f"{sizes[0]} seed{'s' if sizes[0] != 1 else ''} per train angle"
             if len(set(sizes)) == 1 else "seeds per train angle " + "/".join(map(str, sizes)))
    return (f"{t} trials, {seeds}: at least {seeds_needed(k, alpha)} seeds per angle are "
            f"needed for p < {alpha:g}")


def train_angle_test(values: np.ndarray, angles: Sequence[object], n_perm: int = 9999,
                     seed: int = 0, alpha: float = ALPHA) -> TrainAngleResult:
    """Permutation test of "the train angle does not change the trials' mean metric".

    Args:
        values: ``(T,)`` each trial's mean metric (over the same images for every trial).
        angles: ``(T,)`` each trial's train angle (any hashable label).
        n_perm: random relabellings.
        seed: their generator's seed.
        alpha: the level the design must be able to reach (else no test, and a note).
    """
    values = np.asarray(values, dtype=np.float64)
    labels, codes = np.unique(np.asarray([str(a) for a in angles]), return_inverse=True)
    sizes = [int(n) for n in np.bincount(codes)]
    common = {"n_trials": len(values), "n_angles": len(labels),
              "seeds_per_angle": "/".join(map(str, sizes))}
    note = untestable_note(sizes, alpha)
    if note:
        return TrainAngleResult(np.nan, np.nan, testable=False, note=note, **common)
    k = len(labels)
    observed = float(_f_statistic(values, codes[None, :], k)[0])
    perms = np.random.default_rng(seed).permuted(np.tile(codes, (n_perm, 1)), axis=1)
    null = _f_statistic(values, perms, k)
    tol = observed * (1.0 - 1e-9) if np.isfinite(observed) else observed
    p = (1.0 + np.count_nonzero(null >= tol)) / (1.0 + n_perm)
    return TrainAngleResult(observed, float(p), testable=True, **common)


def _theta(label: str) -> float:
    try:
        return float(label.split(",")[0])  # angle_label's spelling: "0,90"
    except ValueError:
        return float("nan")


def trial_image_means(saliency: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per (trial, network, image): each metric averaged over evaluation angles (NaN, e.g.
    degenerate points, skipped), with the trial's descriptors and ``theta`` (train angles as a
    label). Grouped on integer codes: a study's table has millions of rows."""
    keys = [c for c in (*GROUP_KEYS, "train_angles", "seed", "trial_id") if c in saliency]
    network = pd.factorize(saliency["trial_id"].astype(str) + "\x00"
                           + (saliency["init"].astype(str) if "init" in saliency else ""))[0]
    image, names = pd.factorize(saliency["image_id"])
    _, first, cell_of_row = np.unique(network.astype(np.int64) * len(names) + image,
                                      return_index=True, return_inverse=True)
    cell_of_row, n = cell_of_row.ravel(), len(first)
    values = saliency[list(metrics)].to_numpy(dtype=np.float64, na_value=np.nan)
    out = saliency.iloc[first][[*keys, "image_id"]].reset_index(drop=True)
    for j, metric in enumerate(metrics):
        ok = ~np.isnan(values[:, j])
        total = np.bincount(cell_of_row[ok], weights=values[ok, j], minlength=n)
        count = np.bincount(cell_of_row[ok], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[metric] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    out["train_angles"] = [angle_label(v) for v in out["train_angles"]]
    out = out.astype({k: str for k in keys if k not in ("seed", "train_angles")})
    return out.rename(columns={"train_angles": "theta"})


def _bootstrap_differences(cube: list[np.ndarray], n_boot: int, rng: np.random.Generator
                           ) -> np.ndarray:
    # cube[g]: (seeds_g, N) per-image values of θ group g; returns (n_boot, G) group means
    n = cube[0].shape[1]
    out = np.empty((n_boot, len(cube)))
    images = rng.integers(0, n, size=(n_boot, n))
    for g, block in enumerate(cube):
        seeds = rng.integers(0, block.shape[0], size=(n_boot, block.shape[0]))
        per_seed = block[:, images].mean(axis=2)  # (S_g, n_boot): image draw shared by groups
        out[:, g] = np.take_along_axis(per_seed.T, seeds, axis=1).mean(axis=1)
    return out


def _pooled_sd(blocks: list[np.ndarray]) -> float:
    # SD of a trial's mean between seeds of one θ, pooled over θ (NaN with one seed each)
    dev = [b.mean(axis=1) - b.mean() for b in blocks if b.shape[0] > 1]
    df = sum(len(d) - 1 for d in dev)
    return float(np.sqrt(sum((d**2).sum() for d in dev) / df)) if df else float("nan")


def _interval(ref: np.ndarray, other: np.ndarray, boot: np.ndarray, pooled: float, df: int
              ) -> tuple[float, float]:
    # 95 % CI of mean(other) − mean(ref): with seeds, Student's t with the pooled between-seed
    # SD (a bootstrap of 3 seeds cannot reach past their extremes and under-covers); with
    # one seed per θ, the bootstrap over images (expanded percentile): these networks only
    diff = float(other.mean() - ref.mean())
    if np.isfinite(pooled) and df > 0:
        half = float(student_t.ppf(0.975, df)) * pooled * np.sqrt(
            1.0 / ref.shape[0] + 1.0 / other.shape[0])
        return diff - half, diff + half
    tail = expanded_alpha(0.95, ref.shape[1])
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return float(low), float(high)


def train_angle_table(saliency: pd.DataFrame, metrics: Sequence[str] | None = None, *,
                      n_perm: int = 9999, n_boot: int = 2000, seed: int = 0,
                      alpha: float = ALPHA) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train-angle test and effect sizes of every dataset × condition × network × metric.

    Args:
        saliency: the ``saliency`` table, degenerate points masked.
        metrics: metric columns (default: every metric with values).
        n_perm, n_boot, seed: permutations, bootstrap replicates, generator seed.
        alpha: the level a design must be able to reach.

    Returns:
        ``(tests, effects)``. ``tests``: one row per group of trials that differ only in θ and
        seed (at least two θ): its descriptors, ``metric, n_trials, n_angles, angles,
        seeds_per_angle, n_images, f, p_train_angle, spread`` (largest minus smallest θ mean),
        ``note``. ``effects``: per group, metric and θ: ``theta, n_seeds, mean``, and against
        the first θ ``diff, diff_ci_low, diff_ci_high``. Untrained baselines (``init``
        ending in ``_baseline``) are tested as well: they never saw θ, so a difference there
        is not the training's.
    """
    if "train_angles" not in saliency or "image_id" not in saliency:
        return pd.DataFrame(), pd.DataFrame()
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    means = trial_image_means(saliency, metrics)
    keys = [k for k in GROUP_KEYS if k in means]
    tests, effects = [], []
    rng = np.random.default_rng(seed)
    for key, g in means.groupby(keys, observed=True, dropna=False, sort=True):
        if g["theta"].nunique() < 2:
            continue
        head = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        order = sorted(g["theta"].unique(), key=lambda t: (_theta(t), t))
        trial, _ = pd.factorize(g["trial_id"])
        image, _ = pd.factorize(g["image_id"])
        theta_of = g["theta"].to_numpy()[np.unique(trial, return_index=True)[1]]
        for metric in metrics:
            grid = np.full((trial.max() + 1, image.max() + 1), np.nan)
            grid[trial, image] = g[metric].to_numpy(dtype=np.float64)
            # trials with a value at all, and the images every one of them has (paired)
            rows = ~np.isnan(grid).all(axis=1)
            wide = grid[rows][:, ~np.isnan(grid[rows]).any(axis=0)]
            thetas = theta_of[rows]
            if wide.shape[1] == 0 or len(set(thetas)) < 2:
                continue
            trial_means = wide.mean(axis=1)
            test = train_angle_test(trial_means, thetas, n_perm=n_perm, seed=seed, alpha=alpha)
            present = [t for t in order if t in set(thetas)]
            blocks = [wide[thetas == t] for t in present]
            point = np.array([b.mean() for b in blocks])
            boot = _bootstrap_differences(blocks, n_boot, rng)
            diffs = boot - boot[:, :1]
            pooled = _pooled_sd(blocks)
            tests.append({**head, "metric": metric, "n_trials": test.n_trials,
                          "n_angles": test.n_angles,
                          "angles": "; ".join(f"{t}°" for t in present),
                          "seeds_per_angle": "/".join(str(len(b)) for b in blocks),
                          "n_images": wide.shape[1], "f": test.f,
                          "p_train_angle": test.p_value,
                          "spread": float(point.max() - point.min()), "note": test.note})
            for j, t in enumerate(present):
                low, high = _interval(blocks[0], blocks[j], diffs[:, j], pooled,
                                      len(trial_means) - len(blocks)) if j else (0.0, 0.0)
                effects.append({**head, "metric": metric, "theta": t,
                                "n_seeds": len(blocks[j]), "mean": float(point[j]),
                                "reference": present[0],
                                "diff": float(point[j] - point[0]),
                                "diff_ci_low": float(low), "diff_ci_high": float(high)})
    return pd.DataFrame(tests), pd.DataFrame(effects)


def trained_only(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of trained networks (``init`` not an untrained baseline)."""
    if not len(table) or "init" not in table:
        return table
    return table[~table["init"].map(is_baseline).astype(bool)]
