"""The pages a person opens, opened in a real browser: the smoke study's ``report.html`` and
``rotsweep ui``'s runs page, in headless Chromium (Debian's ``chromium``; skipped with a message
where it is not installed: ``.ci/run`` installs it when it can).

The browser is driven over the Chrome DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ended by a NUL byte, the browser reading fd 3 and writing fd 4, as Puppeteer
does), so no port, no websocket library and no downloaded browser are needed. Each page's
screenshot is saved under the test's temporary folder.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from study.tracking.store import default_tracking_uri

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1400,1000"]
# every <img> settled (loaded or failed), then what each one shows
IMAGES_JS = """(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({src: i.getAttribute('src'), width: i.naturalWidth,
                         height: i.naturalHeight}));
})()"""


class Chromium:
    """Headless Chromium driven over its DevTools pipe: one page, commands answered in order.

    Args:
        profile: a new, empty user-data folder.
        log: where the browser's own output goes.
    """

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def fds_3_and_4() -> None:  # in the child: the pipe ends where Chromium expects them
            # first above 9, so that neither end is already 3 or 4 (dup2 onto itself would
            # keep it close-on-exec)
            ours = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            for fd, target in zip(ours, (3, 4), strict=True):
                os.dup2(fd, target, inheritable=True)

        assert CHROMIUM is not None
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}"],
                                     stdin=subprocess.DEVNULL, stdout=log.open("wb"),
                                     stderr=subprocess.STDOUT, preexec_fn=fds_3_and_4,
                                     # Python's fds are not inheritable (PEP 446): only 0-4
                                     # reach Chromium
                                     close_fds=False, start_new_session=True)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id, self.session = b"", 0, ""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                  deviceScaleFactor=1, mobile=False)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise ConnectionError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, timeout_s: float = 60, **params: Any) -> dict[str, Any]:
        """Send one command (to the page once attached); return its result."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def open(self, url: str) -> None:
        """Navigate and wait until the page's load event (its images included) has fired."""
        self.call("Page.navigate", url=url)
        while not self.evaluate("document.readyState === 'complete'"):
            time.sleep(0.2)

    def evaluate(self, expression: str, timeout_s: float = 60) -> Any:
        """The JSON value of ``expression`` in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", timeout_s=timeout_s, expression=expression,
                           awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for_text(self, texts: list[str], timeout_s: float) -> str:
        """The page's visible text once it holds every one of ``texts`` (or at the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(t in body for t in texts) or time.monotonic() > deadline:
                return body
            time.sleep(1)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG at ``path``."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        """End the browser (and everything it started)."""
        for fd in (self._write, self._read):
            os.close(fd)
        try:
            self.proc.terminate()
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(30)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; .ci/run does)")
    browser = Chromium(tmp_path / "profile", tmp_path / "chromium.log")
    try:
        yield browser
    finally:
        browser.close()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_image_of_the_report_loads(smoke_study: Any, chromium: Chromium,
                                         tmp_path: Path) -> None:
    page = smoke_study.out / "report" / "report.html"
    chromium.open(page.as_uri())
    images = chromium.evaluate(IMAGES_JS)
    # every <img> of the file (figures: per_angle, dice_vs_angle, ...; the trials' examples)
    assert len(images) == page.read_text().count("<img") >= 4, images
    broken = [i["src"] for i in images if not (i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"images that do not load: {broken}"
    shot = chromium.screenshot(tmp_path / "report.png")
    width, height = _png_size(shot)
    assert 1300 < width <= 1400 and height > 2000  # the whole page (less a scrollbar), many screens


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_ui_shows_the_parent_and_its_named_children(smoke_study: Any, chromium: Chromium,
                                                         tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(default_tracking_uri(str(smoke_study.out)))
    exp = client.get_experiment_by_name("smoke")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parent) == 1
    # the children's names as docs/mlflow.md gives them: dataset, pre-training, θ, seed
    expected = {f"synthetic moco_rotation θ={a}° seed 0" for a in (0, 45, 90)}
    assert {r.info.run_name for r in children} == expected
    names = [parent[0].info.run_name, *sorted(expected)]

    port = _free_port()
    exe = Path(sys.executable).parent / "rotsweep"
    ui = subprocess.Popen([str(exe), "ui", str(smoke_study.out), "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=(tmp_path / "ui.log").open("wb"),
                          text=True, start_new_session=True)
    try:
        line = ui.stdout.readline() if ui.stdout else ""
        assert line.startswith("MLflow UI: http://127.0.0.1:"), (tmp_path / "ui.log").read_text()
        url = line.split()[2]
        chromium.open(url)
        body = chromium.wait_for_text(names[:1], timeout_s=120)
        if not all(n in body for n in names):  # children folded under their parent
            assert chromium.evaluate(EXPAND_JS) >= 1, body[:3000]
            body = chromium.wait_for_text(names, timeout_s=60)
        chromium.screenshot(tmp_path / "mlflow_runs.png")
        missing = [n for n in names if n not in body]
        assert not missing, f"runs not on the page: {missing}\n{body[:3000]}"
        images = chromium.evaluate(IMAGES_JS)
        assert all(i["width"] > 0 for i in images), images
    finally:
        os.killpg(ui.pid, 15)
        ui.wait(60)


# MLflow's runs table folds child runs under their parent: click the (+) button of the run
# name cell (MLflow 3's RunNameCellRenderer; an aria-label "expand" in other versions)
EXPAND_JS = """(() => {
  const buttons = [...document.querySelectorAll('button')].filter(b =>
      /runnamecellrenderer/i.test(b.getAttribute('data-component-id') || '') ||
      /expand/i.test(b.getAttribute('aria-label') || ''));
  buttons.forEach(b => b.click());
  return buttons.length;
})()"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
