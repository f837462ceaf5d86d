"""No code runs from a dataset file, and no file is decoded beyond ``data.max_image_pixels``.

Crafted files carry a ``__reduce__`` payload that would create a file when unpickled; each test
checks the refusal names the file and that the payload's file does not exist afterwards.
"""

from __future__ import annotations

import pickle
import struct
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from data_layouts import write_cifar10
from PIL import Image

from study.cli.main import main
from trainables.config import DataConfig
from trainables.data import DataError, Problem, build_dataset, load_split
from trainables.data.brats import read_volume
from trainables.data.check import check_dataset
from trainables.data.safe_pickle import load_restricted
from trainables.data.transforms import read_pixels


class Payload:
    """Unpickled, it would create the file ``target`` (``open(target, "w")``)."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.target, "w"))


def crafted_cifar(root: Path, target: Path, where: str = "data_batch_1") -> Path:
    """A CIFAR-10 copy whose file ``where`` holds the payload."""
    write_cifar10(root)
    path = root / "cifar-10-batches-py" / where
    path.write_bytes(pickle.dumps({"data": Payload(target), "labels": [0, 1, 2]}, protocol=2))
    return path


@pytest.mark.parametrize("where", ["data_batch_1", "batches.meta"])
def test_crafted_cifar_pickle_is_refused_and_runs_nothing(tmp_path: Path, where: str) -> None:
    target = tmp_path / "PAYLOAD_RAN"
    bad = crafted_cifar(tmp_path / "cifar", target, where)
    cfg = DataConfig(name="cifar10", root=str(tmp_path / "cifar"), image_size=16,
                     params={"verify_md5": False})
    with pytest.raises(DataError) as caught:
        build_dataset(cfg)
    assert str(caught.value.problems[0]).startswith(f"{bad}: not read as ")
    assert "refused global builtins.open" in str(caught.value) or (
        "refused global io.open" in str(caught.value))
    assert not target.exists()
    # with the MD5 check on, the copy is refused before anything is unpickled
    with pytest.raises(DataError, match=rf"{where}: MD5 [0-9a-f]+ differs"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path / "cifar")))
    assert not target.exists()


def test_crafted_cifar_through_data_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    target = tmp_path / "PAYLOAD_RAN"
    bad = crafted_cifar(tmp_path / "cifar", target)
    code = main(["data", "check", "cifar10", "--root", str(tmp_path / "cifar"),
                 "--set", "data.params.verify_md5=false"])
    out = capsys.readouterr().out
    assert code == 1 and f"{bad}: not read as a CIFAR-10 batch" in out
    assert "refused global" in out and "verify_md5" not in out.split("problem(s)")[1]
    assert not target.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_plain_cifar_data(tmp_path: Path, protocol: int) -> None:
    """Known answer: the arrays, lists, strings and bytes numpy and Python write come back."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": data, "labels": [3, 7], "batch_label": b"x",
                                   "filenames": ["a.png", "b.png"]}, protocol=protocol))
    got = load_restricted(path, "a batch")
    assert np.array_equal(got["data"], data) and got["labels"] == [3, 7]
    assert got["batch_label"] == b"x" and got["filenames"] == ["a.png", "b.png"]


def test_cifar_batches_with_the_wrong_content_name_the_file(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    bad.write_bytes(pickle.dumps({"data": np.zeros((3, 10), np.uint8), "labels": [0, 1, 2]}))
    with pytest.raises(DataError, match=r"data_batch_2: 'data' is a uint8 array of shape "
                                        r"\(3, 10\); expected a uint8 array of N x 3072"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path),
                                 params={"verify_md5": False}))


def test_data_error_keeps_its_problems_across_processes() -> None:
    """Ray pickles a trial's exception: the problems must survive, not become characters."""
    err = DataError([Problem("a/b.png", "missing"), Problem("c.png", "bad")], "kvasir_seg")
    back = pickle.loads(pickle.dumps(err))
    assert back.problems == err.problems and back.dataset == "kvasir_seg"
    assert str(back) == str(err)


def png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A 2 x 2 PNG whose header claims ``width x height`` (its data would not decode)."""
    Image.new("L", (2, 2)).save(path)
    raw = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length and type of the IHDR chunk
    raw[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    raw[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(raw))
    return path


def test_image_size_is_refused_from_the_header_before_decoding(tmp_path: Path) -> None:
    big = png_header_claiming(tmp_path / "big.png", 10_000, 6_000)  # 60 MP > 50 MP default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not escape
        with pytest.raises(DataError) as caught:
            read_pixels(big)
    assert str(caught.value.problems[0]) == (
        f"{big}: declares 10000 x 6000 = 60,000,000 pixels, more than data.max_image_pixels = "
        "50,000,000; refused before decoding (raise data.max_image_pixels if the file is "
        "genuine)")
    # a lower cap refuses a small file; the header is all that was read (its data are junk)
    small = png_header_claiming(tmp_path / "small.png", 300, 200)
    with pytest.raises(DataError, match=r"300 x 200 = 60,000 pixels, more than "
                                        r"data.max_image_pixels = 50,000"):
        read_pixels(small, 50_000)
    with pytest.raises(DataError, match="cannot be read as an image"):
        read_pixels(small, 60_000)  # allowed: then decoding fails on the junk data


def test_pil_decompression_bomb_is_one_clear_error(tmp_path: Path) -> None:
    bomb = png_header_claiming(tmp_path / "bomb.png", 20_000, 20_000)  # over PIL's hard limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"bomb\.png: refused before decoding: Image size "
                                            r"\(400000000 pixels\) exceeds limit"):
            read_pixels(bomb, 10**9)


def test_image_cap_through_an_adapter_and_data_check(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from data_layouts import write_pairs

    write_pairs(tmp_path, n=3, h=40, w=48)
    cfg = DataConfig(name="kvasir_seg", root=str(tmp_path), max_image_pixels=1000, n_eval=None)
    report = check_dataset(cfg)
    assert report.n_usable == 0 and len(report.problems) == 3
    assert "declares 48 x 40 = 1,920 pixels, more than data.max_image_pixels = 1,000" in str(
        report.problems[0])
    assert main(["data", "check", "kvasir_seg", "--root", str(tmp_path),
                 "--set", "data.max_image_pixels=1000"]) == 1
    assert "1,920 pixels" in capsys.readouterr().out


def test_nifti_shape_is_checked_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "vol.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(path))
    header = bytearray(path.read_bytes())
    header[40:56] = struct.pack("<8h", 3, 2000, 2000, 2000, 1, 1, 1, 1)  # dim[]: 8e9 voxels
    path.write_bytes(bytes(header))
    with pytest.raises(DataError, match=r"vol\.nii: declares 2000 x 2000 x 2000 = "
                                        r"8,000,000,000 voxels, more than "
                                        r"data.max_image_pixels"):
        read_volume(path)


def test_n_eval_above_the_split_is_an_error_and_null_takes_every_item(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from data_layouts import write_pairs

    write_pairs(tmp_path, n=10)
    cfg = DataConfig(name="kvasir_seg", root=str(tmp_path), n_eval=5, eval_fraction=0.3)
    with pytest.raises(DataError, match=r"data.n_eval: 5 asked but the evaluation split of "
                                        r"kvasir_seg holds 3 items \(eval_fraction 0.3 of "
                                        r"10\); expected at most 3, or data.n_eval: null"):
        load_split(cfg, "eval")
    assert len(load_split(DataConfig(name="kvasir_seg", root=str(tmp_path), n_eval=None,
                                     eval_fraction=0.3), "eval")) == 3
    report = check_dataset(cfg)
    assert not report.ok and report.n_eval_split == 3 and report.n_items == 10
    assert main(["data", "check", "kvasir_seg", "--root", str(tmp_path),
                 "--set", "data.n_eval=5", "--set", "data.eval_fraction=0.3"]) == 1
    assert "error: data.n_eval: 5 asked" in capsys.readouterr().out
    assert main(["data", "check", "kvasir_seg", "--root", str(tmp_path)]) == 0
