"""The jigsaw's permutation set: Noroozi & Favaro 2016, Algorithm 1 ("Generation of the
maximal Hamming distance permutation set").

Start from one permutation drawn uniformly (seeded here), then repeatedly add the remaining
permutation whose summed Hamming distance to the ones already chosen is largest. Ties go to
the first in lexicographic order, so a (size, seed) pair always gives the same set. The paper
chooses 1000 of the 9! = 362,880 orders of 3×3 tiles this way; the set's size trades the
task's difficulty (classes, and how few tile positions tell two classes apart) against what
the features learn (the paper's Table 3).
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=4)
def all_permutations(n_items: int) -> np.ndarray:
    """Every permutation of ``range(n_items)`` in lexicographic order (as
    ``itertools.permutations`` lists them): ``(n_items!, n_items)`` int8, read-only."""
    if n_items == 1:
        out = np.zeros((1, 1), dtype=np.int8)
    else:
        sub = all_permutations(n_items - 1)  # values 0 .. n_items - 2
        blocks = []
        for first in range(n_items):
            rest = np.array([v for v in range(n_items) if v != first], dtype=np.int8)
            blocks.append(np.hstack([np.full((len(sub), 1), first, dtype=np.int8), rest[sub]]))
        out = np.vstack(blocks)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=16)
def maximal_hamming_set(size: int, seed: int = 0, n_items: int = 9) -> np.ndarray:
    """``size`` permutations of ``n_items`` tiles chosen by maximal Hamming distance.

    The summed distance of a candidate to the i chosen permutations is ``n_items · i`` minus
    its summed matches with them, so the loop keeps each candidate's match count and adds 1
    to the (n_items − 1)! candidates that share a position's value with the newly chosen one,
    position by position: about 2 ms per permutation for 3×3 tiles instead of comparing all
    9! candidates with the new one.

    Args:
        size: the number of permutations (classes); at most ``n_items!``.
        seed: seeds the uniform draw of the first permutation (the algorithm's only draw).
        n_items: tiles per puzzle (9 for 3×3).

    Returns:
        ``(size, n_items)`` int64, read-only; row k is class k: position j of the shuffled
        puzzle shows tile ``row[j]`` (tiles numbered in reading order).

    Raises:
        ValueError: ``size`` is not in [1, n_items!].
    """
    pool = all_permutations(n_items)
    if not 1 <= size <= len(pool):
        raise ValueError(f"permutations: {size}; expected 1 to {len(pool)} ({n_items}!)")
    sharing = [[np.flatnonzero(pool[:, k] == v) for v in range(n_items)]
               for k in range(n_items)]  # position k, value v -> the candidates with it
    matches = np.zeros(len(pool), dtype=np.int64)
    taken = np.iinfo(np.int64).max // 2  # a chosen permutation is never chosen again
    j = int(np.random.default_rng(seed).integers(len(pool)))
    chosen = []
    for _ in range(size):
        chosen.append(j)
        for k, v in enumerate(pool[j]):
            matches[sharing[k][v]] += 1
        matches[j] = taken
        j = int(np.argmin(matches))  # fewest matches = largest summed distance; ties: first
    out = pool[chosen].astype(np.int64)
    out.setflags(write=False)
    return out


def hamming_distances(perms: np.ndarray) -> np.ndarray:
    """The ``(P, P)`` matrix of Hamming distances between the rows of ``perms``."""
    return (perms[:, None, :] != perms[None, :, :]).sum(axis=-1)
