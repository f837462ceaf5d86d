"""study/launch/reaper.py: what a SIGKILLed driver leaves running (Ray's agents) is killed within
seconds, and nothing else is. Real processes, no Ray (the measurement with Ray is in the
report of issue 18: agents outlived a killed driver by 62-64 s before)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from study.launch.reaper import descendants, start_time

REPO = Path(__file__).resolve().parents[3]
DRIVER = ("import subprocess, time\n"
          "subprocess.Popen(['sleep', '60'])\n"  # a grandchild that outlives its parent
          "time.sleep(60)\n")


def test_a_killed_drivers_descendants_die_with_it_and_nothing_else() -> None:
    bystander = subprocess.Popen(["sleep", "60"])  # the test's own: not the driver's
    driver = subprocess.Popen([sys.executable, "-c", DRIVER])
    reaper = subprocess.Popen([sys.executable, "-m", "study.launch.reaper", str(driver.pid)],
                              cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not descendants(driver.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        ((child, started),) = descendants(driver.pid)
        time.sleep(2.5)  # the reaper has looked at least once since
        driver.kill()
        driver.wait()
        assert reaper.wait(timeout=10) == 0
        t0 = time.monotonic()
        while start_time(child) == started and time.monotonic() - t0 < 5:
            time.sleep(0.1)
        assert start_time(child) != started, "the orphaned grandchild outlived the driver"
        assert bystander.poll() is None  # negative control
    finally:
        for proc in (driver, reaper, bystander):
            proc.kill()
            proc.wait()


def test_the_reaper_of_a_driver_that_ended_exits_and_kills_nothing() -> None:
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    reaper = subprocess.Popen([sys.executable, "-m", "study.launch.reaper", str(driver.pid)],
                              cwd=REPO)
    try:
        driver.wait()
        assert reaper.wait(timeout=10) == 0
    finally:
        reaper.kill()
        reaper.wait()
