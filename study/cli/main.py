"""``rotsweep``: the command line. ``run | validate | report | status | compact | ui | list
| data check``.

Every command that takes a study file takes ``--set key=value`` (any dotted key, YAML values)
and ``--smoke`` (shrink the study to minutes on a laptop CPU). Configuration problems exit with
status 2 and one line per problem, before Ray starts (``run`` checks what ``validate`` does:
study/config/datasets.py ``check_study_inputs``); so do a report of a folder that holds no study or
a filter that names nothing in it, and every OS error (read-only folder, a file in the way, a full
disk: study/messages.py ``os_error_line``). A damaged table file exits 1, naming the file.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

EXIT_CONFIG = 2
EXIT_DAMAGED = 1

REGISTRIES = ("backbones", "pretexts", "datasets", "saliency", "probes")
LISTS = ("studies", *REGISTRIES)
STUDIES = Path(__file__).resolve().parents[2] / "conf" / "studies"  # the shipped study files

DESCRIPTION = "Sweeps over the rotation used in self-supervised pre-training (Ray Tune, MLflow, " \
              "Parquet)."
EPILOG = """examples:
  rotsweep list studies                              the shipped study files
  rotsweep validate conf/studies/smoke.yaml          check a study and its data
  rotsweep run conf/studies/smoke.yaml --out runs/smoke
  rotsweep status runs/smoke
  rotsweep report runs/smoke                         runs/smoke/report/report.html
  rotsweep report runs/smoke --dataset synthetic     runs/smoke/report-dataset=synthetic/
  rotsweep compact runs/smoke                        merge the per-trial table parts
  rotsweep ui runs/smoke                             MLflow's UI on the study's own store

`rotsweep COMMAND --help` gives each command's options."""


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="study file, e.g. conf/studies/smoke.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override any key, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--smoke", action="store_true",
                   help="shrink the study: 1 epoch, few images and angles, small images")


def build_parser() -> argparse.ArgumentParser:
    from rotsweep import __version__

    parser = argparse.ArgumentParser(prog="rotsweep", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rotsweep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a study on Ray Tune")
    _study_args(run)
    run.add_argument("--out", type=Path, default=None,
                     help="study folder (default: runs/<study name>)")
    run.add_argument("--address", default=None, help="join a Ray cluster: auto | ray://host:port")
    run.add_argument("--storage", default=None,
                     help="shared path or URI for tables, checkpoints and Tune state")
    run.add_argument("--tracking-uri", default=None,
                     help="MLflow tracking URI (default: sqlite in the study folder)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted study")
    run.add_argument("--verbose", action="store_true", help="also show Ray Tune's trial table")
    run.add_argument("--num-cpus", type=int, default=None,
                     help="CPUs of the local Ray instance (default: all; ignored with --address)")
    run.add_argument("--trials-per-batch", type=int, default=256,
                     help="trials per Tune experiment (default 256; ASHA compares trials within "
                          "one batch); not train.batch_size")
    run.add_argument("--batch-size", dest="trials_per_batch", type=int,
                     help=argparse.SUPPRESS)  # its old name, still taken
    run.add_argument("--allow-no-auth", action="store_true",
                     help="start a local Ray instance even with RAY_AUTH_MODE=disabled")

    val = sub.add_parser("validate", help="check a study file and its datasets; print its "
                                          "trials and axes")
    _study_args(val)
    val.add_argument("--no-data", action="store_true",
                     help="check the file only, without reading the datasets")

    rep = sub.add_parser("report", help="tables and figures from a study folder's results",
                         description="Write DIR/report/ (report.html, report.md, CSV tables, "
                                     "PNG/SVG figures). A filtered report goes to a folder of "
                                     "its own: --out, or DIR/report-<filter>/.")
    rep.add_argument("dir", type=Path, help="the study folder given to run --out")
    rep.add_argument("--out", type=Path, default=None,
                     help="the report's folder (default: DIR/report, or DIR/report-<filter> "
                          "with --study/--dataset/--trial); replaced as a whole")
    rep.add_argument("--study", default=None, help="only this study's rows")
    rep.add_argument("--dataset", action="append", default=None,
                     help="only this dataset (repeatable)")
    rep.add_argument("--trial", action="append", default=None,
                     help="only this trial id (repeatable)")
    rep.add_argument("--n-boot", type=int, default=1000,
                     help="bootstrap replicates per confidence interval (default 1000)")
    rep.add_argument("--n-perm", type=int, default=999,
                     help="permutations per periodicity test (default 999)")
    rep.add_argument("--strict", action="store_true",
                     help="refuse (exit as `status` does) a study whose tables do not hold "
                          "every planned trial's rows; without it, a warning")

    st = sub.add_parser("status", help="trials done / running / failed of a study folder",
                        description="Exit code: 0 finished, 1 a damaged file, 2 not a study "
                                    "folder, 3 running, 4 interrupted (continue with run "
                                    "--resume), 5 some trials failed.")
    st.add_argument("dir", type=Path)

    cp = sub.add_parser("compact", help="merge a study's per-trial table parts into few files",
                        description="Exit code: 0 done, 1 a damaged file (named; its table is "
                                    "left as is), 2 not a study folder or in use by a launch.")
    cp.add_argument("dir", type=Path, help="the study folder given to run --out")

    ui = sub.add_parser("ui", help="MLflow's UI on a study folder's store (also a copied one)",
                        description="Re-point the study's MLflow store to the folder's present "
                                    "place, print the address of its runs, then run `mlflow "
                                    "ui` on it (Ctrl-C stops it). Exit 2: no MLflow store in "
                                    "the folder.")
    ui.add_argument("dir", type=Path, help="the study folder given to run --out")
    ui.add_argument("--port", type=int, default=5000, help="the UI's port (default 5000)")

    ls = sub.add_parser("list", help="the shipped studies, or registered names, one per line "
                                     "(saliency: its methods and targets, each with its key)")
    ls.add_argument("what", choices=LISTS)

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="read a dataset as a study would, list problems")
    check.add_argument("name", help="dataset registry name")
    check.add_argument("--root", default=None,
                       help="the dataset's folder; a relative one is read from data.home "
                            "($ROTSWEEP_DATA, else the current folder), as in a study")
    check.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="other data.* keys, e.g. --set data.params.kind=discs")
    check.add_argument("--skip-bad", action="store_true", help="skip bad items, only count them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. An OS error (a read-only folder, a file where a folder is expected, a
    full disk...) is one line naming the path and what to do, exit 2 (study/messages.py
    :func:`~study.messages.os_error_line`): never a traceback, never the "trials failed" code.
    """
    args = build_parser().parse_args(argv)
    from study.cli.console import console_survives
    from study.signals import stop_signals_exit

    # a closed pipe or terminal does not stop a command; SIGTERM or SIGHUP before a launch
    # handles them (torch still importing) is a clean exit, not death by the default action
    with console_survives(), stop_signals_exit():
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        return dispatch(args)
    except KeyboardInterrupt:  # before a launch handles it (torch still importing), or a report
        advice = ": continue with the same command and --resume" if args.command == "run" else ""
        print(f"interrupted{advice}", file=sys.stderr)
        return 130
    except OSError as err:
        from study.messages import os_error_line

        where = getattr(args, "out", None) or getattr(args, "dir", None)  # the folder written
        print(f"error: {os_error_line(err, where)}", file=sys.stderr)
        return EXIT_CONFIG


def dispatch(args: argparse.Namespace) -> int:
    """The command ``args`` names; configuration and data problems are one line each, exit 2."""
    # these read files only: they start without torch
    files_only = {"report": cmd_report, "status": cmd_status, "compact": cmd_compact,
                  "ui": cmd_ui}
    if args.command in files_only:
        return files_only[args.command](args)
    if args.command == "list" and args.what == "studies":
        return cmd_list(args)
    from trainables.config import ConfigError

    try:
        if args.command in ("validate", "run"):
            from study.config.study_file import load_yaml

            load_yaml(args.file)  # a hostile file is refused before torch is imported
        from trainables.data.problems import DataError
    except ConfigError as err:
        return print_problems(err.problems)
    try:
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "list":
            return cmd_list(args)
        return cmd_data_check(args)
    except (ConfigError, DataError) as err:
        return print_problems(err.problems)


def print_problems(problems: Sequence[object]) -> int:
    """One ``error:`` line per problem on stderr; the exit code of a configuration problem."""
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_validate(args: argparse.Namespace) -> int:
    from study.config.load import load_study
    from trainables.config import ConfigError

    study = load_study(args.file, args.sets, smoke=args.smoke)
    print(f"{study.source}: study {study.name!r}: {study.n_trials()} trials")
    for note in study.notes:
        print(f"note: {study.source}: {note}")
    for key, values in study.keys.axes.items():
        print(f"  axis {key}: {len(values)} values: {values}")
    for key, p in study.params.items():
        print(f"  searched {key}: {p.kind} {list(p.values) or [p.low, p.high]}")
    if study.keys.search.num_samples > 1:
        print(f"  num_samples: {study.keys.search.num_samples}")
    from study.config.datasets import check_study_inputs

    # the same check as run's, before Ray starts: every weights file and dataset a trial reads
    problems = check_study_inputs(study, data=not args.no_data, show=print)
    if problems:
        raise ConfigError(problems)
    print(f"{study.source}: study {study.name!r} is valid: {study.n_trials()} trials")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from study.config.load import load_study
    from study.launch.runner import RunOptions, print_result, run_study
    from study.signals import signals_end_at_once

    study = load_study(args.file, args.sets, smoke=args.smoke)
    for note in study.notes:
        print(f"note: {study.source}: {note}", flush=True)
    from study.config.datasets import check_study_inputs
    from trainables.config import ConfigError

    # before Ray starts, the same check (and lines) as validate's: no trial fails on a bad file
    problems = check_study_inputs(study)
    if problems:
        raise ConfigError(problems)
    out = args.out or Path("runs") / study.name
    from study.launch.cluster import StudyError

    opts = RunOptions(out=str(out), storage=args.storage, address=args.address,
                      tracking_uri=args.tracking_uri, resume=args.resume, verbose=args.verbose,
                      num_cpus=args.num_cpus, batch_size=args.trials_per_batch,
                      allow_no_auth=args.allow_no_auth)
    import ray

    ray_here = not ray.is_initialized()  # this launch starts (and so ends) a local Ray
    try:
        result = run_study(study, opts)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (KeyboardInterrupt, SystemExit) as err:  # a second Ctrl-C, SIGTERM between batches
        code = (130 if isinstance(err, KeyboardInterrupt)
                else err.code if isinstance(err.code, int) else 128 + signal.SIGTERM)
        closing = partial(print, "interrupted: continue with the same command and --resume",
                          file=sys.stderr)
    else:
        # 130 as for Ctrl-C when trials are left (--resume continues them, never-started too)
        code = 130 if result.n_left else 0 if result.n_failed == 0 else 1
        closing = partial(print_result, result)
    with signals_end_at_once(code):
        closing()
        if ray_here:
            ray.shutdown()
    return code


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report; one line for a folder without a study, an unknown filter value (exit
    2) or a damaged table file (exit 1)."""
    from analysis.report import ReportError, make_report
    from rotsweep.tables import SchemaError
    from study.folder.status import plan_check

    mismatch = plan_check(args.dir)  # study/folder/completeness.py: rows per planned trial
    if mismatch is not None and (args.strict or mismatch[1] != EXIT_DAMAGED):
        # a damaged file the report reads is its one error line below
        print(f"warning: {mismatch[0]}", file=sys.stderr, flush=True)
        if args.strict:
            print("error: --strict: no report of an incomplete study", file=sys.stderr)
            return mismatch[1]
    try:
        written = make_report(args.dir, out=args.out, study=args.study, datasets=args.dataset,
                              trial_ids=args.trial, n_boot=args.n_boot, n_perm=args.n_perm)
    except ReportError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
        return EXIT_CONFIG
    except SchemaError as err:
        print("error: " + " ".join(str(err).split()), file=sys.stderr)  # names the file
        return EXIT_DAMAGED
    folder = written[-1].parent
    figures = sum(p.suffix == ".png" for p in written)
    tables = sum(p.suffix == ".csv" for p in written)
    print(f"report: {folder / 'report.html'}")
    print(f"  {len(written)} files in {folder}: {tables} tables (CSV), {figures} figures "
          "(PNG, most also SVG), report.md")
    import warnings

    from study.tracking.parent import attach_report

    with warnings.catch_warnings():  # MLflow's own deprecations are no news to the user
        warnings.simplefilter("ignore", DeprecationWarning)
        print(attach_report(args.dir, folder))  # never raises for MLflow's sake
    if mismatch is not None:  # again at the end, where it is read
        print(f"warning: {mismatch[0]}", file=sys.stderr)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    """Compact the study's tables (study/launch/compaction.py); one line, then the cache's size."""
    from study.launch.compaction import compact_folder

    text, code = compact_folder(args.dir)
    print(text, file=sys.stderr if code == 2 else sys.stdout)
    return code


def cmd_ui(args: argparse.Namespace) -> int:
    """Run ``mlflow ui`` on the study's store; print the ML-view address once it answers
    (study/cli/ui.py)."""
    from study.cli.ui import UiError, serve, ui_plan

    try:
        plan = ui_plan(args.dir, args.port)
        if plan.moved:
            print(f"MLflow store re-pointed to {args.dir} ({plan.moved} experiments)",
                  flush=True)
        return serve(plan)
    except UiError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 0 finished, 1 damaged file, 2 not a study, 3 running, 4 interrupted, 5 failed
    (study/folder/status.py)."""
    from study.folder.status import status_report

    text, code = status_report(args.dir)
    print(text)
    return code


def shipped_studies(folder: Path = STUDIES) -> list[tuple[str, str, Path]]:
    """``(name, description, path)`` of every study file in ``folder`` (conf/studies)."""
    import yaml

    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            raw = {}
        raw = raw if isinstance(raw, dict) else {}
        out.append((str(raw.get("name", path.stem)), str(raw.get("description", "")), path))
    return out


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "studies":
        studies = shipped_studies()
        width = max((len(n) for n, _, _ in studies), default=0)
        for name, description, path in studies:
            print(f"{name:<{width}}  {description}  ({path.relative_to(STUDIES.parents[1])})")
        return 0
    if args.what == "backbones":
        from trainables.models import BACKBONES as names
    elif args.what == "pretexts":
        from trainables.pretext import PRETEXTS as names
    elif args.what == "datasets":
        from trainables.data import DATASETS as names
    elif args.what == "probes":
        from trainables.probes import PROBES as names
    else:  # two registered kinds: what is differentiated by which method
        from trainables.saliency import SALIENCY_METHODS, TARGETS

        for key, names in (("saliency.method", SALIENCY_METHODS), ("saliency.target", TARGETS)):
            for name in sorted(names):
                print(f"{key}: {name}")
        return 0
    for name in sorted(names):
        print(name)
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Read a dataset as a study would; exit 1 when a file is bad (0 with ``--skip-bad`` when
    some items are usable)."""
    from study.config.load import absolute_paths, parse_sets
    from trainables.config import ConfigError, DataConfig
    from trainables.config.overrides import apply_overrides
    from trainables.config.parse import build
    from trainables.data import DATASETS
    from trainables.data.check import check_dataset

    if args.name not in DATASETS:
        raise ConfigError([f"data check: unknown dataset {args.name!r}; expected one of "
                           f"{sorted(DATASETS)}"])
    # roots resolve as in a study: relative to data.home ($ROTSWEEP_DATA, else the current folder)
    raw = apply_overrides({"name": args.name, "root": args.root, "skip_bad": args.skip_bad,
                           "n_eval": None},  # checked only when --set data.n_eval asks
                          {k.removeprefix("data."): v for k, v in parse_sets(args.sets).items()})
    raw = absolute_paths({"data": raw}, Path.cwd())["data"]
    report = check_dataset(build(DataConfig, raw, "data"))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
