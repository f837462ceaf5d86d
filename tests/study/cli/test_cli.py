"""The command line: validate, list, run (in-process on the shared Ray), report, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from study.cli.main import main

REPO = Path(__file__).resolve().parents[3]
SMOKE = REPO / "conf" / "studies" / "smoke.yaml"


def test_validate_prints_trials_and_axes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SMOKE)]) == 0
    out = capsys.readouterr().out
    assert "study 'smoke' is valid: 3 trials" in out
    assert "axis pretext.params.angles: 3 values: [[0], [45], [90]]" in out


def test_validate_applies_set_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SMOKE), "--set", "pretext.params.angles=[0, 90]",
                 "--set", "seed=3"]) == 0


def test_validate_reports_every_problem_and_exits_2(capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    code = main(["validate", str(SMOKE), "--set", "train.epoch=3", "--set", "data.name=cifar",
                 "--set", "saliency.eval_angles=[0, abc]", "--set", "model.backbone=vgg99",
                 "--set", "train.lr=fast", "--set", "pretext.name=jigsaw9"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6
    expected = ["train: unknown key 'epoch' (did you mean 'epochs'?)",
                "data.name: unknown name 'cifar'", "saliency.eval_angles[1]: expected angles",
                "model.backbone: unknown name 'vgg99'", "train.lr: expected a number",
                "pretext.name: unknown name 'jigsaw9'"]
    for text in expected:
        assert any(text in line for line in err), text
    assert all(line.startswith(f"error: {SMOKE}") for line in err)


@pytest.mark.parametrize("what", ["backbones", "pretexts", "datasets"])
def test_list_prints_registered_names(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", what]) == 0
    names = capsys.readouterr().out.split()
    assert names == sorted(names) and len(names) >= 1
    expected = {"backbones": "small_cnn", "pretexts": "moco_rotation",
                "datasets": "synthetic"}[what]
    assert expected in names


def test_list_saliency_prints_methods_and_targets_with_their_keys(
        capsys: pytest.CaptureFixture[str]) -> None:
    from trainables.saliency import SALIENCY_METHODS, TARGETS

    assert main(["list", "saliency"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"saliency.method: {m}" for m in sorted(SALIENCY_METHODS)] + [
        f"saliency.target: {t}" for t in sorted(TARGETS)]
    assert "saliency.target: pair_similarity" in lines and len(TARGETS) == 4


def test_trials_per_batch_is_the_flag_and_batch_size_its_hidden_old_name() -> None:
    from study.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "s.yaml"]).trials_per_batch == 256
    assert parser.parse_args(["run", "s.yaml", "--trials-per-batch", "8"]).trials_per_batch == 8
    assert parser.parse_args(["run", "s.yaml", "--batch-size", "4"]).trials_per_batch == 4


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "rotsweep"
    out = subprocess.run([str(exe), "list", "pretexts"], capture_output=True, text=True,
                         check=True, timeout=120)
    assert "moco_rotation" in out.stdout.split()


@pytest.mark.ray
def test_run_then_report_then_status(tmp_path: Path, ray_local: Any, tiny: Any,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    raw = {**tiny(), "name": "cli"}
    raw.pop("study")
    study_file = tmp_path / "cli.yaml"
    study_file.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    assert main(["run", str(study_file), "--out", str(out), "--set", "seed=5"]) == 0
    printed = capsys.readouterr().out
    assert "1/1 trials finished, 0 failed" in printed
    assert "wall time:" in printed
    assert (out / "mlflow.db").exists()
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "per_angle.png").stat().st_size > 0
    assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "finished 1," in status and "failed 0" in status and "interrupted 0" in status


def test_validate_reads_the_datasets_and_names_a_missing_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study_file = tmp_path / "s.yaml"
    study_file.write_text(yaml.safe_dump({"name": "d", "data": {"name": "kvasir_seg",
                                                                "root": "nowhere"}}))
    assert main(["validate", str(study_file)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/nowhere: no such folder" in err or "nowhere: no such folder" in err
    assert main(["validate", str(study_file), "--no-data"]) == 0


@pytest.mark.data
def test_validate_real_samples_study(shared_data: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTSWEEP_DATA", str(shared_data))
    path = REPO / "conf/studies/real_samples.yaml"
    axes = yaml.safe_load(path.read_text())["axes"]
    n_trials = len(axes["data"]) * len(axes["pretext.params.angles"])  # datasets × θ
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "data kvasir_seg at" in out and "60 usable items" in out
    assert f"study 'real_samples' is valid: {n_trials} trials" in out


def test_version_and_plain_help(capsys: pytest.CaptureFixture[str]) -> None:
    from rotsweep import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"rotsweep {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text  # plain text, not RST
    for command in ("run", "validate", "report", "status", "compact", "ui", "list", "data"):
        assert f"    {command} " in text
    assert "rotsweep report runs/smoke" in text


def test_list_studies_names_every_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "studies"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    files = sorted((REPO / "conf" / "studies").glob("*.yaml"))
    assert len(lines) == len(files)
    for line, path in zip(lines, files, strict=True):
        raw = yaml.safe_load(path.read_text())
        assert line.startswith(raw["name"]) and f"(conf/studies/{path.name})" in line
        assert raw.get("description") and raw["description"] in line


def test_report_exit_codes_and_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(REPO / "tests" / "analysis"))
    from study_folder import write_light_study

    study = tmp_path / "s"
    write_light_study(study)
    assert main(["report", str(study), "--n-boot", "20", "--n-perm", "19"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"report: {study}/report/report.html\n")
    assert out.splitlines()[-1] == "MLflow: this study has no parent run; the report was not " \
                                   "attached"
    assert main(["report", str(study), "--trial", "nosuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: unknown trial 'nosuch' in {study}; known: b0, b1, k0"]
    assert main(["report", str(study), "--dataset", "kvasir_seg", "--n-boot", "20"]) == 0
    assert (study / "report-dataset=kvasir_seg" / "report.html").is_file()
    assert (study / "report" / "report.html").is_file()
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "absent"):
        assert main(["report", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "rotsweep run --out DIR" in err[0]
    part = next((study / "results" / "hog_svm").rglob("*.parquet"))
    part.write_bytes(part.read_bytes()[:100])
    assert main(["report", str(study)]) == 1
    err = [ln for ln in capsys.readouterr().err.strip().splitlines()
           if not ln.startswith("warning: ")]  # the plan check may warn first
    assert len(err) == 1 and err[0].startswith(f"error: {part}: ")


# the child sends itself SIGINT at the first import of torch or ray (whichever the command reaches
# first): a Ctrl-C in the first seconds of a launch, at the same point on a fast or a slow machine
CTRL_C_AT_IMPORT = """
import builtins, os, signal, sys
real = builtins.__import__
def ctrl_c_at_heavy_import(name, *args, **kwargs):
    if name.split(".")[0] in ("torch", "ray"):
        builtins.__import__ = real
        os.kill(os.getpid(), signal.SIGINT)
    return real(name, *args, **kwargs)
builtins.__import__ = ctrl_c_at_heavy_import
from study.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_torch_imports_is_one_line_and_exit_130() -> None:
    # bench/faults.py found a 40-line KeyboardInterrupt traceback for a Ctrl-C in the first
    # seconds of a launch: the command line catches it and says what to do
    proc = subprocess.run([sys.executable, "-c", CTRL_C_AT_IMPORT, "run",
                           str(REPO / "conf" / "studies" / "smoke.yaml"), "--smoke",
                           "--out", "/nonexistent/never-written"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "interrupted: continue with the same command and --resume")


AFTER_THE_LAUNCH = """
import os, signal, sys, time
from study.signals import signals_end_at_once
before = signal.getsignal(signal.SIGINT)
with signals_end_at_once(0):
    pass
assert signal.getsignal(signal.SIGINT) is before  # put back (main() runs in tests' processes)
with signals_end_at_once(int(sys.argv[2])):
    print("the closing lines", end="")
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(30)
    print("never printed")
"""


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 0), ("SIGTERM", 0), ("SIGHUP", 1),
                                         ("SIGINT", 130)])
def test_a_signal_after_the_launch_ends_at_once_with_the_launchs_own_code(sig: str,
                                                                         code: int) -> None:
    # bench/faults.py: Ctrl-C while a finished launch printed its closing lines said
    # "interrupted" (130) over a complete study; SIGTERM there ended the process by the default
    # action (-15); a Ctrl-C in Ray's exit hook printed a traceback
    proc = subprocess.run([sys.executable, "-c", AFTER_THE_LAUNCH, sig, str(code)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "the closing lines" and proc.stderr == ""

