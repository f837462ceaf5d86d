"""One owner at a time: the claim a launch holds on its study's storage while it runs.

``<storage>/claim.json`` names the launch that owns the study: host, process id (and the
process's start time, so a recycled pid is not mistaken for the owner), when it started, its
launch id and its last heartbeat. It is taken before Ray starts and released on every way out
of a launch; a driver killed with SIGKILL leaves it behind, *stale*:

* on the same host, the process it names is gone (or is another process with that pid);
* on another host, its heartbeat (rewritten every :data:`HEARTBEAT_S` seconds) is older than
  :data:`STALE_AFTER_S` (clocks of the two hosts are assumed to agree within that margin).

A live claim refuses every other launch, ``--resume`` included, naming its holder. A stale one
is taken over by ``--resume`` only (a plain launch is refused anyway: the folder holds a study).

**Atomicity.** On a local or NFS path the claim is written to a temporary file and hard-linked
to ``claim.json``: ``link`` fails when the name exists, so exactly one of two racing launches
gets it, and the name never points at half a file (the classic NFS-safe lock file). A stale
claim is taken over by one launch at a time (holding ``claim.json.takeover``, created the same
way), which renames its own claim over the stale one once it has checked that the file still
names the launch it judged stale. ``pyarrow.fs`` URIs (``s3://``, ``gs://``)
have no create-if-absent, so there the claim is check, write, wait :data:`SETTLE_S`, read back:
two launches started within a few seconds of each other can both pass. Keep launches that may
race on a local or NFS study folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rotsweep.storage import exists, join, read_bytes, resolve, write_bytes

CLAIM_FILE = "claim.json"
HEARTBEAT_S = 15.0
STALE_AFTER_S = 120.0
SETTLE_S = 2.0
TAKEOVER_S = 30.0


class ClaimError(RuntimeError):
    """The study is owned by another launch (the message names it and what to do)."""


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@dataclass
class Holder:
    """Who holds a claim."""

    host: str
    pid: int
    pid_start: str | None
    started: float
    heartbeat: float
    launch: str

    @classmethod
    def of_this_process(cls, launch: str) -> Holder:
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()), now, now,
                   launch)

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        """The holder a claim file names; None for an unreadable one."""
        try:
            raw = json.loads(data)
            return cls(str(raw["host"]), int(raw["pid"]), raw.get("pid_start"),
                       float(raw["started"]), float(raw["heartbeat"]), str(raw["launch"]))
        except (ValueError, KeyError, TypeError):
            return None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    def alive(self, now: float | None = None) -> bool:
        """Whether the holder may still run (see the module docstring)."""
        if self.host == socket.gethostname():
            if not pid_alive(self.pid):
                return False
            start = process_start(self.pid)
            return start is None or self.pid_start is None or start == self.pid_start
        return (now or time.time()) - self.heartbeat < STALE_AFTER_S

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        age = time.time() - self.heartbeat
        return (f"pid {self.pid} on {self.host} (launch {self.launch}, started {started}, "
                f"last heartbeat {age:.0f} s ago)")


def local_path(target: str) -> str | None:
    """The local filesystem path of ``target`` (a path or ``file://`` URI), else None."""
    if "://" not in target:
        return os.path.abspath(target)
    if target.startswith("file://"):
        return resolve(target)[1]
    return None


def read_holder(storage: str) -> Holder | None:
    """The holder of ``storage``'s claim, or None when there is no (readable) claim."""
    path = join(storage, CLAIM_FILE)
    try:
        return Holder.parse(read_bytes(path)) if exists(path) else None
    except OSError:
        return None


class Claim:
    """This launch's claim on a study's storage.

    Args:
        storage: the study's storage root (path or URI).
        launch: this launch's id (a new one by default).
    """

    def __init__(self, storage: str, launch: str | None = None) -> None:
        self.storage = storage
        self.path = join(storage, CLAIM_FILE)
        self.local = local_path(self.path)
        self.holder = Holder.of_this_process(launch or uuid.uuid4().hex[:12])
        self.taken_over: Holder | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, resume: bool) -> None:
        """Take the claim, or a stale one when ``resume``.

        Raises:
            ClaimError: a live launch holds it, or a stale one does and ``resume`` is off.
        """
        for attempt in range(5):  # a claim released or taken over while we looked: look again
            if attempt:
                time.sleep(0.2 * attempt)
            if self._create():
                return
            found = read_holder(self.storage)
            if found is None:
                if self._unreadable_claim_is_old():
                    self._remove_unreadable()
                continue
            if found.alive():
                raise ClaimError(f"{self.storage} is in use by another launch: "
                                 f"{found.describe()}; wait for it to end, or stop it")
            if not resume:
                raise ClaimError(f"{self.storage} holds a study whose driver was killed "
                                 f"({found.describe()}, no longer running); continue it with "
                                 "--resume")
            if self._take_over(found):
                self.taken_over = found
                return
        raise ClaimError(f"{self.storage}: could not take the claim {self.path}; another "
                         "launch is starting at the same time")

    def _create(self) -> bool:
        """Create the claim if there is none; whether this launch now holds it."""
        data = self.holder.to_bytes()
        if self.local is not None:
            os.makedirs(os.path.dirname(self.local), exist_ok=True)
            tmp = f"{self.local}.{self.holder.launch}.tmp"
            Path(tmp).write_bytes(data)
            try:
                os.link(tmp, self.local)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        if exists(self.path):
            return False
        write_bytes(self.path, data)
        time.sleep(SETTLE_S)
        found = read_holder(self.storage)
        return found is not None and found.launch == self.holder.launch

    def _take_over(self, stale: Holder) -> bool:
        """Replace the stale claim ``stale`` by this launch's; False if another launch is
        taking it over or has replaced it meanwhile.

        Locally, one taker at a time holds ``claim.json.takeover`` (created like the claim)
        and renames its own claim over the stale one, so ``claim.json`` never goes missing
        (which would let a plain launch create one meanwhile)."""
        if self.local is None:
            self._delete()
            return self._create()
        lock = f"{self.local}.takeover"
        tmp = f"{self.local}.{self.holder.launch}.tmp"
        Path(tmp).write_bytes(self.holder.to_bytes())
        try:
            try:
                os.link(tmp, lock)
            except FileExistsError:  # another taker; one that died leaves an old lock behind
                if time.time() - os.path.getmtime(lock) > TAKEOVER_S:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(lock)
                return False
            try:
                current = Holder.parse(Path(self.local).read_bytes())
                if current is None or current.launch != stale.launch:
                    return False
                os.replace(tmp, self.local)
                return True
            finally:
                os.unlink(lock)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _unreadable_claim_is_old(self) -> bool:
        """A claim file that does not parse (a crash mid-write on an object store): stale once
        it is older than :data:`STALE_AFTER_S`."""
        fs, path = resolve(self.path)
        info = fs.get_file_info(path)
        mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
        return time.time() - mtime > STALE_AFTER_S

    def _remove_unreadable(self) -> None:
        self._delete()

    def _delete(self) -> None:
        fs, path = resolve(self.path)
        with contextlib.suppress(OSError):
            fs.delete_file(path)

    def held(self) -> bool:
        """Whether the claim file still names this launch."""
        found = read_holder(self.storage)
        return found is not None and found.launch == self.holder.launch

    def beat(self) -> None:
        """Rewrite the heartbeat (only while the claim is still this launch's)."""
        if not self.held():
            return
        self.holder.heartbeat = time.time()
        write_bytes(self.path, self.holder.to_bytes())

    def start_heartbeat(self, every_s: float = HEARTBEAT_S) -> None:
        """Beat every ``every_s`` seconds from a daemon thread until :meth:`release`."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                with contextlib.suppress(OSError):  # a storage hiccup: the next beat retries
                    self.beat()

        self._thread = threading.Thread(target=loop, name="rotsweep-claim", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and remove the claim if it is still this launch's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            if self.held():
                self._delete()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
