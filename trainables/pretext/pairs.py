"""What the contrastive rotation tasks share: the (x, x rotated by θ) views and split-BN.

Seed 000's positive pair is (a view of x, a view of x rotated by the trial's θ). How the two
views' random augmentations relate is the ``pairing`` (docs/rotation.md):

- ``shared`` (the default): every random draw (flips, the ±10° jitter, crop, translation, blur,
  colour) is made once per image and applied to both views, so the views are the same
  augmented image seen at j and at j + θ (j the preset's own rotation, see below): identical
  at θ = 0, a quarter turn of each other at 90°, and "train angle θ" means the relative
  rotation θ.
- ``independent``: each view draws its own augmentation (seed 000's reading of its pipeline).
  Then at θ = 0 only about a quarter of the pairs are related by the identity (independent
  flips relate them by R0, R180 or a mirror), θ and θ + 180° give the same pair distribution,
  and the ±10° jitters widen the relative angle to θ ± 20°.

Each view is resampled once (:func:`trainables.rotation.rotate_each`, the same resampling at
every angle): the first at the preset's own rotation j (``paper``'s ±10° jitter, 0 for the
other presets), the second at j + θ. Both get the same field-of-view crop, so the pair cannot
be told apart by blur, corners or borders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch

from trainables.augment import augment_unrotated
from trainables.rotation import FieldOfView, apply_fov, quarter_turns, rotate_each, split_angles

Pairing = Literal["shared", "independent"]
PAIRINGS = ("shared", "independent")


def rotation_pair(images: torch.Tensor, angles: Sequence[float], preset: str,
                  crop: FieldOfView, g: torch.Generator, pairing: Pairing = "shared"
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two views of every image, the second rotated by an angle drawn from ``angles``.

    Args:
        images: ``(N, C, S, S)`` in [0, 1].
        angles: θ candidates in degrees (floats), one drawn uniformly per image (seed 000:
            one θ).
        preset: the ``pretext.augment`` preset.
        crop: the common field of view, applied to both views after rotation.
        g: the generator of every draw.
        pairing: ``shared`` (one augmentation per image, applied to both views) or
            ``independent`` (one per view); see the module docstring.

    Returns:
        ``(view, rotated_view, theta)``: two ``(N, C, S, S)`` batches and the ``(N,)`` angles
        (CPU, float64 degrees) by which the second was rotated relative to the first.

    Raises:
        ValueError: an unknown ``pairing`` or an empty angle set.
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"pretext.params.pairing: unknown pairing {pairing!r}; expected one "
                         f"of {list(PAIRINGS)}")
    if len(angles) == 0:
        raise ValueError("rotation_pair: needs at least one angle")
    n = images.shape[0]
    pick = torch.randint(len(angles), (n,), generator=g, device=g.device).cpu()
    theta = torch.tensor([float(a) for a in angles], dtype=torch.float64)[pick]
    first, own = augment_unrotated(images, preset, g)  # N x C x S x S, the preset's rotation
    if pairing == "shared":
        second, own_second = first, own
    else:
        second, own_second = augment_unrotated(images, preset, g)
    quarters, rest = split_angles(theta)
    if pairing == "shared" and bool((rest == 0).all()):  # θ a quarter turn: exact of view 1
        view = rotate_each(first, _degrees(own, n))
        turned = quarter_turns(view, quarters)
    else:  # one resampling of both views: j and j + θ
        both = rotate_each(torch.cat([first, second]),
                           torch.cat([_degrees(own, n), _degrees(own_second, n) + theta]))
        view, turned = both[:n], both[n:]
    if own is not None:  # the preset's rotation clips to [0, 1] (trainables.augment.paper)
        view, turned = view.clamp(0, 1), turned.clamp(0, 1)
    return apply_fov(view, crop), apply_fov(turned, crop), theta


def _degrees(own: torch.Tensor | None, n: int) -> torch.Tensor:
    """The preset's own rotation of each view (CPU float64 degrees; 0 without one)."""
    return torch.zeros(n, dtype=torch.float64) if own is None else own.double().cpu()


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
