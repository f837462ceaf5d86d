"""Every registered dataset keeps the Sample contract; ``rotsweep data check`` reports usable
items and every problem, and exits non-zero on problems unless skipping was asked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from data_layouts import (
    write_brats_subject,
    write_cifar10,
    write_coco,
    write_flowers102,
    write_kvasir_boxes,
    write_lfw,
    write_pairs,
    write_svhn,
)

from study.cli.main import main
from trainables.config import DataConfig
from trainables.data import DATASETS, build_dataset, load_split
from trainables.data.check import check_dataset


def _kvasir(root: Path) -> dict[str, Any]:
    write_kvasir_boxes(root, write_pairs(root, n=5))
    return {"root": str(root)}


# One small on-disk (or generated) dataset per registry key; a new adapter without an entry
# here fails test_every_adapter_has_a_fixture.
MAKERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "kvasir_seg": _kvasir,
    "lung_mask": lambda r: (write_pairs(r, n=5, image_ext=".png", mask_ext=".png"),
                            {"root": str(r)})[1],
    "image_folder_masks": lambda r: (write_pairs(r, n=5), {"root": str(r)})[1],
    "brats": lambda r: ([write_brats_subject(r, f"BraTS20_Training_00{i}", seed=i)
                         for i in range(1, 4)],
                        {"root": str(r), "params": {"slices": "above_area"}})[1],
    "coco_boxes": lambda r: (write_coco(r), {
        "root": str(r), "params": {"categories": ["cat", "dog", "person"]}})[1],
    "cifar10": lambda r: (write_cifar10(r), {"root": str(r),
                                             "params": {"verify_md5": False}})[1],
    "svhn": lambda r: (write_svhn(r), {"root": str(r), "params": {"verify_md5": False}})[1],
    "flowers102": lambda r: (write_flowers102(r), {"root": str(r),
                                                   "params": {"verify_md5": False}})[1],
    "lfw": lambda r: (write_lfw(r), {"root": str(r)})[1],
    "digits": lambda r: {},
    "synthetic": lambda r: {"params": {"kind": "brain_phantom", "n_images": 6}},
}


def test_every_adapter_has_a_fixture() -> None:
    assert sorted(MAKERS) == sorted(DATASETS)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_adapter_keeps_the_sample_contract(name: str, tmp_path: Path) -> None:
    c = DataConfig(name=name, image_size=24, n_train=None, n_eval=None,
                   **MAKERS[name](tmp_path))
    report = check_dataset(c)
    assert report.ok and not report.problems, report.lines()
    ds = build_dataset(c)
    assert report.n_usable == len(ds) >= 3
    assert len(set(ds.ids)) == len(ds)
    for i in range(min(len(ds), 4)):
        s = ds[i]
        assert s["image"].shape == (3, 24, 24) and s["image"].dtype == torch.float32
        assert float(s["image"].min()) >= 0.0 and float(s["image"].max()) <= 1.0
        assert s["mask"].shape == (24, 24) and s["mask"].dtype == torch.bool
        assert s["image_id"] == ds.ids[i]
        if "boxes" in s:
            assert s["boxes"].ndim == 2 and s["boxes"].shape[1] == 4
    train, evalset = load_split(c, "train", ds), load_split(c, "eval", ds)
    assert set(train.ids).isdisjoint(evalset.ids)
    assert len(train) + len(evalset) == len(ds)


def test_report_lines(tmp_path: Path) -> None:
    write_pairs(tmp_path, n=4)
    (tmp_path / "masks" / "img002.jpg").unlink()
    report = check_dataset(DataConfig(name="kvasir_seg", root=str(tmp_path), image_size=24,
                                      n_eval=None))
    assert not report.ok and report.n_usable == 3 and len(report.problems) == 1
    lines = report.lines()
    assert lines[0].startswith(f"kvasir_seg at {tmp_path}: 3 usable items at 24x24; mask "
                               "foreground")
    assert lines[1] == "1 problem(s) found:"
    assert "img002.*: missing mask" in lines[2]
    skipped = check_dataset(DataConfig(name="kvasir_seg", root=str(tmp_path), skip_bad=True,
                                       n_eval=None))
    assert skipped.ok and skipped.lines()[1] == "1 problem(s) skipped:"


def test_cli_data_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write_pairs(tmp_path / "data", n=4)
    monkeypatch.chdir(tmp_path)  # --root is relative to the current folder
    assert main(["data", "check", "kvasir_seg", "--root", "data"]) == 0
    assert f"kvasir_seg at {tmp_path / 'data'}: 4 usable items" in capsys.readouterr().out
    (tmp_path / "data" / "masks" / "img001.jpg").unlink()
    assert main(["data", "check", "kvasir_seg", "--root", "data"]) == 1
    out = capsys.readouterr().out
    assert "3 usable items" in out and "img001.*: missing mask" in out
    assert main(["data", "check", "kvasir_seg", "--root", "data", "--skip-bad"]) == 0
    assert main(["data", "check", "kvasir_seg", "--root", "data",
                 "--set", "data.image_size=40"]) == 1
    assert "at 40x40" in capsys.readouterr().out
    assert main(["data", "check", "no_such_set", "--root", "data"]) == 2
    assert "unknown dataset 'no_such_set'" in capsys.readouterr().err
    assert main(["data", "check", "kvasir_seg", "--root", "data",
                 "--set", "data.params.mask_treshold=0"]) == 2
    assert "did you mean 'mask_threshold'" in capsys.readouterr().err


def test_relative_roots_are_read_from_home(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write_pairs(tmp_path / "sets" / "kvasir", n=3)
    monkeypatch.chdir(tmp_path)  # an absolute home does not depend on the working directory
    c = DataConfig(name="kvasir_seg", root="kvasir", home=str(tmp_path / "sets"))
    assert len(build_dataset(c)) == 3
    from trainables.data.disk import dataset_root

    assert dataset_root(c) == tmp_path / "sets" / "kvasir"
    monkeypatch.chdir(tmp_path / "sets")
    rel = DataConfig(name="kvasir_seg", root="kvasir", home="../elsewhere")
    assert check_dataset(rel).problems[0].path == str(tmp_path / "elsewhere" / "kvasir")
    assert dataset_root(DataConfig(name="kvasir_seg", root="kvasir")) == tmp_path / "sets" / (
        "kvasir")
