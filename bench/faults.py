"""Benchmark: does any interruption of a launch lose, double or misreport rows? (issue 18)

A study of 6 tiny MoCo trials (``--smoke``, batches of 2, so a launch has batch boundaries) runs
once uninterrupted: the reference. Then chains of launches run it again in fresh folders; each
launch of a chain is interrupted at a seeded random moment of a chosen phase and the next one
continues with ``--resume``; the last launch of a chain runs to the end. The phases:

    before_ray       0-1.5 s after the driver started (the first line is printed before Ray)
    trials_start     once ``tune/`` holds the batch's experiment, + 0-1 s
    mid_trial        once a Ray worker runs a trial (``ray::ImplicitFunc.train``), + 0.2-1.5 s
    between_batches  once a batch's trials have their done records, + 0-2 s
    mlflow           once every trial has its done record (the launch then ends the MLflow runs
                     and writes the ``trials`` table, study/launch/runner.py
                     ``finish_launch``), + 0-0.5 s
    compaction       once this launch wrote the ``trials`` table (compaction is next,
                     study/launch/compaction.py ``finish_storage``), + 0-0.2 s
    report           ``rotsweep report`` of the folder, 1-6 s after it started

and the signals: ``sigint`` (Ctrl-C once), ``sigint2`` (twice, 0.3-1 s apart), ``sigterm``,
``hangup`` (SIGHUP to the launch's whole process group, as a closed terminal sends it),
``kill_driver`` (SIGKILL of the driver), ``kill_worker`` (SIGKILL of the Ray worker running a
trial; only in the two trial phases). After each interruption ``rotsweep status`` runs; after
the chain's last launch, status again, and the folder is compared with the reference:

* ``lost_rows``: rows of the reference that the folder lacks, per table, keyed on the table's
  natural key (:data:`KEYS`; run ids, timings and metric values left out);
* ``duplicated_rows``: rows whose key the folder holds more often than the reference;
* ``status_wrong``: a status exit 0 while rows are missing, non-zero when the data is complete
  (rows and MLflow), or 3 ("running") with the driver gone: checked after every interruption
  and after the last launch;
* ``mlflow_incomplete``: child runs (tag ``rotsweep.trial_id``) missing, doubled or not
  FINISHED, any run left RUNNING, metric histories with a step logged twice, read through the
  MLflow client from the folder's own ``mlflow.db``.

Besides them, for the reader: ``not_stopped`` (Ctrl-C, SIGTERM or a hang-up while trials ran,
and the launch still ran to the end with exit 0), ``missed`` (the launch ended before the
moment; not counted as an interruption), ``hung`` (a driver alive 90 s after the signal, then
killed), ``orphans`` (processes of a stopped driver's session alive 2 s after it ended).

Cost: Ray's start dominates (10-15 s per launch on 2 loaded cores) and trials take seconds, so
the interrupted launches of one folder are chained instead of each resumed to the end:
``--quick`` runs 3 chains of 7 interruptions (21 moments), the full run 15 chains (105). A
finished reference already in ``--out`` is reused.

    .venv/bin/python bench/faults.py --quick [--seed N] [--out DIR]

The last line printed is one JSON object; the exit status is 1 when any of the four counts is
non-zero. ``DIR/faults.json`` (default: a temporary folder, kept) holds every interruption.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROTSWEEP = [sys.executable, "-m", "study.cli.main"]
N_TRIALS, BATCH = 6, 2
SIGNALS = ("sigint", "sigint2", "sigterm", "hangup", "kill_driver", "kill_worker")
WORKER_PHASES = ("trials_start", "mid_trial")
CHAIN = ("before_ray", "trials_start", "mid_trial", "between_batches", "mid_trial", "end",
         "report")
WORKER = "ray::ImplicitFunc.train"
# the natural key of each table (docs/tables.md): what one row is about, without run ids,
# timings or measured values
KEYS = {
    "saliency": ["study", "dataset", "trial_id", "init", "network", "method", "target",
                 "eval_angle", "image_id"],
    "pretext": ["study", "dataset", "trial_id", "epoch"],
    "probe": ["study", "dataset", "trial_id", "init", "downstream", "probe", "block", "n_train",
              "metric"],
    "trials": ["study", "dataset", "trial_id", "status"],
    "hog_svm": ["study", "dataset", "eval_angle", "n_images", "pixels_per_cell", "orientations",
                "image_size", "cv_folds"],
    "orientation": ["study", "dataset", "orientation", "n_bins", "image_size", "crop"],
}
STUDY = {
    "name": "faults",
    "description": "bench/faults.py: 6 MoCo trials on synthetic rectangles",
    "axes": {"pretext.params.angles": [[a] for a in range(0, 180, 30)]},
    "hog": {"enabled": False},
    "train": {"num_threads": 1},
    "smoke": {"train": {"epochs": 3}},
}


# --- comparing a folder's tables with the reference --------------------------------------

def keyed(df: pd.DataFrame, key: list[str]) -> pd.Series:
    """One string per row: the row's values in the ``key`` columns the frame has."""
    cols = [c for c in key if c in df.columns]
    if df.empty or not cols:
        return pd.Series([], dtype=object)
    return df[cols].astype(str).agg("|".join, axis=1)


def count_rows(ref: pd.DataFrame, got: pd.DataFrame, key: list[str]) -> dict[str, int]:
    """``lost`` (reference rows ``got`` lacks), ``duplicated`` (rows of a key beyond as many as
    the reference has, at least one) and ``extra`` (rows of keys the reference lacks)."""
    want, have = Counter(keyed(ref, key)), Counter(keyed(got, key))
    return {"lost": sum(max(0, n - have.get(k, 0)) for k, n in want.items()),
            "duplicated": sum(max(0, n - max(1, want.get(k, 0))) for k, n in have.items()),
            "extra": sum(n for k, n in have.items() if k not in want)}


def read_tables(results: Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every table under ``results`` that reads, and one line per table that does not."""
    from rotsweep.tables import read_table

    tables, errors = {}, []
    for folder in sorted(p for p in results.glob("*") if p.is_dir()) if results.is_dir() else []:
        try:
            tables[folder.name] = read_table(results, folder.name)
        except Exception as err:  # a damaged part: its rows count as lost
            errors.append(f"{folder.name}: {type(err).__name__}: {str(err)[:200]}")
    return tables, errors


def compare(ref: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Lost, duplicated and extra rows of ``got`` against ``ref``, summed over the tables."""
    total = Counter({"lost": 0, "duplicated": 0, "extra": 0})
    for name, want in ref.items():
        key = KEYS.get(name, [c for c in want.columns if c not in ("mlflow_run_id", "wall_s")])
        total.update(count_rows(want, got.get(name, want.iloc[:0]), key))
    return dict(total)


def mlflow_problems(folder: Path, experiment: str, trial_ids: set[str]) -> list[str]:
    """What is incomplete in the folder's own MLflow store (see the module docstring)."""
    from mlflow.tracking import MlflowClient

    if not (folder / "mlflow.db").is_file():  # the client would make one
        return ["no mlflow.db"]
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return [f"no experiment {experiment!r}"]
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    problems = [f"run {r.info.run_id} left RUNNING" for r in runs if r.info.status == "RUNNING"]
    children = Counter(r.data.tags.get("rotsweep.trial_id") for r in runs)
    problems += [f"{t}: {children[t]} child runs" for t in sorted(trial_ids) if children[t] != 1]
    for run in runs:
        trial = run.data.tags.get("rotsweep.trial_id")
        if trial not in trial_ids:
            continue
        if run.info.status != "FINISHED":
            problems.append(f"{trial}: child run {run.info.status}")
        for metric in run.data.metrics:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, metric)]
            if len(steps) != len(set(steps)):
                problems.append(f"{trial}: metric {metric} steps {steps}")
    return problems


# --- launching and interrupting -------------------------------------------------------

@dataclass
class Moment:
    """One interruption: where, what, and what came of it."""

    chain: int
    phase: str
    signal: str
    delay_s: float
    hit: bool = False  # the phase was reached and the signal sent
    exit_code: int | None = None
    status: int | None = None
    folder: str = ""
    lost: int = 0
    complete: bool = False  # every reference row once, MLflow complete, right after it
    orphans: int = 0  # processes of the driver's session alive 2 s after it ended
    notes: list[str] = field(default_factory=list)


def session_pids(sid: int) -> list[int]:
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(p)) == sid:
                    pids.append(int(p))
    return pids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def workers(sid: int) -> list[int]:
    return [p for p in session_pids(sid) if cmdline(p).startswith(WORKER)]


def end_session(sid: int) -> int:
    """SIGKILL what is left of session ``sid`` (started by this bench); returns how many."""
    left = [p for p in session_pids(sid) if Path(f"/proc/{p}/stat").exists()
            and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def wait_until(cond: Callable[[], bool], proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if cond():
            return True
        time.sleep(0.1)
    return False


def done_count(folder: Path) -> int:
    return len(list((folder / "done").glob("*.json")))


def since(path: Path, t0: float) -> bool:
    """Whether ``path`` was written after ``t0`` (a file or folder left by an earlier launch
    says nothing about this one)."""
    try:
        return path.stat().st_mtime > t0
    except OSError:
        return False


def phase_reached(m: Moment, folder: Path, proc: subprocess.Popen[bytes], t0: float
                  ) -> Callable[[], bool]:
    """The condition that says the launch reached ``m.phase`` (and, for ``kill_worker``, that
    a worker runs a trial)."""
    start_done, phase = done_count(folder), m.phase
    if phase == "mid_trial" or m.signal == "kill_worker":
        return lambda: bool(workers(proc.pid))
    if phase == "trials_start":
        return lambda: any(since(p, t0) for p in (folder / "tune").glob("*/"))
    if phase == "between_batches":
        def boundary() -> bool:
            new = done_count(folder) - start_done
            return new > 0 and new % BATCH == 0 and start_done + new < N_TRIALS
        return boundary
    if phase == "mlflow":  # the book is first saved by this launch once Ray is up
        return lambda: done_count(folder) >= N_TRIALS and since(folder / "progress.json", t0)
    if phase == "compaction":
        return lambda: any(since(p, t0) for p in (folder / "results" / "trials").glob(
            "study=*/dataset=*/part-trials.parquet"))
    return lambda: True


def send(m: Moment, proc: subprocess.Popen[bytes], rng: random.Random) -> bool:
    """Send ``m.signal`` to the launch (or its trial worker); False when there is no worker."""
    if m.signal == "kill_worker":
        pids = workers(proc.pid)
        if not pids:
            return False
        os.kill(rng.choice(pids), signal.SIGKILL)
        return True
    if m.signal == "hangup":  # the driver leads its own process group (``start``)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGHUP)
        return True
    sig = {"sigint": signal.SIGINT, "sigint2": signal.SIGINT, "sigterm": signal.SIGTERM,
           "kill_driver": signal.SIGKILL}[m.signal]
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
        if m.signal == "sigint2":
            time.sleep(rng.uniform(0.3, 1.0))
            os.kill(proc.pid, sig)
    return True


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*ROTSWEEP, *args], cwd=REPO, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen[bytes], timeout_s: float, m: Moment | None) -> int:
    """Wait for the driver; SIGKILL it (noted) after ``timeout_s``; end what it left."""
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait()
        if m is not None:
            m.notes.append(f"driver still running {timeout_s:.0f} s after the signal")
    time.sleep(2)
    left = end_session(proc.pid)
    if m is not None:
        m.orphans = left
    return code


def status_of(folder: Path, log: Path) -> int:
    res = subprocess.run([*ROTSWEEP, "status", str(folder)], cwd=REPO, capture_output=True,
                         text=True)
    with log.open("a") as f:
        f.write(f"$ rotsweep status -> {res.returncode}\n{res.stdout}{res.stderr}")
    return res.returncode


def interrupt(m: Moment, run_args: list[str], folder: Path, log: Path,
              rng: random.Random) -> None:
    """One interrupted launch (or report) of ``folder``; fills ``m``."""
    with log.open("a") as f:
        f.write(f"\n=== chain {m.chain} {m.phase} {m.signal} +{m.delay_s:.2f}s\n")
    t0 = time.time()
    args = (["report", str(folder), "--n-boot", "50", "--n-perm", "49"] if m.phase == "report"
            else run_args)
    proc = start(args, log)
    if wait_until(phase_reached(m, folder, proc, t0), proc, 300):
        time.sleep(m.delay_s)
        m.hit = proc.poll() is None and send(m, proc, rng)
    if not m.hit:
        m.notes.append("launch ended before the moment (not counted)")
    m.exit_code = finish(proc, 300 if m.signal == "kill_worker" else 90, m)


# --- the whole benchmark ----------------------------------------------------------------

def plan(n_chains: int, rng: random.Random) -> list[list[Moment]]:
    """Chains of moments: every phase in each chain, each signal at least 3 times overall,
    ``kill_worker`` only where a trial runs."""
    chains = [[Moment(c, p if p != "end" else ("mlflow", "compaction")[(c + i) % 2], "", 0.0)
               for i, p in enumerate(CHAIN)] for c in range(n_chains)]
    flat = [m for chain in chains for m in chain]
    capable = [m for m in flat if m.phase in WORKER_PHASES]
    for m in rng.sample(capable, max(4, len(capable) // 3)):
        m.signal = "kill_worker"
    rest = [m for m in flat if not m.signal]
    others = [s for s in SIGNALS if s != "kill_worker"]
    deck = (others * (len(rest) // len(others) + 1))[:len(rest)]
    rng.shuffle(deck)
    spans = {"before_ray": (0.0, 1.5), "trials_start": (0.0, 1.0), "mid_trial": (0.2, 1.5),
             "between_batches": (0.0, 2.0), "mlflow": (0.0, 0.5), "compaction": (0.0, 0.2),
             "report": (1.0, 6.0)}
    for m, sig in zip(rest, deck, strict=True):
        m.signal = sig
    for m in flat:
        m.delay_s = round(rng.uniform(*spans[m.phase]), 3)
    return chains


def needs_new_folder(phase: str, folder: Path) -> bool:
    """Whether ``folder`` has too few trials left for ``phase`` (a worker killed earlier lets
    Tune retry the trial and the launch run to the end): the chain then goes on in a fresh
    folder."""
    left = N_TRIALS - done_count(folder)
    return left < {"between_batches": BATCH + 1}.get(phase, 1) if phase in (
        "trials_start", "mid_trial", "between_batches") else False


def run_chain(chain: list[Moment], study: Path, work: Path, ref: dict[str, pd.DataFrame],
              rng: random.Random) -> list[dict[str, Any]]:
    """Interrupt each launch of one chain, each after the first with ``--resume``; resume each
    of the chain's folders to the end and compare it with the reference."""
    ended: list[dict[str, Any]] = []
    folder, fresh = work / f"chain{chain[0].chain}-0", True
    for m in chain:
        if needs_new_folder(m.phase, folder):
            ended.append(last_resume(study, folder, ref))
            folder, fresh = work / f"chain{m.chain}-{len(ended)}", True
        m.folder = folder.name
        interrupt(m, launch_args(study, folder, resume=not fresh), folder,
                  folder.with_suffix(".log"), rng)
        fresh = False
        if m.hit:
            m.status = status_of(folder, folder.with_suffix(".log"))
            got, errors = read_tables(folder / "results")
            rows = compare(ref, got)
            m.lost, m.notes = rows["lost"], m.notes + errors
            m.complete = not rows["lost"] and not rows["duplicated"] and not mlflow_problems(
                folder, STUDY["name"], set(ref["trials"].trial_id))
    return [*ended, last_resume(study, folder, ref)]


def launch_args(study: Path, folder: Path, resume: bool) -> list[str]:
    return ["run", str(study), "--smoke", "--out", str(folder), "--num-cpus", "2",
            "--trials-per-batch", str(BATCH), *(["--resume"] if resume else [])]


def last_resume(study: Path, folder: Path, ref: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """``--resume`` to the end, then status and the comparison with the reference."""
    log = folder.with_suffix(".log")
    with log.open("a") as f:
        f.write("\n=== last --resume\n")
    code = finish(start(launch_args(study, folder, resume=True), log), 900, None)
    final = status_of(folder, log)
    got, errors = read_tables(folder / "results")
    rows = compare(ref, got)
    mlflow = mlflow_problems(folder, STUDY["name"], set(ref["trials"].trial_id))
    return {"folder": folder.name, "resume_exit": code, "status": final, "errors": errors,
            "mlflow": mlflow, **rows,
            "complete": not rows["lost"] and not rows["duplicated"] and not mlflow}


def status_wrong(code: int | None, lost: int, complete: bool) -> bool:
    """Status 0 with rows missing, non-zero with the data complete, or 'running' unowned."""
    return code is not None and ((code == 0 and lost > 0) or (code != 0 and complete)
                                 or code == 3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 chains (21 moments), not 15 (105)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temp one)")
    args = ap.parse_args(argv)
    # a process started in the background by a shell without job control (``cmd &`` in a
    # script, ``nohup``) ignores SIGINT, and so would every launch it starts: Ctrl-C must reach
    # them as it reaches a launch in a terminal (exec resets a handled signal to the default)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    t_start = time.monotonic()
    work = args.out or Path(tempfile.mkdtemp(prefix="rotsweep-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    study = work / "study.yaml"
    study.write_text(yaml.safe_dump(STUDY, sort_keys=False))
    rng = random.Random(args.seed)
    chains = plan(3 if args.quick else 15, rng)

    ref_folder = work / "reference"
    ref, errors = read_tables(ref_folder / "results")
    if errors or len(ref.get("trials", ())) != N_TRIALS:  # else a finished one is reused
        shutil.rmtree(ref_folder, ignore_errors=True)
        proc = start(["run", str(study), "--smoke", "--out", str(ref_folder), "--num-cpus", "2",
                      "--trials-per-batch", str(BATCH)], work / "reference.log")
        if finish(proc, 900, None) != 0:
            raise SystemExit(f"the reference run failed: see {work / 'reference.log'}")
        ref, errors = read_tables(ref_folder / "results")
    assert not errors and len(ref["trials"]) == N_TRIALS, errors

    results = []
    for old in work.glob("chain*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for c, chain in enumerate(chains):
        res = run_chain(chain, study, work, ref, rng)
        results += res
        print(f"chain {c}: " + ", ".join(f"{m.phase}/{m.signal}{'' if m.hit else ' (missed)'}"
                                         f" exit {m.exit_code} status {m.status}"
                                         for m in chain), flush=True)
        (work / "faults.json").write_text(json.dumps(  # so far, in case the run is stopped
            {"chains": results, "moments": [asdict(m) for c in chains for m in c]},
            indent=1, default=str))
        for r in res:
            print(f"  {r['folder']}: last --resume exit {r['resume_exit']}, status "
                  f"{r['status']}, lost {r['lost']}, duplicated {r['duplicated']}, mlflow "
                  f"{r['mlflow'][:3]}", flush=True)
    moments = [m for chain in chains for m in chain]
    hit = [m for m in moments if m.hit]
    wrong = [m for m in hit if status_wrong(m.status, m.lost, m.complete)]
    wrong_final = [r for r in results if status_wrong(r["status"], r["lost"], r["complete"])]
    failures = [f"{m.folder} {m.phase}/{m.signal}: status {m.status} with {m.lost} rows "
                f"missing{'' if not m.complete else ' (data complete)'}" for m in wrong]
    failures += [f"{r['folder']}: after the last --resume status {r['status']}, lost "
                 f"{r['lost']}, duplicated {r['duplicated']}, resume exit {r['resume_exit']}, "
                 f"mlflow {r['mlflow'][:3]}, {r['errors'][:2]}"
                 for r in results if not r["complete"] or r in wrong_final
                 or r["resume_exit"] != 0]
    summary = {
        "interruptions": len(hit),
        "lost_rows": sum(r["lost"] for r in results),
        "duplicated_rows": sum(r["duplicated"] for r in results),
        "status_wrong": len(wrong) + len(wrong_final),
        "mlflow_incomplete": sum(len(r["mlflow"]) for r in results),
        "signals": dict(Counter(m.signal for m in hit)),
        "phases": dict(Counter(m.phase for m in hit)),
        "missed": len(moments) - len(hit),
        # Ctrl-C, SIGTERM or a hang-up while trials ran, and the launch went on to the end
        "not_stopped": sum(m.exit_code == 0
                           and m.signal in ("sigint", "sigint2", "sigterm", "hangup")
                           and m.phase in ("trials_start", "mid_trial", "between_batches")
                           for m in hit),
        "hung": sum(any("still running" in n for n in m.notes) for m in moments),
        "orphans": sum(m.orphans for m in moments),
        "seed": args.seed,
        "seconds": round(time.monotonic() - t_start, 1),
        "failures": failures[:12],
        "work": str(work),
    }
    (work / "faults.json").write_text(json.dumps(
        {"summary": summary, "chains": results, "moments": [asdict(m) for m in moments]},
        indent=1, default=str))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    res = main()
    sys.exit(1 if any(res[k] for k in ("lost_rows", "duplicated_rows", "status_wrong",
                                       "mlflow_incomplete")) else 0)
