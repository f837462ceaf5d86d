"""``model.init``: torchvision and facebookresearch/moco weight files made by the tests load to
identical tensors; wrong files are refused with the file named; MoCo starts its key encoder from
the loaded query encoder and a fresh queue."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision import models as tvm

from trainables.config import ModelConfig
from trainables.models import build_backbone
from trainables.models.init import load_state, load_weights
from trainables.spec import parse_trial
from trainables.trial import build_task


def moco_checkpoint(net: torch.nn.Module, path: Path, prefix: str = "module.") -> Path:
    """A file in facebookresearch/moco's format (main_moco.py's save_checkpoint): the query
    encoder with MoCo v2's MLP head as ``fc``, a different key encoder, and the queue."""
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    dim = net.fc.in_features
    mlp = {"fc.0.weight": torch.randn(dim, dim), "fc.0.bias": torch.randn(dim),
           "fc.2.weight": torch.randn(128, dim), "fc.2.bias": torch.randn(128)}
    sd = {f"{prefix}encoder_q.{k}": v for k, v in {**state, **mlp}.items()}
    sd.update({f"{prefix}encoder_k.{k}": v + 1.0 for k, v in {**state, **mlp}.items()
               if v.is_floating_point()})
    sd[f"{prefix}queue"] = torch.randn(128, 64)
    sd[f"{prefix}queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save({"epoch": 800, "arch": "resnet18", "state_dict": sd,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.03}]}}, path)
    return path


@pytest.fixture(scope="module")
def resnet18() -> torch.nn.Module:
    torch.manual_seed(3)
    net = tvm.resnet18(weights=None)
    with torch.no_grad():  # non-trivial BN statistics, so buffers are compared too
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return net


def _assert_loaded(model: torch.nn.Module, net: torch.nn.Module) -> None:
    reference = net.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[model.source_key(key)]), key


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_moco_checkpoint_loads_to_identical_weights(resnet18, tmp_path, prefix) -> None:
    path = moco_checkpoint(resnet18, tmp_path / "moco_v2.pth.tar", prefix)
    model = build_backbone(ModelConfig(backbone="resnet18", init="moco_v2", weights=str(path)))
    _assert_loaded(model, resnet18)
    report = load_weights(model, "moco_v2", str(path), "resnet18")
    assert report.loaded == len(model.state_dict())
    assert report.missing == () and report.unexpected == ()
    assert report.dropped == ("fc.0.bias", "fc.0.weight", "fc.2.bias", "fc.2.weight")


def test_torchvision_file_loads_to_identical_weights(resnet18, tmp_path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18.state_dict(), path)
    model = build_backbone(ModelConfig(backbone="resnet18", init="torchvision",
                                       weights=str(path)))
    _assert_loaded(model, resnet18)
    # init 'torchvision' with input_norm 'auto': the ImageNet statistics the weights expect
    torch.testing.assert_close(model.input_std.flatten(), torch.tensor([0.229, 0.224, 0.225]))


def test_missing_and_unexpected_keys_are_reported(resnet18, tmp_path, caplog) -> None:
    state = dict(resnet18.state_dict())
    del state["layer4.1.bn2.weight"]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save({"state_dict": state}, path)
    model = build_backbone(ModelConfig(backbone="resnet18"))
    report = load_weights(model, "torchvision", str(path), "resnet18")
    assert report.missing == ("blocks.layer4.1.bn2.weight",)
    assert report.unexpected == ("extra.weight",)
    assert "1 missing" in caplog.text and "1 unexpected" in caplog.text


def test_vit_position_embedding_is_resized_on_load() -> None:
    torch.manual_seed(0)
    source = tvm.vit_b_16(weights=None, image_size=64).state_dict()  # a 4 x 4 token grid
    model = build_backbone(ModelConfig(backbone="vit_b_16"), image_size=32)  # 2 x 2
    report = load_state(model, source, "<memory>", "vit_b_16")
    assert report.missing == () and report.unexpected == ()
    pos = model.state_dict()["blocks.embed.pos_embedding"]
    assert pos.shape == (1, 5, 768)
    assert torch.equal(pos[:, 0], source["encoder.pos_embedding"][:, 0])
    key = "blocks.layer12.mlp.0.weight"
    assert torch.equal(model.state_dict()[key],
                       source["encoder.layers.encoder_layer_11.mlp.0.weight"])


class NotWeights:
    pass


def test_wrong_files_are_refused_clearly(resnet18, tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.txt.*not a torch checkpoint.*weights_only"):
        build_backbone(ModelConfig(backbone="resnet18", init="moco_v2", weights=str(text)))

    unsafe = tmp_path / "object.pth"
    unsafe.write_bytes(pickle.dumps(NotWeights(), protocol=2))
    with pytest.raises(ValueError, match=r"object\.pth.*weights_only=True"):
        build_backbone(ModelConfig(backbone="resnet18", init="torchvision", weights=str(unsafe)))

    plain = tmp_path / "resnet18.pth"
    torch.save(resnet18.state_dict(), plain)
    with pytest.raises(ValueError, match=r"resnet18\.pth.*not a facebookresearch/moco "
                                         r"checkpoint.*module\.encoder_q"):
        build_backbone(ModelConfig(backbone="resnet18", init="moco_v2", weights=str(plain)))

    moco = moco_checkpoint(resnet18, tmp_path / "moco.pth.tar")
    with pytest.raises(ValueError, match=r"moco\.pth\.tar.*does not fit backbone 'resnet50'.*"
                                         r"shape mismatches"):
        build_backbone(ModelConfig(backbone="resnet50", init="moco_v2", weights=str(moco)))

    with pytest.raises(ValueError, match=r"moco\.pth\.tar.*has no tensor of backbone 'nin'"):
        build_backbone(ModelConfig(backbone="nin", init="moco_v2", weights=str(moco)), 32)

    with pytest.raises(FileNotFoundError, match=r"absent\.pth"):
        build_backbone(ModelConfig(backbone="resnet18", init="torchvision",
                                   weights=str(tmp_path / "absent.pth")))


def test_moco_task_starts_key_encoder_from_query_and_queue_fresh(resnet18, tmp_path) -> None:
    path = moco_checkpoint(resnet18, tmp_path / "moco_v2.pth.tar")
    cfg = parse_trial({"data": {"image_size": 32},
                       "model": {"backbone": "resnet18", "init": "moco_v2", "weights": str(path)},
                       "pretext": {"name": "moco_rotation", "params": {"queue_size": 64}}})
    torch.manual_seed(0)
    task = build_task(cfg, torch.device("cpu"))
    _assert_loaded(task.encoder, resnet18)
    for (name, p_q), p_k in zip(task.encoder.state_dict().items(),
                                task.encoder_k.state_dict().values(), strict=True):
        assert torch.equal(p_q, p_k), name  # not the file's encoder_k (which is +1)
    file_queue = torch.load(path, weights_only=True)["state_dict"]["module.queue"]
    assert task.queue.shape == (64, 128) and int(task.queue_ptr) == 0
    assert not torch.allclose(task.queue, file_queue.T)
    torch.testing.assert_close(task.queue.norm(dim=1), torch.ones(64))


class Payload:
    """Unpickled, it would create the file ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.target, "w"))


def crafted_checkpoint(path: Path, target: Path, resnet18: torch.nn.Module) -> Path:
    """A real state dict with one entry that runs ``open(target, "w")`` when unpickled."""
    torch.save({"state_dict": {**resnet18.state_dict(), "extra": Payload(target)}}, path)
    return path


def test_crafted_weights_file_is_refused_and_runs_nothing(resnet18, tmp_path) -> None:
    target = tmp_path / "PAYLOAD_RAN"
    path = crafted_checkpoint(tmp_path / "crafted.pth", target, resnet18)
    for init in ("torchvision", "moco_v2"):
        with pytest.raises(ValueError) as caught:
            build_backbone(ModelConfig(backbone="resnet18", init=init, weights=str(path)))
        text = str(caught.value)
        assert f"{str(path)!r} is not a torch checkpoint readable with weights_only=True" in text
        assert "it names io.open" in text or "it names builtins.open" in text
        assert "weights_only=False" not in text  # torch's advice to run it is never repeated
    assert not target.exists()


def test_crafted_cached_checkpoint_is_refused_and_runs_nothing(resnet18, tiny,
                                                               tmp_path) -> None:
    from trainables import checkpoints
    from trainables.spec import parse_trial as parse

    target = tmp_path / "PAYLOAD_RAN"
    cfg = parse(tiny())
    path = Path(checkpoints.checkpoint_path(str(tmp_path / "cache"), cfg))
    path.parent.mkdir(parents=True)
    torch.save({"format": checkpoints.FORMAT, "key": checkpoints.pretrain_key(cfg),
                "state_dict": Payload(target)}, path)
    with pytest.raises(ValueError, match=r"cached checkpoint .*\.pt: refused by "
                                         r"torch\.load\(weights_only=True\) \(UnpicklingError: "
                                         r"it names (io|builtins)\.open"):
        checkpoints.load_pretrained(str(tmp_path / "cache"), cfg)
    assert not target.exists()


class CraftedState:
    """A class global that a trial's state file must never name."""


@pytest.mark.parametrize("payload", ["class", "callable"])
def test_every_wording_of_a_refusal_names_the_global_never_the_advice(
        tmp_path: Path, payload: str) -> None:
    """torch words a refused global differently by kind (2.14: "Unsupported global: GLOBAL
    m.C was not an allowed global" for a class, "unsupported GLOBAL posix.system whose module
    posix is blocked" for a blocked module); both, and a wording torch has not used yet, name
    the global and never repeat the advice to load with the check off."""
    from trainables.models.init import load_refusal, load_tensors

    target = tmp_path / "PAYLOAD_RAN"
    obj = CraftedState() if payload == "class" else Payload(target)
    path = tmp_path / "state.pt"
    torch.save({"state": {"epoch": 1, "extra": obj}}, path)
    with pytest.raises(ValueError) as caught:
        load_tensors(path.read_bytes(), str(path), "trial state file")
    text = str(caught.value)
    assert text.startswith(f"trial state file: {str(path)!r} is not a torch checkpoint")
    name = (f"{__name__}.CraftedState" if payload == "class" else "builtins.open")
    assert f"it names {name}, which is not a tensor" in text or (
        payload == "callable" and "it names io.open" in text), text
    assert "Re-running" not in text and "weights_only=False" not in text
    assert "\n" not in text and not target.exists()
    # a future wording without "GLOBAL": the global is read from the file's own pickle
    future = RuntimeError("Weights only load failed. Re-running `torch.load` with `weights_only` "
                          "set to `False` will likely succeed.\nblocked: something")
    text = load_refusal(future, path.read_bytes())
    assert "it names " in text and "Re-running" not in text and "weights_only" not in text
    # and without the file's bytes, the advice line is still never shown
    assert load_refusal(future) == "RuntimeError: not tensors and plain data"


def test_a_trial_state_file_is_read_through_the_wrapper(tmp_path: Path, tiny: Any) -> None:
    """trainables/tune.py loads its state file through the same wrapper: a crafted one is
    refused naming the file, and a plain one of another config is ignored."""
    from trainables.spec import parse_trial as parse
    from trainables.tune import load_state

    cfg = parse(tiny())
    path = tmp_path / "state.pt"
    torch.save({"config_hash": "other", "state": {"extra": CraftedState()}}, path)
    with pytest.raises(ValueError, match=rf"trial state file: '{path}' is not a torch .*it names "
                                         r".*CraftedState, which is not a tensor"):
        load_state(str(path), cfg)
    torch.save({"config_hash": "other", "state": {}}, path)
    assert load_state(str(path), cfg) is None
