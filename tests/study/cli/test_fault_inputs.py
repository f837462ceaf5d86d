"""Hostile or unlucky input is one line and exit 2, never a traceback, and changes nothing
(issue 18 item 4; the input rows of the fault-case table in docs/operations.md).

Tests run as root, whom ``chmod`` does not stop: a read-only folder is a tmpfs mounted
read-only and a full disk a tiny tmpfs; both skip with a message where ``mount`` is refused.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from study.cli.main import main

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "analysis"))


def alias_bomb(levels: int = 9, fan: int = 10) -> str:
    """``fan`` anchors each aliased ``fan`` times, ``levels`` deep: 10⁹ values expanded."""
    lines = ["name: bomb", "a0: &a0 [" + ", ".join(["lol"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def run_cli(*args: str, cwd: Path = REPO) -> tuple[int, str, float, float]:
    """``rotsweep ARGS`` in a fresh process: exit code, stderr, seconds, and that process's
    peak RSS in MB (``resource.getrusage`` of the children, measured inside a wrapper process
    so no other test's children count)."""
    code = textwrap.dedent(f"""
        import json, resource, subprocess, sys, time
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "study.cli.main", *{list(args)!r}],
                           capture_output=True, text=True, cwd={str(cwd)!r})
        print(json.dumps([p.returncode, p.stderr, time.perf_counter() - t,
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    rc, err, seconds, rss = json.loads(out.stdout)
    return rc, err, seconds, rss


def one_error(err: str) -> str:
    """The one ``error:`` line of ``err`` (``report``'s plan-check warnings aside)."""
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_an_alias_bomb_is_refused_in_seconds_and_little_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 1000  # 10⁹ values once expanded
    for command in ("validate", "run"):
        rc, err, seconds, rss = run_cli(command, str(path), "--out", str(tmp_path / "out")
                                        ) if command == "run" else run_cli(command, str(path))
        line = one_error(err)
        assert rc == 2 and "values once its aliases (*name) are expanded" in line
        assert seconds < 5 and rss < 500, (seconds, rss)
    assert not (tmp_path / "out").exists()


def test_deep_nesting_and_recursive_aliases_are_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {"flow": "name: deep\nx: " + "[" * 1000 + "]" * 1000 + "\n",
             "block": "name: deep\n" + "".join("  " * i + f"k{i}:\n" for i in range(1000)),
             "recursive": "name: rec\na: &a [1, *a]\n"}
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert main(["validate", str(path)]) == 2
        line = one_error(capsys.readouterr().err)
        assert line.startswith(f"error: {path}: refused: ")
        assert ("nested more than 64 levels deep" in line) != (name == "recursive")
    assert main(["validate", str(REPO / "conf/studies/smoke.yaml"), "--no-data",
                 "--set", "x=" + "[" * 100 + "]" * 100]) == 2
    assert "--set value" in one_error(capsys.readouterr().err)


@pytest.mark.parametrize("key", ["name", "data.label"])
def test_a_name_longer_than_every_file_system_takes_is_refused_at_validate(
        key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = {"name": "ok", "data": {"params": {"kind": "discs"}}}
    long = "a" * 300
    if key == "name":
        raw["name"] = long
    else:
        raw["data"]["label"] = long
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path), "--no-data"]) == 2
    line = one_error(capsys.readouterr().err)
    assert f"{key.split('.')[-1]}: 300 characters" in line and "at most 100" in line
    raw["name" if key == "name" else "data"] = "a" * 100 if key == "name" else {
        "params": {"kind": "discs"}, "label": "a" * 100}
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path), "--no-data"]) == 0


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (skips where mounting is not allowed)."""
    where = tmp_path / "mnt"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
            for p in sorted(folder.rglob("*"))}


def light_study(folder: Path) -> Path:
    from study_folder import write_light_study

    write_light_study(folder)
    return folder


def test_a_read_only_study_folder_is_one_line_and_unchanged(
        tmpfs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = light_study(tmpfs / "s")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    before = snapshot(study)
    commands = [["report", str(study), "--n-boot", "20", "--n-perm", "19"],
                ["compact", str(study)],
                ["run", str(REPO / "conf/studies/smoke.yaml"), "--smoke", "--resume",
                 "--out", str(study)]]
    for command in commands:
        assert main(command) == 2, command
        line = one_error(capsys.readouterr().err)
        assert line.startswith(f"error: {study}") and "read-only" in line, line
        assert "copy the study folder somewhere writable" in line
    assert snapshot(study) == before


def test_out_that_is_a_file_or_below_one_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = light_study(tmp_path / "s")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    smoke = str(REPO / "conf/studies/smoke.yaml")
    for command in (["report", str(study), "--out", str(afile / "below")],
                    ["run", smoke, "--smoke", "--out", str(afile)],
                    ["run", smoke, "--smoke", "--out", str(afile / "below")]):
        assert main(command) == 2, command
        line = one_error(capsys.readouterr().err)
        assert str(afile) in line and "a file is in the way" in line, line
    assert main(["report", str(study), "--out", str(afile)]) == 2
    assert "is not a rotsweep report folder" in one_error(capsys.readouterr().err)
    assert afile.read_text() == "keep me"


def test_a_full_disk_is_one_line_and_leaves_nothing(
        tmpfs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = light_study(tmp_path / "s")
    (tmpfs / "filler").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))  # 64 KiB left
    assert main(["report", str(study), "--out", str(tmpfs / "report"), "--n-boot", "20",
                 "--n-perm", "19"]) == 2
    line = one_error(capsys.readouterr().err)
    assert line.startswith(f"error: {tmpfs}") and "the disk is full" in line, line
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]  # nothing half-written


def test_peak_rss_is_measured_per_process() -> None:
    """The RSS bound above is the rotsweep process's own (a known answer: a child that
    allocates 200 MB peaks above 200 MB, one that allocates nothing stays far below)."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', sys.argv[1]])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    peaks = [float(subprocess.run([sys.executable, "-c", code, child], capture_output=True,
                                  text=True, check=True).stdout)
             for child in ("b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
                           "pass")]
    assert peaks[0] > 200 > 50 > peaks[1]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_a_study_file_that_is_not_one_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder, binary bytes, an endless device, an oversized file: one line each, exit 2."""
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "#" * (4 * 1024 * 1024) + "\n")
    cases = {tmp_path: "is a folder", binary: "not UTF-8 text (byte 6)",
             Path("/dev/zero"): "more than 4194304 bytes", big: "more than 4194304 bytes"}
    for path, what in cases.items():
        assert main(["validate", str(path)]) == 2
        assert one_error(capsys.readouterr().err) == (
            f"error: {path}: {what}" + ("; expected a study file (.yaml)" if path == tmp_path
                                        else "; expected a YAML study file" if path == binary
                                        else "; a study file is read up to 4194304 bytes"))
