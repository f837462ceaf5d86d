"""The README's synopsis ("## The command line") and ``rotsweep --help`` name the same
subcommands and, for each, the same flags (issue 21 item 4): a flag added to ``study/cli/main.py``
without the README, or left in the README once gone, fails here."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from study.cli.main import LISTS, build_parser

REPO = Path(__file__).resolve().parents[1]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def synopsis() -> dict[str, str]:
    """``{"run": "...", "data check": "...", "": "--version"}``: each command's synopsis lines
    (a line starting ``rotsweep`` and the indented lines after it), comments cut."""
    text = REPO.joinpath("README.md").read_text()
    section = text.split("\n## The command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    out: dict[str, str] = {}
    command = None
    for line in block.splitlines():
        code = line.split("#", 1)[0]
        if line.startswith("rotsweep "):
            words = code.split()[1:]
            command = " ".join(w for w in words[:2] if re.fullmatch(r"[a-z]+", w))
            command = command if command.startswith("data") else command.split(" ")[0]
            if command.startswith("-") or not command:
                command = ""
            out[command] = out.get(command, "") + " " + code
        elif line.startswith(" ") and command is not None:
            out[command] += " " + code
    return out


def subparsers(parser: argparse.ArgumentParser, prefix: str = ""
               ) -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its name (``data check`` for nested ones)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = subparsers(sub, f"{prefix}{name} ")
                out.update(nested or {f"{prefix}{name}": sub})
    return out


def help_flags(parser: argparse.ArgumentParser) -> set[str]:
    """The long flags ``--help`` shows (hidden aliases and ``--help`` itself left out)."""
    return {s for a in parser._actions if a.help != argparse.SUPPRESS
            for s in a.option_strings if s.startswith("--") and s != "--help"}


def test_every_subcommand_of_help_is_in_the_readme_and_the_reverse() -> None:
    commands = subparsers(build_parser())
    assert set(synopsis()) - {""} == set(commands)


def test_every_flag_of_every_help_is_in_the_readme_and_the_reverse() -> None:
    lines = synopsis()
    for name, parser in subparsers(build_parser()).items():
        assert set(FLAG.findall(lines[name])) == help_flags(parser), name
    assert set(FLAG.findall(lines[""])) == help_flags(build_parser())  # --version


def test_the_lists_of_list_are_the_readmes() -> None:
    words = synopsis()["list"].split()
    assert words[2].split("|") == list(LISTS)


def test_a_flag_missing_from_the_readme_is_caught() -> None:
    """Negative control: the comparison sees a flag the README lacks."""
    parser = build_parser()
    run = subparsers(parser)["run"]
    run.add_argument("--not-in-readme", action="store_true")
    assert "--not-in-readme" in help_flags(run) - set(FLAG.findall(synopsis()["run"]))
    run.add_argument("--hidden", help=argparse.SUPPRESS)
    assert "--hidden" not in help_flags(run)


def test_the_readme_study_file_is_the_shipped_one() -> None:
    # the README's example study is conf/studies/smoke.yaml, as shipped (issue 21)
    text = (REPO / "README.md").read_text()
    section = text[text.index("## A study file"):]
    block = section[section.index("```yaml\n") + len("```yaml\n"):]
    block = block[:block.index("```\n")]
    assert block == (REPO / "conf" / "studies" / "smoke.yaml").read_text()
