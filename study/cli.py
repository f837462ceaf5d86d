"""``rotsweep``: the command line. ``run | validate | report | status | list | data check``.

Every command that takes a study file takes ``--set key=value`` (any dotted key, YAML values)
and ``--smoke`` (shrink the study to minutes on a laptop CPU). Configuration problems exit with
status 2 and one line per problem, before Ray starts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trainables.config import ConfigError
from trainables.data.problems import DataError

EXIT_CONFIG = 2

REGISTRIES = ("backbones", "pretexts", "datasets", "saliency", "probes")


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="study file, e.g. conf/studies/smoke.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override any key, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--smoke", action="store_true",
                   help="shrink the study: 1 epoch, few images and angles, small images")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rotsweep", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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

    val = sub.add_parser("validate", help="check a study file and its datasets; print its "
                                          "trials and axes")
    _study_args(val)
    val.add_argument("--no-data", action="store_true",
                     help="check the file only, without reading the datasets")

    rep = sub.add_parser("report", help="tables and figures from a study folder's results")
    rep.add_argument("dir", type=Path, help="the study folder given to run --out")
    rep.add_argument("--study", default=None, help="only this study's rows")
    rep.add_argument("--dataset", action="append", default=None,
                     help="only this dataset (repeatable)")
    rep.add_argument("--trial", action="append", default=None,
                     help="only this trial id (repeatable)")

    st = sub.add_parser("status", help="trials done / running / failed of a study folder")
    st.add_argument("dir", type=Path)

    ls = sub.add_parser("list", help="registered names, one per line")
    ls.add_argument("what", choices=REGISTRIES)

    data = sub.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    check = data_sub.add_parser("check", help="read a dataset as a study would, list problems")
    check.add_argument("name", help="dataset registry name")
    check.add_argument("--root", default=None,
                       help="the dataset's folder (relative to the current folder)")
    check.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="other data.* keys, e.g. --set data.params.kind=discs")
    check.add_argument("--skip-bad", action="store_true", help="skip bad items, only count them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "list":
            return cmd_list(args)
        return cmd_data_check(args)
    except (ConfigError, DataError) as err:
        for problem in err.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_validate(args: argparse.Namespace) -> int:
    from study.config import load_study

    study = load_study(args.file, args.sets, smoke=args.smoke)
    print(f"{study.source}: study {study.name!r}: {study.n_trials()} trials")
    for key, values in study.keys.axes.items():
        print(f"  axis {key}: {len(values)} values: {values}")
    for key, p in study.params.items():
        print(f"  searched {key}: {p.kind} {list(p.values) or [p.low, p.high]}")
    if study.keys.search.num_samples > 1:
        print(f"  num_samples: {study.keys.search.num_samples}")
    if not args.no_data:
        from study.datasets import check_study_data

        checked = check_study_data(study)
        for report in checked.reports:
            print("  data " + "\n    ".join(report.lines()))
        if checked.problems:
            raise ConfigError([f"{study.source}: {p}" for p in checked.problems])
    print(f"{study.source}: study {study.name!r} is valid: {study.n_trials()} trials")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from study.config import load_study
    from study.runner import RunOptions, print_result, run_study

    study = load_study(args.file, args.sets, smoke=args.smoke)
    out = args.out or Path("runs") / study.name
    print(f"study {study.name!r}: {study.n_trials()} trials -> {out}", flush=True)
    from study.cluster import StudyError

    opts = RunOptions(out=str(out), storage=args.storage, address=args.address,
                      tracking_uri=args.tracking_uri, resume=args.resume, verbose=args.verbose,
                      num_cpus=args.num_cpus)
    try:
        result = run_study(study, opts)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print_result(result)
    if result.counts.get("INTERRUPTED"):
        return 130  # as for Ctrl-C; --resume continues
    return 0 if result.n_failed == 0 else 1


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.report import make_report

    written = make_report(args.dir, study=args.study, datasets=args.dataset,
                          trial_ids=args.trial)
    for path in written:
        print(path)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from study.status import study_status

    print(study_status(args.dir))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "backbones":
        from trainables.models import BACKBONES as names
    elif args.what == "pretexts":
        from trainables.pretext import PRETEXTS as names
    elif args.what == "datasets":
        from trainables.data import DATASETS as names
    elif args.what == "probes":
        from trainables.probes import PROBES as names
    else:
        from trainables.saliency import SALIENCY_METHODS as names
    for name in sorted(names):
        print(name)
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Read a dataset as a study would; exit 1 when a file is bad (0 with ``--skip-bad`` when
    some items are usable)."""
    from study.config import parse_sets
    from trainables.config import DataConfig
    from trainables.config.overrides import apply_overrides
    from trainables.config.parse import build
    from trainables.data import DATASETS
    from trainables.data.check import check_dataset

    if args.name not in DATASETS:
        raise ConfigError([f"data check: unknown dataset {args.name!r}; expected one of "
                           f"{sorted(DATASETS)}"])
    # on the command line a relative --root means the current folder, as any path argument
    root = str(Path(args.root).expanduser().resolve()) if args.root else None
    raw = apply_overrides({"name": args.name, "root": root, "skip_bad": args.skip_bad},
                          {k.removeprefix("data."): v for k, v in parse_sets(args.sets).items()})
    report = check_dataset(build(DataConfig, raw, "data"))
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
