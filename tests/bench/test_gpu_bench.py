"""``bench/gpu.py`` runs its CUDA code paths on the CPU (``--device cpu --quick``) and prints
every figure the GPU run reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"


@pytest.mark.slow
def test_gpu_bench_cpu_quick_path(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(["--device", "cpu", "--quick"])
    for key in ("model_ips_bf16", "engine_ips_bf16", "engine_vs_model_bf16", "model_ips_tf32",
                "engine_ips_tf32", "captum_ips", "engine_vs_captum", "pretrain_epoch_s",
                "rotation_ms_per_step", "step_ms", "rotation_share_of_step"):
        assert res[key] is not None and res[key] > 0, key
    # the rotation's share of a step (issue 20): a part of the step; the pair's two views (and
    # the paper jitter) go through one batched call
    assert res["rotation_share_of_step"] < 1 and res["rotation_calls_per_step"] >= 1
    # both precisions draw the same maps on the CPU (both are float32 there)
    assert res["bf16_vs_tf32_map_corr"] > 0.999
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("{") and '"engine_vs_captum"' in last
