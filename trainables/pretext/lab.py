"""CIE Lab colour in torch and Zhang et al. 2016's quantised ab classes, for ``colorization``.

* :func:`rgb_to_lab`: sRGB in [0, 1] → L in [0, 100], a and b (D65 white, 2° observer), with
  scikit-image's constants (``skimage.color.rgb2lab``), so the two agree to float precision.
* :func:`ab_bins`: the in-gamut ab bin centres at a grid spacing (Zhang et al. 2016: 10, which
  gives them Q = 313 classes), found by converting a dense sample of the RGB cube.
* :func:`soft_encode`: each target ab as weights on its k nearest bin centres, a Gaussian of
  their distance (Zhang et al.: k = 5, σ = 5).
* :func:`rebalance_weights`: the class-rebalancing weights from a smoothed prior.
* :func:`annealed_mean`: decoding a distribution over bins to one ab (Zhang et al.: T = 0.38).
"""

from __future__ import annotations

import functools

import torch

# sRGB (linear) -> XYZ and the D65 white point, as skimage.color uses them
RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
              (0.212671, 0.715160, 0.072169),
              (0.019334, 0.119193, 0.950227))
WHITE_D65 = (0.95047, 1.0, 1.08883)
EPSILON, KAPPA = 0.008856, 7.787  # CIE's (6/29)^3 and (29/6)^2 / 3, as skimage rounds them
CUBE_STEPS = 64  # RGB cube sample per channel used to find the in-gamut ab bins


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """CIE Lab of sRGB images.

    Args:
        x: ``(N, 3, H, W)`` sRGB in [0, 1].

    Returns:
        ``(N, 3, H, W)``: L in [0, 100], a and b (about −86 … 98 and −108 … 94 for sRGB).
    """
    with torch.autocast(x.device.type, enabled=False):  # the colour maths stays in fp32+
        return _rgb_to_lab(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x)


def _rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    linear = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    m = torch.tensor(RGB_TO_XYZ, dtype=x.dtype, device=x.device)
    white = torch.tensor(WHITE_D65, dtype=x.dtype, device=x.device)
    xyz = torch.einsum("ij,njhw->nihw", m, linear) / white[None, :, None, None]
    f = torch.where(xyz > EPSILON, xyz.clamp_min(1e-12) ** (1.0 / 3.0),
                    KAPPA * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


@functools.lru_cache(maxsize=8)
def ab_bins(grid: float) -> torch.Tensor:
    """The in-gamut ab bin centres ``(Q, 2)`` (a, b) at spacing ``grid``: every multiple of
    ``grid`` that is the nearest centre of some sRGB colour (a 64³ sample of the RGB cube).
    Sorted by a, then b."""
    steps = torch.linspace(0.0, 1.0, CUBE_STEPS, dtype=torch.float64)
    rgb = torch.cartesian_prod(steps, steps, steps).T.reshape(1, 3, -1, 1)
    ab = rgb_to_lab(rgb)[0, 1:, :, 0].T  # P x 2
    cells = torch.round(ab / grid).to(torch.int64)  # P x 2, |cell| < 1000 for grid >= 0.2
    keys = torch.unique((cells[:, 0] + 1000) * 2000 + (cells[:, 1] + 1000))  # sorted a, b
    a, b = keys // 2000 - 1000, keys % 2000 - 1000
    return (torch.stack([a, b], dim=1).to(torch.float32) * grid).contiguous()


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int, sigma: float,
                chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang et al. 2016's soft encoding of target colours.

    Args:
        ab: ``(P, 2)`` target a, b values.
        centres: ``(Q, 2)`` bin centres.
        k: nearest centres kept per target.
        sigma: σ of the Gaussian weight ``exp(−d² / 2σ²)``, in ab units.
        chunk: targets per distance matrix (memory: chunk × Q floats).

    Returns:
        ``(index, weight)``, both ``(P, k)``: the k nearest centres, nearest first, and their
        weights (each row sums to 1).
    """
    index, dist2 = [], []
    for part in ab.split(chunk):
        d2 = torch.cdist(part.float(), centres.to(part.device)) ** 2  # p x Q
        vals, idx = d2.topk(min(k, centres.shape[0]), dim=1, largest=False)
        index.append(idx)
        dist2.append(vals)
    d2 = torch.cat(dist2)
    weight = torch.softmax(-d2 / (2.0 * sigma**2), dim=1)  # = exp(-d²/2σ²) normalised
    return torch.cat(index), weight


def smoothing_matrix(centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(Q, Q)`` Gaussian smoothing of a distribution over bins (rows sum to 1)."""
    d2 = torch.cdist(centres, centres) ** 2
    return torch.softmax(-d2 / (2.0 * sigma**2), dim=1)


def rebalance_weights(prior: torch.Tensor, smoothing: torch.Tensor, mix: float
                      ) -> torch.Tensor:
    """Zhang et al. 2016, Eq. 3–4: ``w ∝ ((1 − λ) p̃ + λ / Q)^−1`` with ``p̃`` the prior
    smoothed by ``smoothing``, scaled so that ``Σ_q p̃_q w_q = 1``.

    Args:
        prior: ``(Q,)`` the empirical distribution over bins (sums to 1).
        smoothing: ``(Q, Q)`` from :func:`smoothing_matrix`.
        mix: λ (Zhang et al.: 0.5).
    """
    p = prior @ smoothing
    w = 1.0 / ((1.0 - mix) * p + mix / prior.numel())
    return w / (p * w).sum()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float
                  ) -> torch.Tensor:
    """Zhang et al. 2016, Eq. 5: the mean of ``softmax(logits / T)`` over bin centres.

    Args:
        logits: ``(N, Q, h, w)``.
        centres: ``(Q, 2)``.
        temperature: T (1 = the mean, → 0 = the mode; Zhang et al.: 0.38).

    Returns:
        ``(N, 2, h, w)`` a, b.
    """
    p = torch.softmax(logits / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", p, centres.to(p.dtype))


def colorization_loss(logits: torch.Tensor, index: torch.Tensor, weight: torch.Tensor,
                      pixel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Zhang et al. 2016, Eq. 2: the soft-target cross-entropy over ab bins, each location
    weighted by its class-rebalancing weight.

    Args:
        logits: ``(M, Q)`` one row per predicted location.
        index, weight: ``(M, k)`` the soft-encoded targets (:func:`soft_encode`).
        pixel_weight: ``(M,)`` ``v(Z)``, the rebalancing weight of each location's nearest
            bin; ``None`` = 1.

    Returns:
        ``−mean_m v_m Σ_j weight[m, j] log softmax(logits[m])[index[m, j]]``.
    """
    logp = torch.log_softmax(logits, dim=1).gather(1, index)  # M x k
    per_location = -(weight * logp).sum(dim=1)  # M
    if pixel_weight is not None:
        per_location = per_location * pixel_weight
    return per_location.mean()
