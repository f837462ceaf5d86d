"""What the contrastive rotation tasks share: the (x, x rotated by θ) views and split-BN.

Seed 000's positive pair is (a view of x, a view of x rotated by the trial's θ). Both views are
augmented independently, and both get the same field-of-view crop after the rotation
(DESIGN.md), so the pair can not be told apart by its corners.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from trainables.augment import augment
from trainables.rotation import FieldOfView, apply_fov, rotate_each


def rotation_pair(images: torch.Tensor, angles: tuple[int, ...], preset: str,
                  crop: FieldOfView, g: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two views of every image, the second rotated by an angle drawn from ``angles``.

    Args:
        images: ``(N, C, S, S)`` in [0, 1].
        angles: θ candidates in degrees, one drawn uniformly per image (seed 000: one θ).
        preset: ``pretext.augment`` preset applied to each view independently.
        crop: the common field of view, applied to both views after rotation.
        g: the generator of every draw.

    Returns:
        ``(view, rotated_view, theta)``: two ``(N, C, S, S)`` batches and the ``(N,)`` angles
        (CPU, int) by which the second was rotated.
    """
    n = images.shape[0]
    pick = torch.randint(len(angles), (n,), generator=g, device=g.device).cpu()
    theta = torch.tensor(angles, dtype=torch.long)[pick]
    view = apply_fov(augment(images, preset, g), crop)
    rotated = apply_fov(rotate_each(augment(images, preset, g), theta), crop)
    return view, rotated, theta


def split_forward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, groups: int,
                  perm: torch.Tensor | None = None) -> torch.Tensor:
    """``fn`` on ``groups`` sub-batches separately, so BatchNorm statistics are per group.

    The single-device stand-in for MoCo's shuffle-BN: each group plays one GPU. With ``perm``
    the batch is shuffled before splitting and the outputs unshuffled after (the key side of
    shuffle-BN), so output i is always ``fn``'s output for input i.

    Args:
        fn: a batch function ``(B, ...) -> (B, ...)`` (an encoder and head).
        x: ``(N, ...)``; ``torch.tensor_split`` sizes the groups, so N need not divide evenly.
        groups: number of groups (1 = one call over the whole batch).
        perm: an optional permutation of ``range(N)``.

    Raises:
        ValueError: a group would hold fewer than 2 items (BatchNorm needs 2 in training).
    """
    if groups == 1:
        return fn(x)
    n = x.shape[0]
    if n < 2 * groups:
        raise ValueError(f"pretext.split_bn: {groups} groups need at least {2 * groups} images "
                         f"per batch, got {n} (lower split_bn or raise train.batch_size)")
    if perm is not None:
        x = x[perm.to(x.device)]
    out = torch.cat([fn(part) for part in torch.tensor_split(x, groups)])
    if perm is None:
        return out
    unshuffle = torch.empty_like(perm)
    unshuffle[perm] = torch.arange(n, device=perm.device)
    return out[unshuffle.to(out.device)]
