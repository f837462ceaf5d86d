"""Benchmark: the rotation's resampling, old rule against the band-limited default (issue 11).

For each resampling: the blur signature on the negative controls (mean gradient magnitude of
white noise at 45° over 0°; HoG + RBF-SVM "rotated or not", nested grouped CV, on white noise,
discs and axis-aligned rectangles; held-out accuracy of a small CNN trained as RotNet on discs
with the angle set {0, 45}), the detail it keeps (response to a cosine at 0°, per frequency in
cycles/pixel) and its speed on a batch (fastest of ``--reps``, interleaved; the old rule is
the baseline of the speed ratio). Resamplings:

- ``old``: exact ``rot90`` at multiples of 90°, bilinear elsewhere (``mode="bilinear"``);
- ``band_limited``: the default (trainables/rotation.py, docs/rotation.md);
- ``gauss_bicubic`` and ``supersample``: two alternatives it was chosen over, implemented
  here only: an isotropic Gaussian (σ = 1 px) then bicubic sampling; and ×2 bicubic
  upsampling, bicubic rotation at ×2, a Gaussian (σ = 0.5 px) and 2 × 2 averaging. Both
  split the angle into quarter turns and a remainder, as the default does.

    .venv/bin/python bench/rotation.py --quick   # 64 images, RotNet 300 steps at 32 px
    .venv/bin/python bench/rotation.py           # 128 images, the (64, 3, 224, 224) batch

Speed is CPU time of the process (one thread by default), fastest of ``--reps`` interleaved
runs: the old rule is the baseline of every ratio. It covers the rotation alone, and whole
pre-training steps (test_train.py's small tasks at 32 px; MoCo on resnet18 at 224 px without
``--quick``), the old rule timed inside the step by switching the library's default mode.

Issue 19 adds (``--parts geometry``, functions in ``bench/geometry.py``): the mask geometries
measured on a perfect map, the frame-cue detectors on the old and the default field of view,
and the ringing at hard edges. Issue 20 adds (``--parts speed``) the cheaper exact paths tried
for the band-limited rotation on the CPU (``PATHS``), each timed against the current one in
the same run. Every run checks exactness first: ``rotate(x, a + 90) == rot90(rotate(x, a))``
bit for bit, and every path within :data:`PATH_TOLERANCE` of the current one; a failed check
exits 1 after the JSON line.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import geometry
from trainables import band_limited, rotation
from trainables.config import DataConfig, HogConfig
from trainables.data import build_dataset
from trainables.hog_svm import hog_features, svm_accuracy
from trainables.rotation import _grid, apply_fov, rotate_each, split_angles
from trainables.spec import parse_trial
from trainables.train import build_optimizer
from trainables.trial import build_task

Rotation = Callable[[torch.Tensor, list[float]], torch.Tensor]


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = math.ceil(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.device)
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def _turn(x: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """Bicubic ``grid_sample`` of ``(B, 1, S, S)`` item i by ``rest[i]`` degrees."""
    grid = _grid(rest, x.shape[-2], x.shape[-1]).to(x.dtype)
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="zeros", align_corners=False)


def alternative(kind: str) -> Rotation:
    """One of the two rejected designs as a ``rotate_each``-like function."""

    def rot(x: torch.Tensor, angles: list[float]) -> torch.Tensor:
        quarters, rest = split_angles(torch.tensor(angles, dtype=torch.float64))
        b, s = x.shape[0], x.shape[-1]
        y = x.reshape(b, -1, s, s).transpose(0, 1).reshape(-1, 1, s, s)  # (C·B) x 1 x S x S
        rest = rest.repeat(y.shape[0] // b)
        if kind == "gauss_bicubic":
            y = _turn(_gauss(y, 1.0), rest)
        else:
            y = F.interpolate(y, scale_factor=2, mode="bicubic", align_corners=False)
            y = F.avg_pool2d(_gauss(_turn(y, rest), 1.0), 2)
        y = y.reshape(-1, b, s, s).transpose(0, 1).reshape(x.shape)
        return torch.stack([torch.rot90(y[i], int(k), dims=(-2, -1))
                            for i, k in enumerate(quarters)])

    return rot


def padded_by(room: float) -> Rotation:
    """The default rotation on a smaller FFT side (``room · S`` instead of ``1.6 · S`` of room
    for the shears, :func:`trainables.band_limited.padded_size`): fewer points per FFT pass,
    at the price of content wrapping round into the frame."""
    def rot(x: torch.Tensor, angles: list[float]) -> torch.Tensor:
        saved = band_limited.padded_size
        band_limited.padded_size = functools.partial(saved, room=room)
        try:
            return rotate_each(x, angles, "band_limited")
        finally:
            band_limited.padded_size = saved

    return rot


PATHS: dict[str, Rotation] = {
    "current": lambda x, a: rotate_each(x, a, "band_limited"),
    "padded_1.45": padded_by(1.45),
    "padded_1.3": padded_by(1.3),
}
PATH_TOLERANCE = 1e-3  # of the images' range [0, 1]: a path that is "exact" within this


def exactness(paths: list[str]) -> dict[str, Any]:
    """Quarter turns bit for bit, and each path's largest difference from the current one
    (white noise in [0, 1], 8 × 3 × 64², angles spread over [0, 360))."""
    x = torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    angles = (torch.rand(8, generator=torch.Generator().manual_seed(3)) * 360).tolist()
    out: dict[str, Any] = {"rot90_exact": all(
        torch.equal(rotate_each(x, [a + 90.0] * 8), torch.rot90(rotate_each(x, [a] * 8), 1,
                                                                 dims=(-2, -1)))
        for a in (0.0, 17.5, 45.0, 300.0))}
    ref = PATHS["current"](x, angles)
    for name in paths:
        out[f"{name}_max_diff"] = float((PATHS[name](x, angles) - ref).abs().max())
    # a path beyond the tolerance is a rejected attempt, listed; a broken quarter turn fails
    out["exact_paths"] = [n for n in paths if out[f"{n}_max_diff"] <= PATH_TOLERANCE]
    out["ok"] = out["rot90_exact"]
    return out


def path_speed(batch: tuple[int, int, int, int], reps: int) -> dict[str, Any]:
    """CPU seconds of each of :data:`PATHS` (an angle per item), fastest of ``reps``
    interleaved runs, and each one's ratio to the current path."""
    x = torch.rand(*batch, generator=torch.Generator().manual_seed(0))
    each = (torch.rand(batch[0], generator=torch.Generator().manual_seed(1)) * 360).tolist()
    best = dict.fromkeys(PATHS, math.inf)
    for _ in range(reps):
        for name, fn in PATHS.items():
            t = time.process_time()
            fn(x, each)
            best[name] = min(best[name], time.process_time() - t)
    out: dict[str, Any] = {n: round(v, 4) for n, v in best.items()}
    for n in PATHS:
        out[f"{n}_vs_current"] = round(best[n] / best["current"], 2)
    return out


ROTATIONS: dict[str, Rotation] = {
    "old": lambda x, a: rotate_each(x, a, "bilinear"),
    "band_limited": lambda x, a: rotate_each(x, a, "band_limited"),
    "gauss_bicubic": alternative("gauss_bicubic"),
    "supersample": alternative("supersample"),
}


def images(kind: str, n: int, size: int, seed: int = 0, **params: Any) -> torch.Tensor:
    data = build_dataset(DataConfig(name="synthetic", image_size=size, params={
        "kind": kind, "n_images": n, "seed": seed, **params}))
    return torch.stack([data[i]["image"] for i in range(n)])


def turned(rot: Rotation, x: torch.Tensor, angle: float) -> torch.Tensor:
    return rot(x, [angle] * x.shape[0])


def hog_accuracy(rot: Rotation, gray: torch.Tensor, angle: float, cfg: HogConfig) -> float:
    """Nested grouped-CV accuracy of "rotated by ``angle`` or by 0°" on HoG descriptors."""
    n = gray.shape[0]
    base, other = (hog_features(apply_fov(turned(rot, gray[:, None], a)[:, 0], "disk").numpy(),
                                cfg) for a in (0.0, angle))
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    groups = np.r_[np.arange(n), np.arange(n)]
    return svm_accuracy(np.concatenate([base, other]), y, groups, cfg)["accuracy"]


def gradient_ratio(rot: Rotation, noise: torch.Tensor) -> float:
    """Mean gradient magnitude of white noise rotated by 45° over the same at 0°."""
    def grad(x: torch.Tensor) -> float:
        gy, gx = x[..., 2:, 1:-1] - x[..., :-2, 1:-1], x[..., 1:-1, 2:] - x[..., 1:-1, :-2]
        s = x.shape[-1]
        r = torch.arange(s - 2) - (s - 3) / 2
        keep = (r[:, None] ** 2 + r[None, :] ** 2) <= (s / 2 - 4) ** 2
        return float(torch.hypot(gx, gy)[..., keep].mean())

    return grad(turned(rot, noise, 45.0)) / grad(turned(rot, noise, 0.0))


def response(rot: Rotation, size: int = 128) -> dict[str, float]:
    """Amplitude kept at 0° of a cosine along x, per frequency (cycles/pixel; each a whole
    number of cycles over the central half of the row, where it is measured)."""
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    out = {}
    for f in (0.125, 0.25, 0.3125, 0.375, 0.4375):
        wave = torch.cos(2 * math.pi * f * c).expand(size, size)[None, None]
        mid = turned(rot, wave.float(), 0.0)[0, 0, size // 2, size // 4: 3 * size // 4].double()
        out[f"{f:g}"] = round(float((mid * torch.cos(2 * math.pi * f * c[size // 4:
                                     3 * size // 4])).mean() * 2), 3)
    return out


def rotnet_accuracy(rot: Rotation, angles: tuple[float, float], size: int, steps: int
                    ) -> float:
    """Held-out accuracy of a small CNN telling discs at ``angles[0]`` from ``angles[1]`` (all
    rotations of each image in one batch, cropped to the disk, as seed 003's RotNet; also the
    known-answer test in tests/trainables/test_rotation_known_answers.py)."""
    def batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gray = x[:, :1].repeat_interleave(2, dim=0)
        out = apply_fov(rot(gray, list(angles) * x.shape[0]), "disk").expand(-1, 3, -1, -1)
        return out, torch.arange(2).repeat(x.shape[0])

    (x, y), (xt, yt) = batch(images("discs", 256, size, 0)), batch(images("discs", 128, size, 1))
    return geometry.cnn_held_out(
        x, y, xt, yt, width=8, steps=steps, seed=0,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9,
                                                 weight_decay=5e-4))


def speed(batch: tuple[int, int, int, int], reps: int, names: list[str]) -> dict[str, Any]:
    """Fastest of ``reps`` interleaved runs per resampling (CPU seconds of this process: the
    machine is shared): one angle (30°), and an angle per item (uniform in [0, 360))."""
    x = torch.rand(*batch, generator=torch.Generator().manual_seed(0))
    each = (torch.rand(batch[0], generator=torch.Generator().manual_seed(1)) * 360).tolist()
    best = {f"{n}_{k}": math.inf for n in names for k in ("one", "each")}
    for _ in range(reps):
        for n in names:
            for key, angles in (("one", [30.0] * batch[0]), ("each", each)):
                t = time.process_time()
                ROTATIONS[n](x, angles)
                best[f"{n}_{key}"] = min(best[f"{n}_{key}"], time.process_time() - t)
    out: dict[str, Any] = {k: round(v, 3) for k, v in best.items()}
    for n in names:
        out[f"{n}_vs_old"] = round(best[f"{n}_one"] / best["old_one"], 1)
    return out


@contextmanager
def image_mode(mode: str) -> Iterator[None]:
    """Image rotations made with :mod:`trainables.rotation`'s default mode use ``mode``: how
    the bench times the old rule inside a training step (the library keeps no such switch)."""
    fns = (rotation.rotate, rotation.rotate_each, rotation.rotate_grid)
    saved = [f.__defaults__ for f in fns]
    for f in fns:
        f.__defaults__ = (mode,)
    try:
        yield
    finally:
        for f, d in zip(fns, saved, strict=True):
            f.__defaults__ = d


def step_speed(task_spec: dict[str, Any], size: int, batch: int, steps: int, reps: int
               ) -> dict[str, float]:
    """CPU seconds per pre-training step (forward, backward, optimizer), fastest of ``reps``
    interleaved runs of ``steps`` steps, with the old rule (``old``) and the default rule
    (``new``), and their ratio."""
    cfg = parse_trial({"data": {"image_size": size}, **task_spec,
                       "train": {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}})
    data = torch.rand(4 * batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    best = {"old": math.inf, "new": math.inf}
    for _ in range(reps):
        for key, mode in (("old", "bilinear"), ("new", "band_limited")):
            torch.manual_seed(0)
            task = build_task(cfg, torch.device("cpu"))
            opt = build_optimizer(task.parameters(), cfg.train)
            g = torch.Generator().manual_seed(0)
            with image_mode(mode):
                t = time.process_time()
                for _ in range(steps):
                    out = task.step(data[torch.randint(len(data), (batch,), generator=g)], g)
                    opt.zero_grad()
                    out.loss.backward()
                    opt.step()
                    task.after_optimizer_step()
                best[key] = min(best[key], (time.process_time() - t) / steps)
    return {"old_s": round(best["old"], 4), "new_s": round(best["new"], 4),
            "new_vs_old": round(best["new"] / best["old"], 2)}


def training_speed(quick: bool, reps: int) -> dict[str, Any]:
    """Step times of ``tests/trainables/test_train.py``'s tasks (small CNN, 32 px, batch 32)
    and, without ``--quick``, of MoCo on resnet18 at 224 px (batch 16)."""
    small = {"model": {"params": {"width": 8}}}
    moco = {"name": "moco_rotation", "augment": "paper",
            "params": {"queue_size": 256, "momentum": 0.99}}
    out = {
        "rotnet_small_32": step_speed({**small, "pretext": {
            "name": "rotnet", "augment": "none", "params": {"angles": [0, 90, 180, 270]}}},
            32, 32, 20, reps),
        **{f"moco_small_32_theta{a}": step_speed({**small, "pretext": {
            **moco, "params": {**moco["params"], "angles": [a]}}}, 32, 32, 20, reps)
           for a in (90, 45)},
    }
    if not quick:
        for a in (90, 45):
            out[f"moco_resnet18_224_theta{a}"] = step_speed({"model": {"backbone": "resnet18"},
                "pretext": {**moco, "params": {**moco["params"], "angles": [a]}}},
                224, 16, 1, reps)
    return out


def signature(name: str, n: int, size: int, steps: int) -> dict[str, Any]:
    rot = ROTATIONS[name]
    cfg = HogConfig(n_images=n, image_size=64, pixels_per_cell=16, cv_folds=3, nested=True)
    noise = images("noise", n, 64, noise=0.1).mean(1)
    discs = images("discs", n, 64).mean(1)
    rect = images("rectangles", 64, 64).mean(1)
    out: dict[str, Any] = {"grad_45_over_0": round(gradient_ratio(rot, noise[:, None]), 3)}
    for a in (30.0, 45.0):
        out[f"hog_noise_{a:g}"] = round(hog_accuracy(rot, noise, a, cfg), 3)
        out[f"hog_discs_{a:g}"] = round(hog_accuracy(rot, discs, a, cfg), 3)
    for a in (45.0, 90.0):
        out[f"hog_rect_{a:g}"] = round(hog_accuracy(rot, rect, a, replace(cfg, n_images=64)), 3)
    for pair in ((0.0, 45.0), (0.0, 30.0)):
        out[f"rotnet_discs_{pair[1]:g}"] = round(rotnet_accuracy(rot, pair, size, steps), 3)
    out["response_0deg"] = response(rot)
    return out


PARTS = ("signature", "geometry", "speed", "training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, size, steps = (64, 32, 300) if args.quick else (128, 32, 300)
    batches = [(64, 3, 64, 64), (16, 3, 224, 224)] if args.quick else [(64, 3, 64, 64),
                                                                       (64, 3, 224, 224)]
    result: dict[str, Any] = {"quick": args.quick, "threads": args.threads,
                              "exactness": exactness(list(PATHS))}
    print("exactness", json.dumps(result["exactness"]), flush=True)
    if "signature" in args.parts:
        for name in ROTATIONS:
            t = time.perf_counter()
            result[name] = signature(name, n, size, steps)
            print(name, json.dumps(result[name]), f"({time.perf_counter() - t:.0f} s)",
                  flush=True)
    if "geometry" in args.parts:
        for key, fn in (("mask_geometry", geometry.mask_geometry_report),
                        ("frame_cue", geometry.frame_cue_report),
                        ("overshoot", geometry.overshoot_report)):
            result[key] = fn()
            print(key, json.dumps(result[key]), flush=True)
    if "speed" in args.parts:
        for b in batches:
            key = "speed_" + "x".join(map(str, b))
            result[key] = speed(b, args.reps, list(ROTATIONS))
            result["paths_" + key[6:]] = path_speed(b, args.reps)
            print(key, json.dumps(result[key]), json.dumps(result["paths_" + key[6:]]),
                  flush=True)
    if "training" in args.parts:
        result["training"] = training_speed(args.quick, args.reps)
        print("training", json.dumps(result["training"]), flush=True)
    print(json.dumps(result))
    if not result["exactness"]["ok"]:
        print("bench/rotation.py: exactness failed: rotate(x, a + 90) is not rot90 of "
              "rotate(x, a)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
