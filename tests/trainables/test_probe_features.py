"""Block selection: the probes read exactly the named block's output, for every backbone."""

from __future__ import annotations

import pytest
import torch

from trainables.config import ModelConfig
from trainables.data.base import Sample, Subset
from trainables.models import BACKBONES, build_backbone
from trainables.probes.features import extract, load_items, standardize
from trainables.probes.heads import pool_features


class Noise(torch.utils.data.Dataset):
    """``n`` seeded random images of side ``size``, label = index % 3, a corner mask."""

    def __init__(self, n: int, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, size, size, generator=g)
        self.ids = [f"noise_{i:03d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        mask = torch.zeros(self.images.shape[-2:], dtype=torch.bool)
        mask[: i + 1, : i + 1] = True
        return {"image": self.images[i], "mask": mask, "image_id": self.ids[i], "label": i % 3}


def test_pool_features_is_the_mean_of_each_grid_cell() -> None:
    maps = torch.arange(2 * 16, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = pool_features(maps, 2)
    # channel-major: channel 0's four quadrants, then channel 1's
    quadrants = [maps[0, c, r:r + 2, s:s + 2].mean() for c in range(2)
                 for r in (0, 2) for s in (0, 2)]
    assert torch.allclose(out[0], torch.stack(quadrants))
    assert torch.allclose(pool_features(maps, 1)[0], maps[0].mean(dim=(1, 2)))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_block_of_every_backbone_is_extracted_as_itself(name: str) -> None:
    probe_model = BACKBONES[name]({})
    size = max(32, -(-probe_model.min_size // 16) * 16)
    encoder = build_backbone(ModelConfig(backbone=name), image_size=size)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    data = Subset(Noise(3, size), [0, 1, 2])
    # the first two and last two blocks (all of most backbones; ViT's 14 would cost seconds)
    blocks = tuple(dict.fromkeys(encoder.block_names[:2] + encoder.block_names[-2:]))
    pooled = extract(encoder, data, "classification", blocks, spatial=False, pool=1,
                     batch_size=2, device=torch.device("cpu"))
    maps = extract(encoder, data, "segmentation", blocks, spatial=True, pool=1,
                   batch_size=2, device=torch.device("cpu"))
    x = torch.stack([data[i]["image"] for i in range(3)])
    channels = []
    with torch.no_grad():
        for block in blocks:
            ref = encoder.features(x, block)  # (N, C_b, H_b, W_b): the block's own output
            assert maps.features[block].shape == ref.shape
            assert maps.features[block].dtype == torch.float16
            assert torch.allclose(maps.features[block].float(), ref, rtol=1e-2, atol=1e-2)
            assert pooled.features[block].shape == (3, ref.shape[1])
            # batches of 2 vs. one of 3: float summation order differs, hence the tolerance
            assert torch.allclose(pooled.features[block], ref.mean(dim=(2, 3)), rtol=1e-4,
                                  atol=1e-4)
            channels.append(ref.shape[1])
    assert channels[-1] == encoder.embed_dim
    assert pooled.targets.tolist() == [0, 1, 2]
    assert maps.targets.shape == (3, size, size) and maps.targets[1].sum() == 4
    # eval() mode: extraction never moves BatchNorm statistics
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_small_cnn_blocks_have_their_known_shapes() -> None:
    encoder = build_backbone(ModelConfig(backbone="small_cnn", params={"width": 8}), 32)
    out = extract(encoder, Subset(Noise(2, 32), [0, 1]), "segmentation", ("block1", "block3"),
                  spatial=True, pool=1, batch_size=2, device=torch.device("cpu"))
    # 3×3 stride-2 blocks: 32 → 16 → 8 → 4 px; 8, 16, 32 channels
    assert out.features["block1"].shape == (2, 8, 16, 16)
    assert out.features["block3"].shape == (2, 32, 4, 4)


def test_an_unknown_block_is_named_with_the_choices() -> None:
    encoder = build_backbone(ModelConfig(backbone="small_cnn"), 32)
    with pytest.raises(KeyError, match=r"unknown block 'layer9'; expected one of \['block1'"):
        extract(encoder, Subset(Noise(1, 32), [0]), "classification", ["layer9"],
                spatial=False, pool=1, batch_size=1, device=torch.device("cpu"))


def test_load_items_keeps_images_and_targets_in_order() -> None:
    base = Noise(5, 16)
    images, labels = load_items(Subset(base, [4, 0, 2]), "classification", batch_size=2)
    assert torch.equal(images, base.images[[4, 0, 2]])
    assert labels.tolist() == [1, 0, 2]


def test_standardize_uses_the_training_statistics_only() -> None:
    train = torch.tensor([[1.0, 5.0], [3.0, 5.0]])  # feature 1 is constant
    held = torch.tensor([[5.0, 7.0]])
    tr, ev = standardize(train, held)
    assert torch.allclose(tr, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    # mean 2, std 1 on the training items; the constant feature is only centred
    assert torch.allclose(ev, torch.tensor([[3.0, 2.0]]))
    maps = torch.rand(4, 3, 5, 5) * torch.tensor([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)
    (out,) = standardize(maps)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
