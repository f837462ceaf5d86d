"""One owner at a time, with real processes: two launches started together into one folder
(exactly one runs, the other exits 2 naming it), a ``--resume`` while it runs, another study
into the same folder, and a local Ray instance that listens on loopback only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, ROTSWEEP, book, end_session, start_driver, tiny_study, wait_for

from rotsweep.tables import read_table
from study.launch.cluster import StudyError, check_local_auth


def run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ROTSWEEP, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_two_launches_into_one_folder_one_runs(tmp_path: Path, tiny: Any) -> None:
    study = tiny_study(tmp_path / "study.yaml", tiny, "twice", epochs=2,
                       axes={"seed": [0, 1, 2]})
    out = tmp_path / "out"
    args = ["run", str(study), "--out", str(out), "--num-cpus", "2"]
    drivers = [start_driver(args, tmp_path / f"d{i}.log") for i in range(2)]
    try:
        wait_for(lambda: (out / "claim.json").exists(), 120, "the claim")
        # a --resume while the study runs is refused too, naming the owner
        again = run_cli([*args, "--resume"])
        codes = [d.wait(timeout=400) for d in drivers]
    finally:
        for d in drivers:
            end_session(d.pid)
    logs = [(tmp_path / f"d{i}.log").read_text() for i in range(2)]
    assert sorted(codes) == [0, 2], logs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f"in use by another launch: pid {drivers[winner].pid} on" in logs[loser], logs[loser]
    assert "3/3 trials finished, 0 failed" in logs[winner]
    assert again.returncode == 2 and "in use by another launch" in again.stderr, again.stderr
    assert not (out / "claim.json").exists()  # released at the end

    trials = read_table(out / "results", "trials")
    assert len(trials) == 3 and not trials.trial_id.duplicated().any()
    saliency = read_table(out / "results", "saliency")
    assert not saliency.duplicated(["trial_id", "eval_angle", "image_id"]).any()
    assert len(saliency) == 3 * 4 * 3
    pretext = read_table(out / "results", "pretext")
    assert len(pretext) == 3 * 2 and not pretext.duplicated(["trial_id", "epoch"]).any()

    # another study into the same folder: refused, with or without --resume, nothing changed
    other = tiny_study(tmp_path / "other.yaml", tiny, "other", axes={"seed": [5]})
    before = (out / "study.json").read_text()
    for extra in ([], ["--resume"]):
        refused = run_cli(["run", str(other), "--out", str(out), *extra])
        assert refused.returncode == 2, refused.stderr
        assert "holds study 'twice'" in refused.stderr
    assert (out / "study.json").read_text() == before


def listeners(sid: int) -> list[str]:
    """``ss -ltnp`` lines of listening TCP sockets owned by processes of session ``sid``."""
    pids = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.getsid(int(p)) == sid:
                    pids.add(int(p))
            except (ProcessLookupError, PermissionError):
                pass
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    return [ln for ln in lines if any(f"pid={p}," in ln for p in pids)]


LOOPBACK = re.compile(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+$")


@pytest.mark.slow
def test_local_ray_listens_on_loopback_only(tmp_path: Path, tiny: Any) -> None:
    if subprocess.run(["which", "ss"], capture_output=True).returncode:
        pytest.skip("ss (iproute2) is not installed")
    # long enough that Ray is still up when the check runs (the launch is killed after it)
    study = tiny_study(tmp_path / "study.yaml", tiny, "ports", epochs=60)
    out = tmp_path / "out"
    driver = start_driver(["run", str(study), "--out", str(out), "--num-cpus", "1"],
                          tmp_path / "driver.log")
    try:
        # every Ray process is up once a trial reports its first epoch
        wait_for(lambda: any(t.get("epoch") for t in book(out).get("trials", [])), 300,
                 "a trial's first epoch", driver, tmp_path / "driver.log")
        found = listeners(driver.pid)
    finally:
        end_session(driver.pid)
    names = {re.search(r'users:\(\("([^"]+)"', ln).group(1) for ln in found}  # type: ignore
    assert {"gcs_server", "raylet"} <= names, found
    local = [ln.split()[3] for ln in found]
    assert all(LOOPBACK.match(addr) for addr in local), found


def test_a_local_instance_without_authentication_is_refused(tmp_path: Path, tiny: Any,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with pytest.raises(StudyError, match=r"RAY_AUTH_MODE=disabled.*--allow-no-auth"):
        check_local_auth(None, allow_no_auth=False)
    check_local_auth(None, allow_no_auth=True)  # the user said so
    check_local_auth("ray://head:10001", allow_no_auth=False)  # a cluster secures itself
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    check_local_auth(None, allow_no_auth=False)


@pytest.mark.slow
def test_the_command_refuses_it_before_anything_starts(tmp_path: Path, tiny: Any) -> None:
    study = tiny_study(tmp_path / "study.yaml", tiny, "noauth")
    start = time.monotonic()
    done = run_cli(["run", str(study), "--out", str(tmp_path / "out")],
                   env={"RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 2 and "--allow-no-auth" in done.stderr, done.stderr
    assert time.monotonic() - start < 120
    assert not (tmp_path / "out" / "study.json").exists()
    assert json.dumps(done.stdout).count("study 'noauth'") == 1  # the start line, then nothing
