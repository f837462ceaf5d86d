"""A closed pipe or a hung-up terminal does not stop a command (study/cli/console.py): found by
``rotsweep run ... | head -1``, which ended the launch with "error: OUT: Broken pipe" at its
second progress line."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from study.cli.console import SurvivingStream, console_survives

REPO = Path(__file__).resolve().parents[3]


def test_a_write_to_a_closed_pipe_is_dropped_and_the_descriptor_points_at_devnull() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone
    raw = os.fdopen(write_end, "w")
    stream = SurvivingStream(raw)  # type: ignore[arg-type]
    try:
        assert stream.write("a line\n") == len("a line\n")  # buffered: no error yet
        stream.flush()  # BrokenPipeError inside, not here
        assert stream.lost
        assert os.path.samestat(os.fstat(write_end), os.stat(os.devnull))
        assert stream.write("more\n") == 5
        stream.flush()
        raw.write("straight to the file\n")  # what other libraries write through it succeeds
        raw.flush()
    finally:
        raw.close()


def test_a_healthy_stream_is_passed_through_untouched() -> None:
    buffer = io.StringIO()
    stream = SurvivingStream(buffer)  # type: ignore[arg-type]
    stream.write("kept\n")
    stream.flush()
    assert buffer.getvalue() == "kept\n" and not stream.lost  # negative control
    assert stream.getvalue() == "kept\n"  # other attributes are the stream's


def test_the_streams_before_are_put_back() -> None:
    before = sys.stdout, sys.stderr
    with console_survives():
        assert isinstance(sys.stdout, SurvivingStream)
        assert isinstance(sys.stderr, SurvivingStream)
    assert (sys.stdout, sys.stderr) == before


def test_a_command_piped_into_a_reader_that_ends_goes_on_and_exits_0(tmp_path: Path) -> None:
    # `rotsweep list studies | true`: the reader is gone before the first write
    script = ("import sys; from study.cli.main import main\n"
              "code = main(['list', 'studies'])\n"
              "print('after the command', file=sys.stderr)\n"
              "sys.exit(code)\n")
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    assert reader.stdin is not None
    reader.wait()
    proc = subprocess.run([sys.executable, "-c", script], stdout=reader.stdin,
                          stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120)
    reader.stdin.close()
    assert proc.returncode == 0, proc.stderr
    assert "after the command" in proc.stderr  # stderr still works
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
