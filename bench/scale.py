"""Benchmark: rotsweep at scale — time per trial as a study grows, and reading a table of
thousands of parts before and after compaction (issue 14, "ready for 50,000 trials").

**Engine.** A Ray cluster of two nodes on this machine, started as an operator would
(``ray start --head --num-gpus 1`` and ``ray start --address 127.0.0.1:PORT --num-gpus 1``, one
CPU each; the GPUs are declared, not real. Ray's cluster mode advertises the machine's address
for 127.0.0.1 and its ports listen on every interface, so token authentication is on; the
engine's own local instance is loopback-only and takes no second node), runs tiny real trials
(small CNN, 32 px, one epoch, 4 images × 3 angles) through ``study.launch.runner.run_study`` with
``--address``: trials ask for ``resources: {cpu: 1, gpu: 0.5}`` and ``train.device: auto``,
so Ray hands each a GPU share and the trial falls back to the CPU because CUDA is absent (the
bench checks the recorded device). After an untimed warm-up launch (workers started, modules
imported), a small, a large and the small study again run one after the other (the small
size's figures are the mean of its two launches: the load of a shared machine drifts, and
bracketing the large launch cancels a trend); for each:

* ``per_trial_s`` = the launch's wall time / its trials (claim, Ray, MLflow, trials, trials
  table, compaction: everything ``rotsweep run`` does), the marginal cost of one more trial
  between the two sizes, and ``steady_s_per_trial``: from the first trial's start to the last
  one's end (the progress lines' clock) / trials, the rate without the launch's fixed costs;
* ``tune_kb_left_per_trial``: what Tune's state leaves under the study's ``tune/`` per trial
  once the launch ends (a launch removes each batch's Tune experiment when its trials end;
  ``bench/tune_state.py`` measures the state at its largest).

**Reading.** A ``saliency`` table of ``--parts`` parts written by ``rotsweep.tables.write_part``
(576 rows each: 24 images × 24 angles, as a smoke-sized trial writes; three datasets), then a
per-(trial, angle) mean of Dice as the report computes it, read through ``read_arrow`` with the
four columns it needs: on the parts (``read_s_parts``), on the same parts with every footer
checked as schema version 1 did (``read_s_parts_every_footer``, the baseline of the reading
path), and after ``rotsweep.compact.compact_results`` (``read_s_compacted``): three copies of
the table, timed in turn for five rounds, best of each.

    .venv/bin/python bench/scale.py --quick    # 20 and 80 trials, 2,000 parts
    .venv/bin/python bench/scale.py            # 100 and 1,000 trials, 5,000 parts

The cluster's processes are ended at exit (their process groups, which this script started;
never ``ray stop``, which would stop every Ray instance of this user on the machine). The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "token")  # the driver and both nodes share the token
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import pyarrow as pa

from rotsweep.compact import compact_results
from rotsweep.storage import tree_bytes
from rotsweep.tables import read_arrow, write_part

RAY = str(Path(sys.executable).with_name("ray"))
GOAL_GROWTH, GOAL_READ = 1.2, 3.0
TINY = {"seed": 0, "data": {"name": "synthetic", "image_size": 32, "n_train": 32, "n_eval": 4,
                            "params": {"kind": "rectangles", "n_images": 48}},
        "model": {"backbone": "small_cnn", "params": {"width": 8}},
        "pretext": {"name": "moco_rotation", "params": {"angles": [90], "queue_size": 64}},
        "train": {"epochs": 1, "batch_size": 16, "num_threads": 1, "device": "auto"},
        "saliency": {"n_samples": 2, "eval_angles": [0, 45, 90]}, "hog": {"enabled": False},
        "resources": {"cpu": 1, "gpu": 0.5}}
MEAN_COLUMNS = ["dataset", "trial_id", "eval_angle", "dice"]
LOGS: Path | None = None  # --logs: keep each launch's output and the nodes' logs there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def two_nodes(log_dir: Path) -> Iterator[str]:
    """A head and a worker node (1 CPU, 1 declared GPU each); yields the address; ends both."""
    port, temp = free_port(), f"/tmp/rsb{os.getpid()}"  # short: Ray's socket paths are limited
    common = ["--num-cpus", "1", "--num-gpus", "1", "--node-ip-address", "127.0.0.1",
              "--object-store-memory", str(200 << 20), "--disable-usage-stats", "--block"]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start_node(["--head", "--port", str(port), "--include-dashboard", "false",
                                 "--temp-dir", temp, *common], log_dir / "head.log"))
        address = f"127.0.0.1:{port}"
        wait_nodes(address, 1, procs)
        procs.append(start_node(["--address", address, *common], log_dir / "worker.log"))
        wait_nodes(address, 2, procs)
        yield address
    finally:
        import ray

        ray.shutdown()
        stop_nodes(procs)
        shutil.rmtree(temp, ignore_errors=True)


def start_node(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    # its own session: the node's processes (GCS, raylet, workers) can be found and ended
    return subprocess.Popen([RAY, "start", *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_nodes(address: str, n: int, procs: list[subprocess.Popen[bytes]]) -> None:
    import ray

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a Ray node exited while starting; see its log")
        with contextlib.suppress(Exception):
            if not ray.is_initialized():
                ray.init(address=address, logging_config=ray.LoggingConfig(log_level="ERROR"))
            if sum(node["Alive"] for node in ray.nodes()) >= n:
                ray.shutdown()  # run_study joins the cluster itself
                return
        time.sleep(1)
    raise RuntimeError(f"{n} Ray node(s) not up after 300 s")


def stop_nodes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the nodes' process groups, then SIGKILL what is left of their sessions."""
    for proc in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    sessions = {p.pid for p in procs}
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getsid(pid) in sessions:
                os.kill(pid, signal.SIGKILL)


def launch(n: int, address: str, root: Path, name: str = "scale") -> dict[str, Any]:
    """One ``run_study`` of ``n`` tiny trials on the cluster; its figures."""
    from study.config.load import validate_raw
    from study.folder.book import TrialBook
    from study.launch.runner import RunOptions, run_study

    study = validate_raw({"name": f"{name}{n}", "axes": {"seed": list(range(n))}, **TINY},
                         source="bench/scale.py")
    out = root / f"{name}{n}"
    log = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(log):
        result = run_study(study, RunOptions(out=str(out), address=address))
    wall = time.perf_counter() - start
    if LOGS is not None:
        (LOGS / f"{name}{n}.log").write_text(log.getvalue())
    if result.counts != {"FINISHED": n}:
        raise RuntimeError(f"{n} trials: {result.counts}\n{log.getvalue()[-3000:]}")
    stamps = [float(m) for m in re.findall(r"^\[\s*([\d.]+)s\]", log.getvalue(), re.M)]
    placed = [rec.placement for rec in TrialBook.load(str(out)).trials.values()]
    devices = {p.get("device", "?") for p in placed}
    nodes = {p.get("node_id") for p in placed}
    # from the first trial's start to the last one's end (the progress lines' clock): the
    # rate once running, without the launch's fixed start-up and closing work
    steady = (stamps[-1] - stamps[0]) / n if len(stamps) > 1 else float("nan")
    return {"n": n, "wall_s": wall, "per_trial_s": wall / n, "steady_s_per_trial": steady,
            "devices": sorted(devices),
            "nodes": len(nodes), "node_ids": sorted(str(n) for n in nodes),
            "tune_kb_left_per_trial": tree_bytes(str(out / "tune")) / 1e3 / n,
            "storage_note": result.storage_note}


def trial_rows(k: int, rng: np.random.Generator, images: int, angles: int) -> pd.DataFrame:
    n = images * angles
    eval_angle = np.tile(np.arange(angles, dtype=np.float32) * (360 / angles), images)
    return pd.DataFrame({
        "study": "bench", "dataset": ("brats", "lung_mask", "kvasir_seg")[k % 3],
        "trial_id": f"trial_{k:05d}", "backbone": "small_cnn", "pretext": "moco_rotation",
        "pretraining": "moco_rotation θ=90", "train_angles": [[90.0]] * n, "init": "random",
        "seed": k, "method": "smoothgrad", "target": "pair_similarity",
        "eval_angle": eval_angle,
        "image_id": np.repeat([f"img_{i:03d}" for i in range(images)], angles),
        "dice": rng.random(n).astype(np.float32), "threshold_rule": "match_mask_area",
        "threshold": 0.5, "degenerate": eval_angle == 0, "mlflow_run_id": "0" * 32})


def per_angle(root: Path) -> pa.Table:
    """The report's per-(trial, angle) mean of Dice, from the four columns it needs."""
    table = read_arrow(root, "saliency", columns=MEAN_COLUMNS)
    return table.group_by(["trial_id", "eval_angle"]).aggregate([("dice", "mean")]).sort_by(
        [("trial_id", "ascending"), ("eval_angle", "ascending")])


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def reading(root: Path, n_parts: int, rounds: int = 5) -> dict[str, Any]:
    """The per-angle mean on three copies of one table, timed in turn for ``rounds`` rounds
    (best of each): the machine's load drifts alike for all three."""
    rng = np.random.default_rng(0)
    parts, every, compacted = root / "parts", root / "every_footer", root / "compacted"
    write_s, _ = timed(lambda: [
        write_part(parts, "saliency", trial_rows(k, rng, 24, 24), key=f"trial_{k:05d}")
        for k in range(n_parts)])
    print(f"wrote {n_parts} parts in {write_s:.1f} s", flush=True)
    shutil.copytree(parts, every)
    (every / "saliency" / "_rotsweep.json").unlink()  # as version 1 read: every footer first
    shutil.copytree(parts, compacted)
    compact_s, stats = timed(lambda: compact_results(compacted))
    best = {"parts": float("inf"), "every": float("inf"), "compacted": float("inf")}
    means = {}
    for _ in range(rounds):
        for name, folder in (("parts", parts), ("every", every), ("compacted", compacted)):
            seconds, means[name] = timed(lambda folder=folder: per_angle(folder))
            best[name] = min(best[name], seconds)
    assert means["compacted"].equals(means["parts"]), "compaction changed the per-angle means"
    files = len(list((compacted / "saliency").rglob("*.parquet")))
    print(f"read {means['parts'].num_rows:,} means: parts {best['parts']:.2f} s (every footer "
          f"{best['every']:.2f} s), compacted into {files} files in {compact_s:.1f} s: "
          f"{best['compacted']:.2f} s", flush=True)
    return {"n_parts": n_parts, "rows": 576 * n_parts, "files_compacted": files,
            "write_s": write_s, "read_s_parts": best["parts"],
            "read_s_parts_every_footer": best["every"], "compact_s": compact_s,
            "compact_rows": stats.rows, "read_s_compacted": best["compacted"]}


def summary(smalls: list[dict[str, Any]], lg: dict[str, Any], read: dict[str, Any],
            rss_mb: float) -> dict[str, Any]:
    """The JSON line: the small size's figures are the mean of its launch before and after the
    large one (the machine's load drifts; bracketing the large launch cancels a trend)."""
    n = smalls[0]["n"]
    wall = sum(r["wall_s"] for r in smalls) / len(smalls)
    steady = sum(r["steady_s_per_trial"] for r in smalls) / len(smalls)
    marginal = (lg["wall_s"] - wall) / (lg["n"] - n)
    growth = lg["per_trial_s"] / (wall / n)
    speedup = read["read_s_parts"] / read["read_s_compacted"]
    return {
        "n_small": n, "n_large": lg["n"], "per_trial_s_small": round(wall / n, 3),
        "per_trial_s_small_runs": [round(r["per_trial_s"], 3) for r in smalls],
        "per_trial_s_large": round(lg["per_trial_s"], 3), "per_trial_ratio": round(growth, 3),
        "marginal_s_per_trial": round(marginal, 3),
        "steady_s_per_trial_small": round(steady, 3),
        "steady_s_per_trial_large": round(lg["steady_s_per_trial"], 3),
        "steady_ratio": round(lg["steady_s_per_trial"] / steady, 3),
        "fixed_s_per_launch": round(wall - n * marginal, 1),
        "tune_kb_left_per_trial_small": round(smalls[0]["tune_kb_left_per_trial"], 1),
        "tune_kb_left_per_trial_large": round(lg["tune_kb_left_per_trial"], 1),
        "devices": sorted({d for r in (*smalls, lg) for d in r["devices"]}),
        "nodes": len({i for r in (*smalls, lg) for i in r["node_ids"]}),
        "driver_rss_mb": round(rss_mb, 1),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in read.items()},
        "read_speedup": round(speedup, 2),
        "footer_check_saving": round(read["read_s_parts_every_footer"] / read["read_s_parts"], 2),
        "goal_per_trial_ratio_le_1_2": growth <= GOAL_GROWTH,
        "goal_read_speedup_ge_3": speedup >= GOAL_READ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20/80 trials, 2,000 parts")
    parser.add_argument("--sizes", type=int, nargs=2, default=None, help="small and large N")
    parser.add_argument("--parts", type=int, default=None, help="parts of the read table")
    parser.add_argument("--logs", type=Path, default=None, help="keep the launches' output here")
    args = parser.parse_args()
    global LOGS
    LOGS = args.logs
    if LOGS is not None:
        LOGS.mkdir(parents=True, exist_ok=True)
    small, large = args.sizes or ((20, 80) if args.quick else (100, 1000))
    n_parts = args.parts or (2000 if args.quick else 5000)
    root = Path(tempfile.mkdtemp(prefix="rotsweep_scale_"))
    try:
        with two_nodes(LOGS or root) as address:
            launch(2, address, root, "warmup")  # warm-up: workers started, torch imported, untimed
            runs = [launch(small, address, root), launch(large, address, root),
                    launch(small, address, root, "again")]
            for r in runs:
                print(f"{r['n']} trials: {r['wall_s']:.1f} s, {r['per_trial_s']:.3f} s/trial, "
                      f"devices {r['devices']} on {r['nodes']} nodes, Tune state "
                      f"{r['tune_kb_left_per_trial']:.1f} KB/trial left; {r['storage_note']}",
                      flush=True)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        read = reading(root / "read", n_parts)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary([runs[0], runs[2]], runs[1], read, rss_mb)))


if __name__ == "__main__":
    main()
