"""Contrastive losses as pure functions (the modules that own state live beside them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's InfoNCE loss (He et al. 2020, Eq. 1).

    Args:
        q: queries, ``(N, D)``, L2-normalised.
        k: positive keys, ``(N, D)``, L2-normalised, no gradient.
        queue: negative keys, ``(K, D)``, L2-normalised.
        temperature: τ (MoCo v2: 0.2).

    Returns:
        ``(loss, logits)``; logits ``(N, 1 + K)`` with the positive in column 0; the loss is
        the mean over queries of ``−log softmax(logits)[0]``.
    """
    l_pos = (q * k).sum(dim=1, keepdim=True)  # N x 1
    l_neg = q @ queue.T  # N x K
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature  # N x (1 + K)
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels), logits


def nt_xent_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2N × 2N similarity logits of NT-Xent (self-similarity masked to −inf) and each
    anchor's positive index: anchor i < N pairs with N + i and N + i with i."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # 2N x D
    sim = z @ z.T / temperature  # 2N x 2N
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return sim, positives


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss over the 2N views of a batch (Chen et al. 2020, Eq. 1).

    Args:
        z1, z2: the two views' projections, ``(N, D)``; normalised here.
        temperature: τ (SimCLR: 0.5).

    Returns:
        The mean over all 2N anchors of −log softmax of the positive among the other 2N − 1.
    """
    sim, positives = nt_xent_logits(z1, z2, temperature)
    return F.cross_entropy(sim, positives)
