"""GPU readiness: the saliency engine and one pre-training epoch on ResNet-50 at 224 px, bf16 and
tf32, against the model's own throughput and captum's NoiseTunnel, in one process.

Figures (inputs per second, best of ``--reps``; every side on the same model, images, angles and
noise count):

* ``model_ips_<mode>`` — the bare encoder forward + input-gradient backward at the engine's batch
  size: the most the engine could reach for the ``pair_similarity`` target.
* ``engine_ips_<mode>`` — :func:`trainables.saliency.saliency_maps` (SmoothGrad,
  ``pair_similarity``, N images × A angles × S noisy copies), rotation and field of view on the
  device included; ``engine_vs_model_<mode>`` is their ratio (goal ≥ 0.5 on a GPU).
* ``captum_ips`` — captum's ``NoiseTunnel(Saliency)`` over the same target, one (image, angle) at
  a time with all S copies in one batch (``nt_samples_batch_size = S``), in the ``bf16`` mode;
  ``engine_vs_captum`` is the ratio.
* ``pretrain_epoch_s`` / ``pretrain_ips`` — one MoCo-rotation epoch (bf16 autocast,
  channels-last on CUDA) over ``--train-images`` random images.
* ``rotation_share_of_step`` (issue 20) — the band-limited rotation's share of one MoCo-rotation
  pre-training step (θ = 45°, so the shears run; ``paper`` augmentation, bf16, batch
  ``batch``): the seconds spent inside
  :func:`trainables.band_limited.band_limited_rotation` (synchronised before and after each
  call) over the seconds of the whole step (forward, backward, optimiser), median of ``steps``
  steps after a warm-up; ``rotation_ms_per_step`` and ``step_ms`` beside it.

Modes: ``bf16`` = bf16 autocast + channels-last (the trial's CUDA path, ``train.amp``);
``tf32`` = float32 with TF32 matmuls and convolutions allowed. On the CPU both run in float32
(autocast is CUDA-only in rotsweep) and the figures only show the path works.

    .venv/bin/python bench/gpu.py                         # on a CUDA machine, < 5 minutes
    .venv/bin/python bench/gpu.py --device cpu --quick    # the same code paths on a CPU

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import best_time
from trainables import rotation
from trainables.rotation import apply_fov, rotate
from trainables.saliency import build_target, saliency_maps
from trainables.spec import parse_trial
from trainables.train import pretrain
from trainables.trial import build_task

FULL = {"backbone": "resnet50", "size": 224, "images": 8, "angles": 8, "samples": 16,
        "max_batch": 128, "train_images": 512, "batch": 64, "reps": 3, "steps": 10}
# the bf16 and tf32 engines draw one map twice; below this correlation they disagree (1.0 on
# the CPU, where both are float32; bf16 rounding on CUDA, not yet measured, should stay far above)
MAP_CORR_MIN = 0.9
QUICK = {"backbone": "resnet18", "size": 32, "images": 2, "angles": 2, "samples": 2,
         "max_batch": 8, "train_images": 16, "batch": 8, "reps": 1, "steps": 2}


def trial(opts: dict[str, Any], device: torch.device, amp: bool) -> Any:
    """The trial config the benchmark's task and engine are built from."""
    return parse_trial({
        "data": {"image_size": opts["size"]},
        "model": {"backbone": opts["backbone"]},
        "pretext": {"name": "moco_rotation", "params": {"angles": [90], "queue_size": 4096}},
        "train": {"device": device.type, "amp": amp, "channels_last": amp,
                  "batch_size": opts["batch"], "epochs": 1},
        "saliency": {"method": "smoothgrad", "target": "pair_similarity",
                     "n_samples": opts["samples"], "max_batch": opts["max_batch"],
                     "eval_angles": [i * 360 / opts["angles"] for i in range(opts["angles"])]},
    })


def set_mode(mode: str) -> None:
    """TF32 on for ``tf32`` (float32 storage, TF32 tensor-core math), off for ``bf16``."""
    allow = mode == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def model_ips(task: Any, opts: dict[str, Any], device: torch.device, amp: bool) -> float:
    """Forward + input-gradient backward of the bare encoder at the engine's batch size."""
    x = torch.rand(opts["max_batch"], 3, opts["size"], opts["size"], device=device)
    if amp and device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)

    def once() -> None:
        xi = x.clone().requires_grad_(True)
        with torch.autocast(device.type, torch.bfloat16, enabled=amp and device.type == "cuda"):
            z = task.encoder(xi).float()
        torch.autograd.grad(z.sum(), xi)

    return opts["max_batch"] / best_time(once, device, opts["reps"])


def engine_ips(task: Any, cfg: Any, images: torch.Tensor, opts: dict[str, Any],
               device: torch.device) -> tuple[float, torch.Tensor]:
    """The engine's inputs/s, and its maps (for the captum cross-check)."""
    angles = list(cfg.saliency.eval_angles)
    cuda = device.type == "cuda"
    target = build_target("pair_similarity", task, images, angles, cfg.saliency,
                          crop=cfg.pretext.crop, amp=cuda and cfg.train.amp, seed=0)
    out: dict[str, torch.Tensor] = {}

    def once() -> None:
        out["maps"] = saliency_maps(target, images, angles, cfg.saliency, crop=cfg.pretext.crop,
                                    seed=0, channels_last=cuda and cfg.train.channels_last)

    n_inputs = images.shape[0] * len(angles) * opts["samples"]
    return n_inputs / best_time(once, device, opts["reps"]), out["maps"]


def captum_ips(task: Any, cfg: Any, images: torch.Tensor, opts: dict[str, Any],
               device: torch.device) -> float | None:
    """captum ``NoiseTunnel(Saliency)`` on the same target, per (image, angle)."""
    try:
        from captum.attr import NoiseTunnel, Saliency
    except ImportError:
        return None
    crop, amp = cfg.pretext.crop, cfg.train.amp and device.type == "cuda"
    with torch.no_grad():  # the engine's reference view: the image through rotate(x, 0)
        ref = task.encoder(apply_fov(rotate(images, 0.0), crop)).float()  # N x D
    angles = list(cfg.saliency.eval_angles)
    span = (images.amax(dim=(1, 2, 3)) - images.amin(dim=(1, 2, 3)))

    def once() -> None:
        for i in range(images.shape[0]):
            def score(x: torch.Tensor, i: int = i) -> torch.Tensor:
                with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                    z = task.encoder(x).float()
                return F.cosine_similarity(z, ref[i:i + 1].expand_as(z), dim=1)

            tunnel = NoiseTunnel(Saliency(score))
            for a in angles:
                x = apply_fov(rotate(images[i:i + 1], a), crop)
                tunnel.attribute(x, nt_type="smoothgrad", nt_samples=opts["samples"],
                                 nt_samples_batch_size=opts["samples"],
                                 stdevs=float(cfg.saliency.noise_level * span[i]), abs=False)

    n_inputs = images.shape[0] * len(angles) * opts["samples"]
    return n_inputs / best_time(once, device, max(1, opts["reps"] - 1))


def pretrain_epoch(opts: dict[str, Any], device: torch.device) -> tuple[float, float]:
    """Seconds and images/s of one MoCo-rotation epoch in the trial's CUDA path (bf16)."""
    cfg = trial(opts, device, amp=True)
    torch.manual_seed(0)
    task = build_task(cfg, device)
    data = torch.rand(opts["train_images"], 3, opts["size"], opts["size"])

    def batches(_epoch: int) -> Any:
        for i in range(0, len(data) - opts["batch"] + 1, opts["batch"]):
            yield data[i:i + opts["batch"]]

    g = torch.Generator(device="cpu").manual_seed(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    pretrain(task, batches, cfg.train, device, g, lambda *_: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    used = (len(data) // opts["batch"]) * opts["batch"]
    return seconds, used / seconds


def rotation_share(opts: dict[str, Any], device: torch.device) -> dict[str, float]:
    """The band-limited rotation's share of one MoCo-rotation step (θ = 45°, bf16, ``paper``
    augmentation): time inside the rotation over the step's time, medians over steps."""
    cfg = parse_trial({
        "data": {"image_size": opts["size"]}, "model": {"backbone": opts["backbone"]},
        "pretext": {"name": "moco_rotation", "augment": "paper",
                    "params": {"angles": [45], "queue_size": 4096}},
        "train": {"device": device.type, "amp": True, "channels_last": True,
                  "batch_size": opts["batch"]}})
    torch.manual_seed(0)
    task = build_task(cfg, device)
    cuda = device.type == "cuda"
    if cuda:
        task.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(task.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(opts["batch"], 3, opts["size"], opts["size"], device=device)
    g = torch.Generator().manual_seed(0)
    inner = rotation.band_limited_rotation
    spent: list[float] = []

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def timed_rotation(*args: Any, **kwargs: Any) -> torch.Tensor:
        sync()
        t = time.perf_counter()
        out = inner(*args, **kwargs)
        sync()
        spent.append(time.perf_counter() - t)
        return out

    steps, rots = [], []
    rotation.band_limited_rotation = timed_rotation  # type: ignore[assignment]
    try:
        for i in range(opts["steps"] + 1):  # the first step warms up kernels and allocator
            spent.clear()
            sync()
            t = time.perf_counter()
            with torch.autocast(device.type, torch.bfloat16, enabled=cuda):
                out = task.step(x, g)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            task.after_optimizer_step()
            sync()
            if i:
                steps.append(time.perf_counter() - t)
                rots.append(sum(spent))
    finally:
        rotation.band_limited_rotation = inner  # type: ignore[assignment]
    step_s = sorted(steps)[len(steps) // 2]
    rot_s = sorted(rots)[len(rots) // 2]
    return {"rotation_ms_per_step": round(1e3 * rot_s, 2), "step_ms": round(1e3 * step_s, 2),
            "rotation_share_of_step": round(rot_s / step_s, 4),
            "rotation_calls_per_step": len(spent)}


def run(opts: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring)."""
    res: dict[str, Any] = {"device": str(device), "backbone": opts["backbone"],
                           "size": opts["size"], "n_images": opts["images"],
                           "n_angles": opts["angles"], "n_samples": opts["samples"],
                           "max_batch": opts["max_batch"]}
    if device.type == "cuda":
        res["gpu"] = torch.cuda.get_device_name(device)
        torch.cuda.reset_peak_memory_stats(device)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(opts["images"], 3, opts["size"], opts["size"], generator=g).to(device)
    maps: dict[str, torch.Tensor] = {}
    for mode in ("bf16", "tf32"):
        set_mode(mode)
        cfg = trial(opts, device, amp=mode == "bf16")
        torch.manual_seed(0)
        task = build_task(cfg, device).eval().requires_grad_(False)
        if device.type == "cuda" and mode == "bf16":
            task.to(memory_format=torch.channels_last)
        res[f"model_ips_{mode}"] = round(model_ips(task, opts, device, mode == "bf16"), 1)
        res[f"engine_ips_{mode}"], maps[mode] = engine_ips(task, cfg, images, opts, device)
        res[f"engine_ips_{mode}"] = round(res[f"engine_ips_{mode}"], 1)
        res[f"engine_vs_model_{mode}"] = round(
            res[f"engine_ips_{mode}"] / res[f"model_ips_{mode}"], 3)
        if mode == "bf16":
            ips = captum_ips(task, cfg, images, opts, device)
            res["captum_ips"] = round(ips, 1) if ips else None
            res["engine_vs_captum"] = round(res["engine_ips_bf16"] / ips, 3) if ips else None
    # the two precisions must draw the same maps (bf16 rounding apart)
    a, b = maps["bf16"].float(), maps["tf32"].float()
    res["bf16_vs_tf32_map_corr"] = round(float(torch.corrcoef(
        torch.stack([a.flatten(), b.flatten()]))[0, 1]), 4)
    set_mode("bf16")
    res["pretrain_epoch_s"], res["pretrain_ips"] = (round(v, 2)
                                                    for v in pretrain_epoch(opts, device))
    res.update(rotation_share(opts, device))
    if device.type == "cuda":
        res["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute on a CPU)")
    args = parser.parse_args(argv)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    opts = QUICK if args.quick else FULL
    start = time.perf_counter()
    res = run(dict(opts), device)
    res["wall_s"] = round(time.perf_counter() - start, 1)
    for key, value in res.items():
        print(f"{key:24s} {value}")
    print(json.dumps(res))
    if not res["bf16_vs_tf32_map_corr"] >= MAP_CORR_MIN:  # two computations of one map
        print(f"bench/gpu.py: the bf16 and tf32 maps disagree: correlation "
              f"{res['bf16_vs_tf32_map_corr']} < {MAP_CORR_MIN}", file=sys.stderr)
        sys.exit(1)
    return res


if __name__ == "__main__":
    main()
