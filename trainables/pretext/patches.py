"""What the tile and patch tasks share (``jigsaw``, ``context``, ``counting``): random
integers and dropout drawn from the step's generator, cutting square patches out of a batch,
the per-patch guards against low-level shortcuts, and the shared-weight ("siamese") head.

Every draw comes from the generator ``g`` a task's ``step`` receives (on ``g.device``), so the
same trial seed gives the same tiles, labels and dropout masks.
"""

from __future__ import annotations

import torch
from torch import nn

from trainables.augment import color_jitter, grayscale
from trainables.models import Backbone

# the mean and spread a standardised patch is given: those of an image in [0, 1], so the
# encoder sees tiles in the range of the whole images its probes later feed it
PATCH_MEAN, PATCH_STD = 0.5, 0.25


def randint(low: int, high: int, shape: tuple[int, ...], g: torch.Generator,
            device: torch.device) -> torch.Tensor:
    """Integers uniform in ``[low, high]`` (both included), drawn from ``g``, on ``device``."""
    return torch.randint(low, high + 1, shape, generator=g, device=g.device).to(device)


def dropout(x: torch.Tensor, p: float, g: torch.Generator, training: bool) -> torch.Tensor:
    """Inverted dropout with the mask drawn from ``g`` (``nn.Dropout`` draws from torch's
    global generator, which the step's ``g`` does not drive)."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape, generator=g, device=g.device).to(x.device) >= p
    return x * keep.to(x.dtype) / (1.0 - p)


def crop_patches(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, side: int
                 ) -> torch.Tensor:
    """Square patches of ``side`` px whose top-left corners are ``(rows, cols)``.

    Args:
        images: ``(N, C, H, W)``.
        rows, cols: ``(N, K)`` integer corners, each patch inside its image.

    Returns:
        ``(N, K, C, side, side)``: patch k of image i is
        ``images[i, :, rows[i, k]:rows[i, k] + side, cols[i, k]:cols[i, k] + side]``.
    """
    n = images.shape[0]
    span = torch.arange(side, device=images.device)
    r = (rows.to(images.device)[:, :, None] + span)[:, :, :, None]  # N x K x side x 1
    c = (cols.to(images.device)[:, :, None] + span)[:, :, None, :]  # N x K x 1 x side
    i = torch.arange(n, device=images.device)[:, None, None, None]
    patches = images.permute(0, 2, 3, 1)[i, r, c]  # N x K x side x side x C
    return patches.permute(0, 1, 4, 2, 3).contiguous()


def standardize_patches(patches: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Give every patch and channel the same mean and spread (:data:`PATCH_MEAN`,
    :data:`PATCH_STD`), so brightness and contrast, which continue across neighbouring tiles,
    cannot tell where a tile came from (Noroozi & Favaro 2016 normalise each tile on its own).

    Args:
        patches: ``(..., C, h, w)``.
    """
    mean = patches.mean(dim=(-2, -1), keepdim=True)
    std = patches.std(dim=(-2, -1), keepdim=True)
    return (patches - mean) / (std + eps) * PATCH_STD + PATCH_MEAN


def jitter_colours(patches: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Colour jitter drawn for every patch on its own (brightness, contrast, saturation
    factors in [1 − s, 1 + s], hue ±0.1, p = 0.8; :func:`trainables.augment.color_jitter`), so
    colour does not continue from tile to tile (seed 004, jigsaw: "color jitter augmentation
    is applied in order to prevent the model from cheating using cues of edges and
    continuity").

    Args:
        patches: ``(N, K, 3, h, w)`` in [0, 1].
        strength: s; 0 leaves the patches as they are.
    """
    if strength == 0.0:
        return patches
    flat = patches.flatten(0, 1)
    return color_jitter(flat, g, strength=strength).reshape(patches.shape)


def gray_images(images: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Make a share ``p`` of the images grey (luma in every channel), each drawn from ``g``."""
    if p == 0.0:
        return images
    chosen = torch.rand(images.shape[0], generator=g, device=g.device).to(images.device) < p
    gray = grayscale(images).expand_as(images)
    return torch.where(chosen[:, None, None, None], gray, images)


def drop_colours(patches: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Doersch et al. 2015's "color dropping": each patch keeps one colour channel drawn at
    random; the other two become that channel's mean plus Gaussian noise of 1/100 of its
    standard deviation, so chromatic aberration (colour fringes that point away from the
    image centre) cannot tell a patch's position.

    Args:
        patches: ``(N, K, 3, h, w)``.
    """
    n, k, c = patches.shape[:3]
    keep = randint(0, c - 1, (n, k), g, patches.device)
    kept = patches.gather(2, keep[:, :, None, None, None].expand(n, k, 1, *patches.shape[3:]))
    mean = kept.mean(dim=(-2, -1), keepdim=True)
    std = kept.std(dim=(-2, -1), keepdim=True)
    noise = torch.randn(patches.shape, generator=g, device=g.device).to(patches.device)
    filled = mean + noise * std / 100.0
    channel = torch.arange(c, device=patches.device)[None, None, :, None, None]
    return torch.where(channel == keep[:, :, None, None, None], patches, filled)


def encode_patches(encoder: Backbone, patches: torch.Tensor) -> torch.Tensor:
    """The pooled embeddings ``(N, K, D)`` of patches ``(N, K, C, h, w)``: one forward pass
    through the shared-weight encoder."""
    n, k = patches.shape[:2]
    return encoder(patches.flatten(0, 1)).reshape(n, k, -1)


class SiameseHead(nn.Module):
    """The head of the patch-classification tasks: a shared fully-connected layer per patch
    (AlexNet's fc6, applied to each patch's embedding with the same weights), the patches'
    features concatenated in their input order, then fc7 → ReLU → dropout → fc8 over the
    classes (Noroozi & Favaro 2016's context-free network; Doersch et al. 2015's pair
    network).

    Args:
        embed_dim: the encoder's embedding size D.
        n_patches: patches per example K (9 for the jigsaw, 2 for a context pair).
        features: fc6 width per patch.
        hidden: fc7 width.
        classes: outputs of fc8.
        dropout: dropout probability after fc6 and fc7 (seed 004: "AlexNet ... with batch
            normalization and dropout").
    """

    def __init__(self, embed_dim: int, n_patches: int, features: int, hidden: int,
                 classes: int, dropout: float) -> None:
        super().__init__()
        self.p = dropout
        self.fc6 = nn.Linear(embed_dim, features)
        self.fc7 = nn.Linear(n_patches * features, hidden)
        self.fc8 = nn.Linear(hidden, classes)

    def forward(self, z: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        """Logits ``(N, classes)`` of patch embeddings ``z`` ``(N, K, D)``; ``g`` draws the
        dropout masks (no dropout without it)."""
        h = torch.relu(self.fc6(z))  # N x K x features
        if self.training and g is not None:
            h = dropout(h, self.p, g, True)
        h = torch.relu(self.fc7(h.flatten(1)))  # N x hidden
        if self.training and g is not None:
            h = dropout(h, self.p, g, True)
        return self.fc8(h)
