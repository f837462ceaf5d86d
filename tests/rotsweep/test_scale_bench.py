"""bench/scale.py end to end at toy sizes: a two-node cluster started with ``ray start`` (fake
GPUs), trials asking for half a GPU and running on the CPU, the reading benchmark, one JSON
line, and no Ray process left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ray_processes_of(tag: str) -> list[int]:
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if tag in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.slow
def test_scale_bench_runs_on_two_nodes_and_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "bench/scale.py", "--sizes", "2", "4", "--parts", "40",
         "--logs", str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    out, err = proc.communicate(timeout=1500)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["devices"] == ["cpu"] and result["nodes"] == 2  # GPU asked, CPU used
    assert (result["n_small"], result["n_large"], result["n_parts"]) == (2, 4, 40)
    assert result["rows"] == 40 * 576 and result["compact_rows"] == 40 * 576
    assert result["files_compacted"] == 3  # one per dataset partition
    for key in ("per_trial_s_small", "per_trial_s_large", "read_s_parts", "read_s_compacted",
                "driver_rss_mb"):
        assert result[key] > 0
    assert not ray_processes_of(f"/tmp/rsb{proc.pid}")  # both nodes ended
