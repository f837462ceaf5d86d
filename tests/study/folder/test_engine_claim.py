"""The claim on a study's storage (study/folder/claim.py): one owner at a time, stale claims of
killed drivers recognised and taken over on ``--resume`` only, released on the way out."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import study.folder.claim as claim_module
from study.folder.claim import CLAIM_FILE, Claim, ClaimError, Holder, read_holder


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def plant(storage: Path, **fields: object) -> Holder:
    """A claim file as another launch would have left it."""
    holder = Holder(host=socket.gethostname(), pid=dead_pid(), pid_start=None,
                    started=time.time() - 60, heartbeat=time.time() - 60, launch="old")
    for key, value in fields.items():
        setattr(holder, key, value)
    storage.mkdir(parents=True, exist_ok=True)
    (storage / CLAIM_FILE).write_bytes(holder.to_bytes())
    return holder


def test_claim_names_its_holder_and_refuses_a_second_launch(tmp_path: Path) -> None:
    first = Claim(str(tmp_path))
    first.acquire(resume=False)
    data = json.loads((tmp_path / CLAIM_FILE).read_text())
    assert data["pid"] == os.getpid() and data["host"] == socket.gethostname()
    assert data["launch"] == first.holder.launch and data["pid_start"]
    for resume in (False, True):  # a live owner refuses --resume as well
        with pytest.raises(ClaimError, match=rf"in use by another launch: pid {os.getpid()} on "
                                             rf"{socket.gethostname()} \(launch "
                                             rf"{first.holder.launch}"):
            Claim(str(tmp_path)).acquire(resume=resume)
    first.release()
    assert not (tmp_path / CLAIM_FILE).exists()
    with Claim(str(tmp_path)) as second:
        second.acquire(resume=False)
        assert second.held()
    assert not (tmp_path / CLAIM_FILE).exists()  # released on exit


def test_stale_claim_of_a_killed_driver_is_taken_over_on_resume_only(tmp_path: Path) -> None:
    old = plant(tmp_path)
    with pytest.raises(ClaimError, match=rf"driver was killed \(pid {old.pid} .*continue it "
                                         "with --resume"):
        Claim(str(tmp_path)).acquire(resume=False)
    claim = Claim(str(tmp_path))
    claim.acquire(resume=True)
    assert claim.taken_over is not None and claim.taken_over.pid == old.pid
    assert read_holder(str(tmp_path)).launch == claim.holder.launch  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == [CLAIM_FILE]  # nothing left aside
    claim.release()


def test_a_recycled_pid_is_not_the_owner(tmp_path: Path) -> None:
    # this process's pid, but a process that started at another time: the owner is gone
    plant(tmp_path, pid=os.getpid(), pid_start="1")
    claim = Claim(str(tmp_path))
    claim.acquire(resume=True)
    assert claim.taken_over is not None and claim.taken_over.pid == os.getpid()
    claim.release()


def test_another_hosts_claim_is_live_until_its_heartbeat_is_old(tmp_path: Path) -> None:
    plant(tmp_path, host="elsewhere.example", pid=1, heartbeat=time.time() - 5)
    with pytest.raises(ClaimError, match=r"in use by another launch: pid 1 on elsewhere\.example"):
        Claim(str(tmp_path)).acquire(resume=True)
    plant(tmp_path, host="elsewhere.example", pid=1,
          heartbeat=time.time() - claim_module.STALE_AFTER_S - 1)
    claim = Claim(str(tmp_path))
    claim.acquire(resume=True)
    assert claim.taken_over is not None and claim.taken_over.host == "elsewhere.example"
    claim.release()


def test_heartbeat_moves_and_never_overwrites_a_new_owner(tmp_path: Path) -> None:
    claim = Claim(str(tmp_path))
    claim.acquire(resume=False)
    claim.holder.heartbeat -= 100
    claim.beat()
    assert time.time() - read_holder(str(tmp_path)).heartbeat < 5  # type: ignore[union-attr]
    other = plant(tmp_path, launch="newer", pid=os.getpid())
    claim.beat()
    claim.release()  # not ours any more: left alone
    assert read_holder(str(tmp_path)).launch == other.launch  # type: ignore[union-attr]


def _race(storage: str, resume: bool, start: float, out: multiprocessing.Queue) -> None:
    time.sleep(max(0.0, start - time.time()))
    try:
        Claim(storage).acquire(resume=resume)  # held until the process ends
        out.put("won")
    except ClaimError as err:
        out.put(str(err))
    time.sleep(1.0)


@pytest.mark.parametrize("stale", [False, True])
def test_racing_launches_one_wins(tmp_path: Path, stale: bool) -> None:
    """Eight processes claim at the same instant (a fresh folder, or one with a stale claim
    they all want to take over): exactly one gets it, the others are told who has it."""
    if stale:
        plant(tmp_path)
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()
    start = time.time() + 1.0
    procs = [ctx.Process(target=_race, args=(str(tmp_path), True, start, out))
             for _ in range(8)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=30) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert results.count("won") == 1, results
    assert all("in use by another launch" in r or "same time" in r for r in results
               if r != "won"), results


def test_object_store_claims_check_write_and_read_back(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The path for ``pyarrow.fs`` URIs without an atomic create (run on a local folder)."""
    monkeypatch.setattr(claim_module, "SETTLE_S", 0.0)
    first = Claim(str(tmp_path))
    first.local = None
    first.acquire(resume=False)
    second = Claim(str(tmp_path))
    second.local = None
    with pytest.raises(ClaimError, match="in use by another launch"):
        second.acquire(resume=True)
    first.release()
    second.acquire(resume=False)
    second.release()


def test_file_uri_storage_uses_the_atomic_local_claim(tmp_path: Path) -> None:
    claim = Claim(f"file://{tmp_path}")
    assert claim.local == str(tmp_path / CLAIM_FILE)
    claim.acquire(resume=False)
    with pytest.raises(ClaimError):
        Claim(str(tmp_path)).acquire(resume=False)
    claim.release()
