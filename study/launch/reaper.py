"""Ray's processes end with the driver, also when the driver is killed (SIGKILL, OOM killer).

A local Ray instance started by ``rotsweep run`` shares the driver's fate only in part: the
raylet and GCS die with it (Ray sets the kernel's parent-death signal on them), trials' workers
within seconds, but Ray's agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) first try
to tell the dead GCS and give up after 60 s (measured on Ray 2.60: 62-64 s;
ray/_private/process_watcher.py ``report_raylet_error_logs``). :func:`start_reaper` starts a
small process, in a session of its own (no Ctrl-C reaches it), that notes the driver's
descendants every second and, once the driver is gone, kills those still alive (each checked by
its start time, so a reused pid is never hit), then exits. When the launch ends normally Ray
has ended them already and the reaper simply exits.

    python -m study.launch.reaper DRIVER_PID
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

#: seconds between two looks at the driver and its descendants
INTERVAL_S = 1.0

Proc = tuple[int, str]  # pid and its start time (``/proc/<pid>/stat`` field 22)


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (None: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def descendants(root: int) -> set[Proc]:
    """Every living descendant of ``root``, from one pass over ``/proc``."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            started = start_time(pid)
            if started is not None:
                found.add((pid, started))
                todo.append(pid)
    return found


def watch(driver: int, interval_s: float = INTERVAL_S) -> int:
    """Note ``driver``'s descendants until it is gone, then kill those still alive; returns
    how many were killed."""
    driver_start = start_time(driver)
    known: set[Proc] = set()
    me = os.getpid()
    while driver_start is not None and start_time(driver) == driver_start:
        known |= {p for p in descendants(driver) if p[0] != me}
        known = {p for p in known if start_time(p[0]) == p[1]}
        time.sleep(interval_s)
    killed = 0
    for pid, started in known:
        if start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


def start_reaper() -> subprocess.Popen[bytes] | None:
    """Start the reaper of this process's descendants (Linux only; None elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "study.launch.reaper", str(os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
