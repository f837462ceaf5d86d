"""One worker thread that runs the driver's MLflow calls in order, off Ray Tune's event loop.

A launch's tracker (study/tracking/tracker.py, ``background=True``) submits its store's creation,
the parent run and every callback hook (study/tracking/callback.py) here; the hooks return at once,
so Tune starts the next trial while the previous one's run is completed and its artifacts are
uploaded. Urgent jobs (the store, the parent run, a starting trial's run: the trial polls the
trial → run map for its run id, trainables/tune.py) run before the others, in the order they
came. :meth:`JobQueue.drain` waits until every submitted job ran: the callback drains at the end
of each Tune experiment, the tracker before its end-of-launch reconcile (study/tracking/sync.py),
which completes any run a job did not (a killed driver loses only queued jobs, never a run:
``--resume`` completes them from the study's records, docs/mlflow.md).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

Job = Callable[[], None]


class JobQueue:
    """Two FIFOs of jobs (urgent first) run one at a time by a daemon thread, started with the
    first job.

    Jobs must catch their own errors (the tracker's ``_call`` does); an error that escapes one
    is kept in :attr:`errors` and the next job still runs.
    """

    def __init__(self, name: str = "rotsweep-mlflow") -> None:
        self.name = name
        self.errors: list[BaseException] = []
        self._urgent: collections.deque[Job] = collections.deque()
        self._normal: collections.deque[Job] = collections.deque()
        self._unfinished = 0
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, job: Job, urgent: bool = False) -> None:
        """Run ``job`` after every job submitted before it (after every urgent one too, unless
        it is urgent itself); returns at once."""
        with self._changed:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            (self._urgent if urgent else self._normal).append(job)
            self._unfinished += 1
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every submitted job ran (at once from the worker thread itself)."""
        if threading.current_thread() is self._thread:
            return
        with self._changed:
            self._changed.wait_for(lambda: self._unfinished == 0)

    def pending(self) -> int:
        """Jobs submitted and not yet finished (the one running included)."""
        return self._unfinished

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._urgent or self._normal))
                job = (self._urgent or self._normal).popleft()
            try:
                job()
            except BaseException as err:  # the thread must outlive any job
                self.errors.append(err)
            finally:
                with self._changed:
                    self._unfinished -= 1
                    self._changed.notify_all()
