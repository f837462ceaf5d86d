"""A study submitted the way Ray users launch work: ``ray job submit --working-dir . -- rotsweep
run ...`` to a cluster started with ``ray start --head`` (dashboard on loopback) plus a worker
node, the study folder on storage both nodes reach; then ``rotsweep status`` and ``rotsweep
report`` on the result (docs/operations.md, "Submitting to a Ray cluster (Ray Jobs)").

Everything listens on 127.0.0.1. ``ray start`` keeps a head on loopback when Ray's
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is set, but refuses to start a *worker* then and
otherwise rewrites 127.0.0.1 to the machine's public address; the worker is therefore started
through ``ray start``'s own entry point with that rewrite switched off (:data:`LOOPBACK_WORKER`).
Both nodes and the submitting client share one token of their own (``RAY_AUTH_TOKEN``), so
nothing here reads or writes ``~/.ray``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import child_runs, end_session, free_port

from rotsweep.tables import read_table
from study.tracking.store import default_tracking_uri

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
# what `--working-dir .` must leave out (Ray also honours .gitignore): the runtime env docs/
# operations.md shows
RUNTIME_ENV = {"excludes": [".git", ".venv", "runs"]}
LOOPBACK_WORKER = (
    "import sys\n"
    "from ray._private import services\n"
    "services.resolve_ip_for_localhost = lambda host: host  # keep 127.0.0.1\n"
    "from ray.scripts.scripts import main\n"
    "sys.argv = ['ray', *sys.argv[1:]]\n"
    "main()\n")


def _node_args() -> list[str]:
    # every port a node opens by a fixed default, so two nodes (and other tests' Ray) coexist;
    # 2 CPUs a node: the smoke study's 3 trials and its HoG job (1 CPU each) all start at once,
    # so both nodes run trials
    return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port",
            str(free_port()), "--runtime-env-agent-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--num-cpus", "2",
            "--disable-usage-stats", "--block"]


def _answers(url: str, token: str) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _alive_nodes(env: dict[str, str], api: str) -> int:
    run = subprocess.run([str(BIN / "ray"), "list", "nodes", "--address", api, "--format",
                          "json", "--filter", "state=ALIVE"], env=env, capture_output=True,
                         text=True, timeout=60)
    try:
        return len(json.loads(run.stdout))
    except ValueError:
        return 0


def _wait(what: str, check: Any, timeout_s: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


@dataclass(frozen=True)
class JobsCluster:
    """A running two-node cluster: its Jobs API, the environment that reaches it (token,
    ``PATH``), and the head node's Ray temp folder."""

    api: str
    env: dict[str, str]
    head_temp: Path


@pytest.fixture
def jobs_cluster(tmp_path: Path) -> Iterator[JobsCluster]:
    """A head node (dashboard and Jobs API on loopback) and a worker node, two CPUs each,
    started with ``ray start`` for this test only."""
    # short: Ray's socket paths under the temp dir must stay under 108 bytes
    temp = Path(tempfile.mkdtemp(prefix="rj", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # the venv's `rotsweep` on PATH, as in an activated venv: the job's entrypoint finds it
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(32))
    gcs, dashboard = f"127.0.0.1:{free_port()}", free_port()
    head_log, worker_log = tmp_path / "head.log", tmp_path / "worker.log"
    procs = []
    try:
        procs.append(subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--port", gcs.split(":")[1],
             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
             "--include-dashboard", "true", "--ray-client-server-port", str(free_port()),
             "--temp-dir", str(temp / "head"), *_node_args()],
            env={**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, cwd=tmp_path,
            stdout=head_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True))
        api = f"http://127.0.0.1:{dashboard}"
        token = env["RAY_AUTH_TOKEN"]
        _wait("the head node's Jobs API", lambda: _answers(f"{api}/api/version", token), 180,
              [head_log])
        procs.append(subprocess.Popen(
            [sys.executable, "-c", LOOPBACK_WORKER, "start", "--address", gcs,
             "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp / "worker"),
             *_node_args()], env=env, cwd=tmp_path, stdout=worker_log.open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True))
        _wait("two live nodes", lambda: _alive_nodes(env, api) == 2, 180,
              [head_log, worker_log])
        yield JobsCluster(api, env, temp / "head")
    finally:
        for proc in reversed(procs):  # each `ray start --block` leads its nodes' session
            end_session(proc.pid)
            proc.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_study_submitted_as_a_ray_job_runs_on_both_nodes_then_reports(
        jobs_cluster: JobsCluster, tmp_path: Path) -> None:
    api, env = jobs_cluster.api, jobs_cluster.env
    shared = tmp_path / "shared" / "smoke"  # storage both nodes reach: one file system here
    job_id = f"rotsweep-{secrets.token_hex(4)}"
    submit = [str(BIN / "ray"), "job", "submit", "--address", api, "--submission-id", job_id,
              "--working-dir", ".", "--runtime-env-json", json.dumps(RUNTIME_ENV), "--",
              "rotsweep", "run", "conf/studies/smoke.yaml", "--smoke", "--address", "auto",
              # a trial takes a whole 2-CPU node, so two trials at once take both nodes (with
              # 1 CPU each, Ray may pack every trial on the head: seen once in the slow suite)
              "--set", "resources.cpu=2", "--out", str(shared)]
    try:
        job = subprocess.run(submit, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=780)
    finally:  # a job still running (a timeout) is stopped before its nodes go
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([str(BIN / "ray"), "job", "stop", "--address", api, job_id],
                           env=env, capture_output=True, timeout=60)
    out = job.stdout + job.stderr
    assert job.returncode == 0, out[-4000:]
    assert f"Job '{job_id}' succeeded" in out, out[-4000:]
    assert "3/3 trials finished, 0 failed" in out, out[-4000:]
    # what the head unpacked: the repository's source, not the venv, the history or old runs
    # (.venv is GBs; the Jobs API takes 100 MiB at most)
    unpacked = [p for p in jobs_cluster.head_temp.glob(
        "session_2*/runtime_resources/working_dir_files/_ray_pkg_*") if p.is_dir()]
    assert len(unpacked) == 1, unpacked
    files = [p for p in unpacked[0].rglob("*") if p.is_file()]
    top = {p.relative_to(unpacked[0]).parts[0] for p in files}
    assert {"study", "trainables", "analysis", "rotsweep", "conf"} <= top
    assert not top & {".venv", ".git", "runs"}, top
    assert sum(p.stat().st_size for p in files) < 20 * 2**20

    trials = read_table(shared / "results", "trials")
    assert len(trials) == 3 and set(trials.status) == {"FINISHED"}
    runs = child_runs(default_tracking_uri(str(shared)), "smoke")
    assert len(runs) == 3
    assert len({r.data.tags["rotsweep.node_id"] for r in runs.values()}) == 2  # both nodes

    status = subprocess.run([str(BIN / "rotsweep"), "status", str(shared)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "finished 3" in status.stdout, status.stdout
    report = subprocess.run([str(BIN / "rotsweep"), "report", str(shared)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (shared / "report" / "report.html").stat().st_size > 0


def _submitted(text: str) -> list[str]:
    """The first ``ray job submit`` command of a shell snippet, continuation lines joined."""
    lines = text.split("ray job submit", 1)[1].split("\n")
    command = ["ray job submit"]
    for line in lines:
        command.append(line.strip().lstrip("#").strip().removesuffix("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return shlex.split(" ".join(command))


def test_the_documented_submissions_are_the_tested_one() -> None:
    # docs/operations.md and both (untested) examples submit what rotsweep's parser accepts,
    # with the runtime env the slow test above uploads
    from study.cli.main import build_parser

    docs = REPO / "docs"
    for name in ("operations.md", "examples/ray-cluster.yaml"):
        argv = _submitted((docs / name).read_text())
        env = json.loads(argv[argv.index("--runtime-env-json") + 1])
        assert env == RUNTIME_ENV and argv[argv.index("--working-dir") + 1] == "."
        entry = argv[argv.index("--") + 1:]
        assert entry[0] == "rotsweep" and entry[1] == "run"
        args = build_parser().parse_args(entry[1:])
        assert args.address == "auto" and str(args.out).startswith("/shared/")
    examples = [docs / "examples" / n for n in ("ray-cluster.yaml", "rayjob.yaml")]
    assert all(p.read_text().startswith("# UNTESTED example") for p in examples)
    rayjob = yaml.safe_load(examples[1].read_text())
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    entry = shlex.split(rayjob["spec"]["entrypoint"])
    args = build_parser().parse_args(entry[1:])
    assert entry[:2] == ["rotsweep", "run"] and args.address == "auto"
    assert Path(args.file).relative_to("/app").as_posix() == "conf/studies/smoke.yaml"
    assert (REPO / "conf/studies/smoke.yaml").is_file()
