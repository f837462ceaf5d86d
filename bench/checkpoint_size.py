"""Benchmark: the disk one cached pre-training takes under each ``train.checkpoint_cache``
policy (issue 14: "a ResNet-50 cache checkpoint is 107 MB, ≈ 5 TB at 46,000 trials").

Builds the pretext task (``moco_rotation`` by default, untrained: a checkpoint's size does
not depend on the values) and stores it through ``trainables.checkpoints.save_pretrained``
with ``evaluation`` (the default: encoder and heads, what evaluation and probes load) and
``keep`` (the task's whole state: for MoCo also the key encoder, its head and the queue), with
a 100-epoch history; ``cache_bytes`` measures each. ``none`` writes nothing (0 bytes), so the
baseline in the same run is ``keep``. ``tb_at_46k`` is the cache for 46,000 distinct
pre-trainings (the follow-up grid's size when no two trials share one).

    .venv/bin/python bench/checkpoint_size.py            # ResNet-50, 224 px
    .venv/bin/python bench/checkpoint_size.py --quick    # ResNet-18
    .venv/bin/python bench/checkpoint_size.py --backbone small_cnn

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from trainables import checkpoints
from trainables.spec import parse_trial
from trainables.trial import build_task

GRID_TRIALS = 46_000


def measure(backbone: str, pretext: str, policy: str, root: Path) -> tuple[int, int]:
    """Bytes on disk and tensor values stored for one policy."""
    cfg = parse_trial({"model": {"backbone": backbone}, "pretext": {"name": pretext},
                       "data": {"image_size": 224}, "train": {"checkpoint_cache": policy}})
    task = build_task(cfg, torch.device("cpu"))
    history = [{"epoch": e, "loss": 1.0, "lr": 0.1} for e in range(100)]
    checkpoints.save_pretrained(str(root), cfg, task, history)
    state = task.state_dict() if policy == "keep" else task.evaluation_state()
    values = sum(v.numel() for v in state.values())
    return checkpoints.cache_bytes(str(root)), values


def main(argv: list[str] | None = None) -> dict[str, float | int | str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ResNet-18 instead of ResNet-50")
    parser.add_argument("--backbone", default=None, help="any backbone (overrides --quick)")
    parser.add_argument("--pretext", default="moco_rotation")
    args = parser.parse_args(argv)
    backbone = args.backbone or ("resnet18" if args.quick else "resnet50")
    out: dict[str, float | int | str] = {"backbone": backbone, "pretext": args.pretext}
    with tempfile.TemporaryDirectory(prefix="rotsweep_ckpt_") as tmp:
        for policy in ("evaluation", "keep"):
            size, values = measure(backbone, args.pretext, policy, Path(tmp) / policy)
            out[f"{policy}_mb"] = round(size / 1e6, 1)
            out[f"{policy}_values_m"] = round(values / 1e6, 2)
            out[f"{policy}_bytes"], out[f"{policy}_values"] = size, values
            print(f"{policy}: {size / 1e6:.1f} MB ({values / 1e6:.2f} M values)", flush=True)
    out["none_mb"] = 0.0
    out["keep_over_evaluation"] = round(
        float(out["keep_bytes"]) / float(out["evaluation_bytes"]), 2)
    out["tb_at_46k_evaluation"] = round(float(out["evaluation_mb"]) * GRID_TRIALS / 1e6, 2)
    out["tb_at_46k_keep"] = round(float(out["keep_mb"]) * GRID_TRIALS / 1e6, 2)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
