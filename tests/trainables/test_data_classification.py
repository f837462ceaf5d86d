"""Classification sets for probes, from files in the torchvision / LFW formats and offline
package data: labels, all-False masks, no download."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_layouts import write_cifar10, write_flowers102, write_lfw, write_svhn

from trainables.config import ConfigError, DataConfig
from trainables.data import DataError, build_dataset, collate

S = 24


def cfg(name: str, root: Path | None, **params: Any) -> DataConfig:
    return DataConfig(name=name, root=None if root is None else str(root), image_size=S,
                      params=params)


def check_items(ds: Any, labels: list[int]) -> None:
    assert [ds[i]["label"] for i in range(len(ds))] == labels
    s = ds[0]
    assert s["image"].shape == (3, S, S) and s["image"].dtype == torch.float32
    assert s["mask"].shape == (S, S) and not s["mask"].any()
    assert collate([ds[0], ds[1]])["label"].tolist() == labels[:2]


def test_cifar10_python_batches(tmp_path: Path) -> None:
    labels = write_cifar10(tmp_path)
    ds = build_dataset(cfg("cifar10", tmp_path, verify_md5=False))
    assert len(ds) == 15 and ds.ids[0] == "train_00000"
    check_items(ds, labels.tolist())
    assert ds.classes[3] == "class3"
    # pixel values: CIFAR stores rows of 1024 R, then G, then B values
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f)["data"][0].reshape(3, 32, 32)
    same = build_dataset(DataConfig(name="cifar10", root=str(tmp_path), image_size=32,
                                    params={"verify_md5": False}))[0]["image"]
    assert torch.allclose(same * 255, torch.from_numpy(raw).float(), atol=1e-3)
    assert len(build_dataset(cfg("cifar10", tmp_path, verify_md5=False, split="test"))) == 3


def test_official_md5_check_names_each_file_and_never_advises_turning_it_off(
        tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    with pytest.raises(DataError) as caught:
        build_dataset(cfg("cifar10", tmp_path))
    text = str(caught.value)
    for name in ("data_batch_1", "data_batch_5", "batches.meta"):
        assert re.search(rf"{name}: MD5 [0-9a-f]{{32}} differs from the official release's",
                         text), text
    assert "verify_md5" not in text and len(caught.value.problems) == 6


def test_svhn_mat_file_maps_label_10_to_digit_0(tmp_path: Path) -> None:
    labels = write_svhn(tmp_path)
    ds = build_dataset(cfg("svhn", tmp_path, verify_md5=False))
    check_items(ds, labels.tolist())
    assert ds[0]["label"] == 0


def test_flowers102_jpg_and_mat_files(tmp_path: Path) -> None:
    labels = write_flowers102(tmp_path)
    ds = build_dataset(cfg("flowers102", tmp_path, verify_md5=False))
    assert list(ds.ids) == ["image_00001", "image_00003", "image_00005"]
    check_items(ds, labels)
    assert ds[1]["image"].mean() == pytest.approx(30 / 255, abs=2 / 255)  # image 3: value 30


def test_split_must_exist_for_the_set(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    with pytest.raises(DataError, match=r"data.params.split: 'extra'; expected one of"):
        build_dataset(cfg("cifar10", tmp_path, split="extra"))


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        build_dataset(cfg("cifar10", tmp_path))
    assert any("cifar-10-batches-py/data_batch_1" in p.path for p in err.value.problems)


def test_lfw_local_folder_labels_people(tmp_path: Path) -> None:
    counts = write_lfw(tmp_path)
    ds = build_dataset(cfg("lfw", tmp_path))
    assert ds.classes == sorted(counts)
    check_items(ds, [0, 0, 1, 2, 2, 2])
    assert ds.ids[0] == "Ann_A_0001"
    two = build_dataset(cfg("lfw", tmp_path, min_images_per_person=2))
    assert two.classes == ["Ann_A", "Cid_C"] and len(two) == 5


def test_lfw_without_root_is_the_offline_subset() -> None:
    ds = build_dataset(cfg("lfw", None))
    assert len(ds) == 200 and ds.classes == ["background", "face"]
    assert ds[0]["label"] == 1 and ds[199]["label"] == 0


def test_digits_are_upsampled_with_their_labels() -> None:
    from sklearn.datasets import load_digits

    ds = build_dataset(cfg("digits", None))
    target = load_digits().target
    assert len(ds) == 1797
    assert [ds[i]["label"] for i in range(10)] == target[:10].tolist()
    # brightness follows the 8 x 8 original: the mean of the upsampled image matches
    original = load_digits().images[5] / 16.0
    assert float(ds[5]["image"].mean()) == pytest.approx(original.mean(), abs=0.03)
    with pytest.raises(ConfigError, match=r"data\.params: unknown key 'n'"):
        build_dataset(cfg("digits", None, n=3))


def test_classification_items_are_cached(tmp_path: Path) -> None:
    write_lfw(tmp_path)
    ds = build_dataset(cfg("lfw", tmp_path))
    first = ds[3]["image"]
    for f in tmp_path.rglob("*.jpg"):
        f.write_bytes(b"gone")  # the cached item does not read the file again
    assert torch.equal(ds[3]["image"], first)
    with pytest.raises(DataError, match="cannot be read as an image"):
        ds[4]  # an item never read before fails, naming its file
    assert np.isfinite(first.numpy()).all()
