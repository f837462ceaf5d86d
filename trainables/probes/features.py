"""Features of named blocks, extracted once per (encoder, downstream split) and cached in memory
for every probe, fraction and epoch that reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainables.data import collate
from trainables.data.base import Subset
from trainables.models import Backbone
from trainables.probes.downstream import Task
from trainables.probes.heads import pool_features
from trainables.train import autocast


def batches(data: Subset, task: Task, batch_size: int) -> Iterator[tuple[torch.Tensor,
                                                                          torch.Tensor]]:
    """``(images (B, 3, S, S), targets)`` in the set's order; targets are ``(B,)`` class indices
    (classification) or ``(B, S, S)`` bool masks (segmentation)."""
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate)
    for batch in loader:
        if task == "classification":
            if "label" not in batch:
                raise ValueError("a classification probe needs items with a 'label'")
            yield batch["image"], batch["label"].long()
        else:
            yield batch["image"], batch["mask"].bool()


@dataclass(frozen=True)
class Extracted:
    """Every requested block's features of one split, with the targets.

    Attributes:
        features: block → ``(N, C · pool²)`` float32 pooled features, or ``(N, C, h, w)``
            float16 maps (``spatial``: half precision halves the memory of cached maps; heads
            compute in float32).
        targets: ``(N,)`` int64 labels or ``(N, S, S)`` bool masks.
    """

    features: dict[str, torch.Tensor]
    targets: torch.Tensor


@torch.no_grad()
def extract(encoder: Backbone, data: Subset, task: Task, blocks: Sequence[str], *,
            spatial: bool, pool: int, batch_size: int, device: torch.device,
            amp: bool = False, channels_last: bool = False) -> Extracted:
    """Run the frozen encoder (``eval()`` mode) over ``data`` once and keep ``blocks``' outputs.

    Args:
        encoder: the backbone; its ``features(x, block)`` defines each block's output.
        data: the items.
        task: what the targets are (see :func:`batches`).
        blocks: block names (``encoder.block_names``).
        spatial: keep the maps (segmentation) instead of pooled vectors.
        pool: the pooling grid side of pooled features (``probe.pool``).
        batch_size: items per forward pass.
        device: where the encoder runs; features come back on the CPU.
        amp: bf16 autocast on CUDA.
        channels_last: channels-last inputs on CUDA.

    Raises:
        KeyError: a block is not one of the encoder's.
    """
    for block in blocks:
        encoder.check_block(block)
    encoder.eval()

    def keep(maps: torch.Tensor) -> torch.Tensor:
        return maps.to(torch.float16, copy=True) if spatial else pool_features(maps, pool)

    feats: dict[str, list[torch.Tensor]] = {b: [] for b in blocks}
    targets: list[torch.Tensor] = []
    for images, target in batches(data, task, batch_size):
        x = images.to(device, non_blocking=True)
        if channels_last and device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out = block_outputs(encoder, x, blocks, keep)
        for block in blocks:
            feats[block].append(out[block].cpu())
        targets.append(target)
    return Extracted({b: torch.cat(v) for b, v in feats.items()}, torch.cat(targets))


def block_outputs(encoder: Backbone, x: torch.Tensor, blocks: Sequence[str],
                  keep: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    """``keep(features(x, block))`` for every block, in one forward pass where the backbone
    allows it.

    A backbone that keeps :meth:`Backbone.features` (every CNN here) returns a block's raw
    output, so hooks on the blocks capture all of them while the input passes once, up to the
    deepest block asked for: probing N blocks costs one pass instead of about N/2. A backbone
    that overrides ``features`` (ViT lays tokens out as maps) is asked block by block.

    Args:
        keep: applied to each block's maps at once; it must return a new tensor (pooled, or
            copied), because a later block may modify its input in place.
    """
    if type(encoder).features is not Backbone.features:
        return {b: keep(encoder.features(x, b)) for b in blocks}
    out: dict[str, torch.Tensor] = {}

    def capture(name: str) -> Callable[..., None]:
        def hook(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
            out[name] = keep(output)
        return hook

    handles = [encoder.blocks[b].register_forward_hook(capture(b)) for b in blocks]
    try:
        encoder.features(x, max(blocks, key=encoder.block_names.index))
    finally:
        for handle in handles:
            handle.remove()
    return out


def load_items(data: Subset, task: Task, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All images ``(N, 3, S, S)`` and targets of ``data`` in memory (``finetune`` trains on
    images)."""
    pairs = list(batches(data, task, batch_size))
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Standardise features with the training subset's statistics: per feature for ``(N, D)``,
    per channel for ``(N, C, h, w)``; constant features become 0.

    Raw block outputs differ in scale by orders of magnitude between blocks and between a
    trained and a random-init encoder; one learning rate suits every probe only after this.
    """
    dims = [0] if train.dim() == 2 else [0, 2, 3]
    x = train.float()
    mean = x.mean(dims, keepdim=True)
    std = x.std(dims, keepdim=True, unbiased=False)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return [((t.float() - mean) / std).to(t.dtype) for t in (train, *others)]
