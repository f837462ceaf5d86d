"""Benchmark: the batched per-angle saliency engine vs. the naive loop explain-cl runs.

Two workloads of the ``pair_similarity`` target (cosine similarity of the rotated view's
embedding with the unrotated view's) for N images × A angles × S noisy copies, each computed
both ways on the same model, inputs and noise, in one process:

* ``smoothgrad`` (the default method: clean reference view). Naive: one input at a time
  (batch 1), the weights requiring grad, a full ``.backward()`` per copy (weight gradients
  included); the reference embedded once per image (kinder to the naive side than explain-cl).
* ``explain_cl`` (the preset). Naive: explain-cl's ``smooth_grad(guided=True)`` loop exactly:
  per copy both views get the same noise and are embedded with grad, one ``.backward()``
  through both, guided ReLU hooks, then |clean × mean gradient|, max over channels, blur.

The batched side is :func:`trainables.saliency.saliency_maps`: ``max_batch`` inputs per pass
(each of ``--max-batch`` tried; the fastest reported), rotation on the device, frozen
``eval()`` model, input gradients only, bf16 autocast and channels-last on CUDA. Each side runs
``--reps`` times, interleaved, and the fastest run counts. On a shared 2-core machine with
another process busy, two torch threads wait at OpenMP barriers and timings swing by up to 10×
(the batch-1 loop most); ``--threads 1`` then gives stable figures.

Reported per model: times, speed-up, the largest difference between the two maps relative
to the largest value (they must agree: beyond 1e-2 in float32, 1e-1 with bf16, the bench
exits 1 after printing its JSON; the naive loop's reference view is the engine's, the image
through ``rotate(x, 0)``), peak memory (CPU: the peak RSS above the RSS before the run, in a
fresh child process; CUDA: ``torch.cuda.max_memory_allocated``), and the engine's throughput
against the model's own forward + input-gradient backward throughput at the same batch size.

    .venv/bin/python bench/saliency.py --quick     # < 3 minutes on 2 CPU cores
    .venv/bin/python bench/saliency.py             # the full sizes

The last line printed is one JSON object (``speedup_small_cnn`` and the rest).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import best_time
from trainables.config import ModelConfig, PretextConfig, SaliencyConfig
from trainables.models import build_backbone
from trainables.pretext import Pretext, build_pretext
from trainables.rotation import apply_fov, rotate
from trainables.saliency import (
    blur_maps,
    build_target,
    get_method,
    noise_for,
    noise_sigma,
    saliency_maps,
)
from trainables.train import autocast


@dataclass(frozen=True)
class Case:
    """One benchmarked model and workload."""

    name: str
    backbone: str
    size: int
    n_images: int
    angles: tuple[int, ...]
    n_samples: int
    method: str = "smoothgrad"
    max_batch: int = 64


def cases(quick: bool) -> list[Case]:
    angles = (0, 15, 45, 90, 135, 200, 270, 330)
    if quick:
        return [Case("small_cnn", "small_cnn", 64, 4, angles, 16),
                Case("resnet18", "resnet18", 64, 2, angles[:4], 8)]
    return [Case("small_cnn", "small_cnn", 64, 8, angles, 32),
            Case("resnet18", "resnet18", 112, 4, angles, 16)]


def build_case(case: Case, device: torch.device) -> tuple[Pretext, torch.Tensor]:
    """A random-init MoCo-rotation task around the backbone, and ``case.n_images`` images."""
    torch.manual_seed(0)
    encoder = build_backbone(ModelConfig(backbone=case.backbone), image_size=case.size)
    task = build_pretext(encoder, PretextConfig(params={"queue_size": 16})).to(device)
    g = torch.Generator().manual_seed(1)
    images = torch.rand(case.n_images, 3, case.size, case.size, generator=g).to(device)
    return task.eval().requires_grad_(False), images


def saliency_cfg(case: Case) -> SaliencyConfig:
    return SaliencyConfig(method=case.method, n_samples=case.n_samples, eval_angles=case.angles,
                          max_batch=case.max_batch)


def run_batched(task: Pretext, images: torch.Tensor, case: Case, amp: bool) -> torch.Tensor:
    cfg = saliency_cfg(case)
    cuda = images.device.type == "cuda"
    if cuda:
        task.to(memory_format=torch.channels_last)
    target = build_target("pair_similarity", task, images, list(case.angles), cfg, crop="disk",
                          shared_noise=get_method(case.method).shared_noise, amp=amp)
    return saliency_maps(target, images, list(case.angles), cfg, crop="disk", seed=0,
                         channels_last=cuda)


def _guided_copy(encoder: nn.Module) -> nn.Module:
    """explain-cl's guided backprop: a hook clamping each ReLU's input gradient at 0."""
    encoder = copy.deepcopy(encoder)
    for m in encoder.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # backward hooks cannot wrap in-place outputs
            m.register_full_backward_hook(lambda _m, g_in, _g: (g_in[0].clamp_min(0),))
    return encoder


def run_naive(task: Pretext, images: torch.Tensor, case: Case, amp: bool) -> torch.Tensor:
    """The loop explain-cl runs: batch 1, weights requiring grad, a full backward per copy."""
    cfg = saliency_cfg(case)
    method = get_method(cfg.method)
    explain = method.shared_noise
    enc = (_guided_copy(task.encoder) if method.guided else task.encoder).requires_grad_(True)
    dev = images.device
    sigma = noise_sigma(images, method, cfg.noise_level, "disk")
    out = torch.zeros(images.shape[0], len(case.angles), case.size, case.size, device=dev)
    for i in range(images.shape[0]):
        noise = sigma[i] * noise_for(i, case.n_samples, tuple(images.shape[1:]), 0, dev)
        # the reference view as the engine makes it: the image through the same resampling
        # as every rotated view (rotate(x, 0), trainables/saliency/targets.py), not the raw one
        view0 = rotate(images[i:i + 1], 0.0)
        with torch.no_grad(), autocast(dev, amp):
            ref = enc(apply_fov(view0, "disk")).float()
        for j, angle in enumerate(case.angles):
            clean = apply_fov(rotate(images[i:i + 1], angle), "disk")
            total = torch.zeros_like(clean)
            for s in range(case.n_samples):
                x = apply_fov(clean + noise[s:s + 1], "disk").requires_grad_(True)
                enc.zero_grad()
                with autocast(dev, amp):
                    z = enc(x).float()
                    if explain:  # both noisy views embedded with grad, as explain-cl does
                        x_ref = apply_fov(view0 + noise[s:s + 1], "disk")
                        ref = enc(x_ref.requires_grad_(True)).float()
                F.cosine_similarity(z, ref, dim=1).sum().backward()
                total += x.grad
            g = total / case.n_samples
            out[i, j] = (clean * g if explain else g).abs().amax(dim=1)[0]
    if explain:
        out = blur_maps(out.flatten(0, 1), 11, 5.0).view_as(out)
    task.encoder.requires_grad_(False)
    return out


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    dev = args[1].device
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn(*args)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def model_throughput(task: Pretext, case: Case, device: torch.device, amp: bool,
                     reps: int) -> float:
    """Inputs/s of the bare encoder forward + input-gradient backward at ``max_batch``."""
    x = torch.rand(case.max_batch, 3, case.size, case.size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def step() -> None:
        with autocast(device, amp):
            z = task.encoder(x).float()
        torch.autograd.grad(z.sum(), x)

    return case.max_batch / best_time(step, device, reps)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def _peak_child(case: Case, which: str, threads: int, queue: Any) -> None:
    torch.set_num_threads(threads)
    task, images = build_case(case, torch.device("cpu"))
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak RSS (VmHWM) to now
        f.write("5")
    before = _status_kb("VmRSS")
    (run_batched if which == "batched" else run_naive)(task, images, case, False)
    queue.put((_status_kb("VmHWM") - before) / 1024)


def peak_memory_mb(case: Case, which: str, device: torch.device, amp: bool) -> float:
    """Peak memory growth of one run, MB: a fresh child's RSS on the CPU, allocator peak on CUDA."""
    if device.type == "cuda":
        task, images = build_case(case, device)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        (run_batched if which == "batched" else run_naive)(task, images, case, amp)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(case, which, torch.get_num_threads(), queue))
    proc.start()
    value = queue.get()
    proc.join()
    return float(value)


def bench_case(case: Case, device: torch.device, amp: bool, reps: int,
               batches: list[int], memory: bool) -> dict[str, Any]:
    """Naive and batched (at each ``max_batch``) ``reps`` times each, interleaved."""
    task, images = build_case(case, device)
    passes = case.n_images * len(case.angles) * case.n_samples
    times: dict[Any, list[float]] = {"naive": []}
    for _ in range(reps):
        for mb in batches:
            run = replace(case, max_batch=mb)
            if mb not in times:
                run_batched(task, images, run, amp)  # warm-up (allocator, kernels)
            t, fast = timed(run_batched, task, images, run, amp)
            times.setdefault(mb, []).append(t)
        t, slow = timed(run_naive, task, images, case, amp)
        times["naive"].append(t)
    best_mb = min(batches, key=lambda mb: min(times[mb]))
    best = replace(case, max_batch=best_mb)
    diff = float(((fast - slow).abs().max() / slow.abs().max().clamp_min(1e-12)).item())
    model_rate = model_throughput(task, best, device, amp, reps=5 if device.type == "cpu" else 20)
    t_naive, t_batched = min(times["naive"]), min(times[best_mb])
    res: dict[str, Any] = {
        "method": case.method, "passes": passes, "naive_s": round(t_naive, 3),
        "batched_s": round(t_batched, 3), "best_max_batch": best_mb,
        "batched_s_by_max_batch": {mb: round(min(times[mb]), 3) for mb in batches},
        "speedup": round(t_naive / t_batched, 2), "max_rel_diff": diff,
        "engine_inputs_per_s": round(passes / t_batched, 1),
        "model_fwd_bwd_inputs_per_s": round(model_rate, 1),
        "fraction_of_model_throughput": round(passes / t_batched / model_rate, 3),
    }
    if memory:
        res["peak_mb_naive"] = round(peak_memory_mb(best, "naive", device, amp), 1)
        res["peak_mb_batched"] = round(peak_memory_mb(best, "batched", device, amp), 1)
    print(f"{case.name} {case.method} {case.size}px, {case.n_images} img x {len(case.angles)} "
          f"angles x {case.n_samples} copies = {passes} passes on {device.type}"
          f"{' bf16' if amp else ''}, best of {reps}: naive {t_naive:.2f}s, batched "
          f"{t_batched:.2f}s at max_batch {best_mb} (x{res['speedup']}), rel. diff {diff:.1e}; "
          f"engine {res['engine_inputs_per_s']}/s vs model "
          f"{res['model_fwd_bwd_inputs_per_s']}/s"
          + (f"; peak MB naive {res['peak_mb_naive']} batched {res['peak_mb_batched']}"
             if memory else ""), flush=True)
    return res


def agreement_failures(out: dict[str, Any]) -> list[str]:
    """The cases whose two computations disagree beyond :func:`tolerance`, one line each."""
    return [f"{key}: max_rel_diff {res['max_rel_diff']:.1e} > {tolerance(key):.0e}"
            for key, res in out.items() if isinstance(res, dict) and "max_rel_diff" in res
            and not res["max_rel_diff"] <= tolerance(key)]


def tolerance(key: str) -> float:
    """The largest relative difference between the naive and the batched maps that still
    counts as agreement: float32 summation order gives up to 1.9e-3 (bench/RESULTS.md); bf16
    autocast rounds each activation to 8 bits of mantissa."""
    return BF16_TOLERANCE if key.endswith("_bf16") else FLOAT32_TOLERANCE


FLOAT32_TOLERANCE = 1e-2
BF16_TOLERANCE = 1e-1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 3 min, 2 cores)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default, one per core)")
    parser.add_argument("--reps", type=int, default=0, help="runs of each (0: 3, or 5 full)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=None,
                        help="engine batch sizes to try (default: 64 256 on CPU, 256 1024 CUDA)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if args.device == "cuda" or (
        args.device == "auto" and torch.cuda.is_available()) else "cpu")
    reps = args.reps or (3 if args.quick else 5)
    batches = args.max_batch or ([64, 256] if dev.type == "cpu" else [256, 1024])
    out: dict[str, Any] = {"device": dev.type, "threads": torch.get_num_threads(),
                           "quick": args.quick, "load_avg_1min_start": os.getloadavg()[0]}
    start = time.perf_counter()
    for case in cases(args.quick):
        for method in ("smoothgrad", "explain_cl"):
            run = replace(case, method=method)
            suffix = "" if method == "smoothgrad" else "_explain_cl"
            for amp in ([False, True] if dev.type == "cuda" else [False]):
                key = f"{case.name}{suffix}{'_bf16' if amp else ''}"
                res = bench_case(run, dev, amp, reps, batches, memory=method == "smoothgrad")
                out[f"speedup_{key}"] = res["speedup"]
                out[key] = res
    out["wall_s"] = round(time.perf_counter() - start, 1)
    # the machines are shared: the load average says how much of the cores the run had
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    failures = agreement_failures(out)
    out["agree"] = not failures
    print(json.dumps(out))
    if failures:  # the benchmark that says the engine is correct must be able to fail
        print("bench/saliency.py: the engine and the naive loop disagree: "
              + "; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
