"""``rotsweep validate`` checks everything ``run`` will read, for every axis value, before Ray
starts: weights files load as the format ``model.init`` names and fit the backbone, data
folders exist (the hint names the key that works in that study), ``n_eval`` fits the data, and
no file runs code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from study.cli.main import main
from trainables.config import ModelConfig
from trainables.models import build_backbone


def write_pairs(root: Path, n: int) -> None:
    """``n`` 40 x 48 images with a bright rectangle, and its mask, in Kvasir-SEG's layout."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(n):
        image = np.full((40, 48, 3), 40, np.uint8)
        mask = np.zeros((40, 48), np.uint8)
        image[8 + k % 5:28, 10:30], mask[8 + k % 5:28, 10:30] = 200, 255
        Image.fromarray(image).save(root / "images" / f"img{k:03d}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{k:03d}.png")


def small_cnn_files(folder: Path, width: int = 16) -> tuple[Path, Path]:
    """A torchvision-format and a facebookresearch/moco-format file of ``small_cnn``."""
    model = build_backbone(ModelConfig(backbone="small_cnn", params={"width": width}), 32)
    state = {model.source_key(k): v for k, v in model.state_dict().items()}
    plain, moco = folder / f"plain{width}.pth", folder / f"moco{width}.pth.tar"
    torch.save(state, plain)
    torch.save({"epoch": 1, "state_dict": {f"module.encoder_q.{k}": v
                                           for k, v in state.items()}}, moco)
    return plain, moco


def study(tmp_path: Path, **keys: Any) -> Path:
    raw = {"name": "inputs", "data": {"image_size": 32, "n_eval": 4,
                                      "params": {"kind": "discs", "n_images": 24}},
           "model": {"backbone": "small_cnn"}, **keys}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def validate(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["validate", str(path), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_every_weights_file_of_every_axis_value_is_loaded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, moco = small_cnn_files(tmp_path)
    axis = [{"backbone": "small_cnn", "init": "torchvision", "weights": str(plain)},
            {"backbone": "small_cnn", "init": "moco_v2", "weights": str(tmp_path / "no.pth")}]
    code, out = validate(study(tmp_path, axes={"model": axis}), capsys, "--no-data")
    assert code == 2 and f"model.weights (axes {{'model': {axis[1]}}}): cannot read " in out
    assert "no.pth" in out and str(plain) not in out.split("error:", 1)[1]
    axis[1]["weights"] = str(plain)  # a plain state dict where MoCo's checkpoint is expected
    code, out = validate(study(tmp_path, axes={"model": axis}), capsys, "--no-data")
    assert code == 2 and "is not a facebookresearch/moco checkpoint" in out
    assert "'module.encoder_q.*'" in out
    axis[1]["weights"] = str(moco)
    code, out = validate(study(tmp_path, axes={"model": axis}), capsys, "--no-data")
    assert code == 0, out


def test_weights_that_do_not_fit_the_architecture_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, _ = small_cnn_files(tmp_path, width=8)
    model = {"backbone": "small_cnn", "init": "torchvision", "weights": str(plain)}
    code, out = validate(study(tmp_path, model=model), capsys, "--no-data")
    assert code == 2 and "does not fit backbone 'small_cnn'" in out and "shape mismatch" in out


def test_probe_baseline_weights_are_checked(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    probe = {"probes": ["linear"], "baselines": ["torchvision"],
             "weights": str(tmp_path / "absent.pth"), "downstream": [{"name": "digits"}]}
    code, out = validate(study(tmp_path, probe=probe), capsys, "--no-data")
    assert code == 2 and "probe.weights: cannot read" in out and "absent.pth" in out


class Payload:
    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.target, "w"))


def test_a_crafted_checkpoint_is_refused_by_validate(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "PAYLOAD_RAN"
    crafted = tmp_path / "crafted.pth"
    torch.save({"state_dict": {"module.encoder_q.x": Payload(target)}}, crafted)
    model = {"backbone": "small_cnn", "init": "moco_v2", "weights": str(crafted)}
    code, out = validate(study(tmp_path, model=model), capsys, "--no-data")
    assert code == 2 and "crafted.pth' is not a torch checkpoint readable with " in out
    assert "refused, never called" in out and "weights_only=False" not in out
    assert not target.exists()


def test_missing_roots_name_the_key_that_works_in_the_study(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROTSWEEP_DATA", raising=False)
    write_pairs(tmp_path / "sets" / "kvasir", n=4)
    axis = [{"name": "kvasir_seg", "root": "kvasir"}, {"name": "lung_mask", "root": "lungs"}]
    data = {"home": "${ROTSWEEP_DATA:-sets}", "image_size": 32, "n_eval": 1}
    code, out = validate(study(tmp_path, axes={"data": axis}, data=data), capsys)
    line = next(x for x in out.splitlines() if x.startswith("error:") and "lungs" in x)
    assert code == 2 and f"{tmp_path}/sets/lungs: no such folder (root 'lungs' in " in line
    assert "--set data.home=DIR or ROTSWEEP_DATA=DIR" in line
    assert "--set data.root does not reach axis values" in line
    assert "kvasir" not in out.split("error:", 1)[1]  # the folder that exists is fine
    # without an axis over data, data.root is the key
    code, out = validate(study(tmp_path, data={"name": "lung_mask", "root": "lungs",
                                               "image_size": 32}), capsys)
    assert code == 2 and "expected the dataset's folder: --set data.root=PATH or --set " \
                         "data.home=DIR" in out
    # a probe's downstream set is fixed in its entry
    probe = {"probes": ["segmentation"], "downstream": [{"name": "lung_mask", "root": "gone",
                                                         "label": "lungs"}]}
    code, out = validate(study(tmp_path, probe=probe), capsys)
    assert code == 2 and "probe.downstream lungs: " in out
    assert "set root (or home) in the study file's probe.downstream entry 'lungs'" in out


def test_n_eval_above_the_evaluation_split_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pairs(tmp_path / "kv", n=10)
    data = {"name": "kvasir_seg", "root": str(tmp_path / "kv"), "image_size": 32,
            "eval_fraction": 0.3}
    code, out = validate(study(tmp_path, data={**data, "n_eval": 75}), capsys)
    assert code == 2 and ("data kvasir_seg: data.n_eval: 75 asked but the evaluation split of "
                          "kvasir_seg holds 3 items (eval_fraction 0.3 of 10); expected at most "
                          "3, or data.n_eval: null for every one") in out
    code, out = validate(study(tmp_path, data={**data, "n_eval": None}), capsys)
    assert code == 0, out


def test_a_crafted_dataset_pickle_is_refused_by_validate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "PAYLOAD_RAN"
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({"data": Payload(target), "labels": [0]}))
    probe = {"probes": ["linear"], "downstream": [
        {"name": "cifar10", "root": str(tmp_path / "cifar"), "params": {"verify_md5": False}}]}
    code, out = validate(study(tmp_path, probe=probe), capsys)
    assert code == 2 and f"probe.downstream cifar10: {folder}/data_batch_1: not read as a " \
                         "CIFAR-10 batch (UnpicklingError: refused global" in out
    assert not target.exists()


def test_run_refuses_a_missing_weights_file_before_ray_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = {"backbone": "small_cnn", "init": "torchvision", "weights": str(tmp_path / "x.pth")}
    code = main(["run", str(study(tmp_path, model=model)), "--out", str(tmp_path / "out")])
    assert code == 2 and "model.weights: cannot read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_run_refuses_missing_data_before_ray_starts_with_validates_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18 item 2: `run` checks every axis value's data as `validate` does, same lines,
    exit 2, and nothing is written (no study folder, no tune/, no trial rows)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROTSWEEP_DATA", raising=False)
    write_pairs(tmp_path / "kvasir", n=4)
    axis = [{"name": "kvasir_seg", "root": "kvasir"}, {"name": "lung_mask", "root": "lungs"},
            {"name": "kvasir_seg", "root": "gone", "label": "gone"}]
    path = study(tmp_path, axes={"data": axis}, data={"image_size": 32, "n_eval": 1})
    code, out = validate(path, capsys)
    expected = error_lines(out)
    assert code == 2 and len(expected) == 2, out
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert error_lines(capsys.readouterr().err) == expected
    assert not (tmp_path / "out").exists()  # Ray never started: no tune/, no tables


def test_rotsweep_data_is_the_default_home_and_no_count_precedes_a_missing_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21 item 3: relative roots are read from $ROTSWEEP_DATA in a study file that does
    not mention it; a missing folder prints no "0 usable items"; `data check --root` resolves
    the same way."""
    monkeypatch.chdir(tmp_path)
    write_pairs(tmp_path / "home" / "kv", n=4)
    path = study(tmp_path, data={"name": "kvasir_seg", "root": "kv", "image_size": 32,
                                 "n_eval": 1})
    monkeypatch.delenv("ROTSWEEP_DATA", raising=False)
    code, out = validate(path, capsys)
    assert code == 2 and "usable item" not in out  # the folder is missing: no count
    assert f"{tmp_path}/kv: no such folder" in out
    assert "--set data.home=DIR or ROTSWEEP_DATA=DIR" in out
    monkeypatch.setenv("ROTSWEEP_DATA", str(tmp_path / "home"))
    code, out = validate(path, capsys)
    assert code == 0 and f"kvasir_seg at {tmp_path}/home/kv: 4 usable items" in out, out
    assert main(["data", "check", "kvasir_seg", "--root", "kv", "--set",
                 "data.image_size=32"]) == 0
    assert f"kvasir_seg at {tmp_path}/home/kv: 4 usable items" in capsys.readouterr().out
    monkeypatch.delenv("ROTSWEEP_DATA")
    assert main(["data", "check", "kvasir_seg", "--root", "kv"]) == 1
    out = capsys.readouterr().out
    assert "usable item" not in out and "could not be read" in out
    assert "ROTSWEEP_DATA=DIR" in out and "--set data.home=DIR" in out
    # a study file that sets data.home keeps it
    path = study(tmp_path, data={"name": "kvasir_seg", "root": "kv", "home": "elsewhere",
                                 "image_size": 32, "n_eval": 1})
    monkeypatch.setenv("ROTSWEEP_DATA", str(tmp_path / "home"))
    code, out = validate(path, capsys)
    assert code == 2 and f"{tmp_path}/elsewhere/kv: no such folder" in out
    assert "after removing data.home from the study file" in out
