"""The deep linear experiments through the command line and at paper scale.

Their quick runs are covered, with every other family's, by tests/test_experiments.py; here: a stability-bound
violation is refused in one line before any compute, a bad depth fails without a traceback in a fresh process,
and the full-size runs (minutes on 2 cores: ``pytest -m slow`` or ``make test-all``) pass every check."""

import subprocess
import sys

import pytest
from conftest import ROOT

from experiments import cli, run_experiment


def test_real_experiment_lr_beyond_stability_bound(capsys):
    assert cli.main(["run", "deep_linear_modes", "--quick", "--set", "lr=0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stability bound" in err and "lr must satisfy" in err


def test_subprocess_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments",
            "run",
            "deep_linear_modes",
            "--set",
            "depths=(0,)",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: every element of depths must be >= 1")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "deep_linear_modes",
        "deep_linear_learning_time",
        "deep_linear_semantic",
        "deep_linear_phase_portrait",
        "deep_linear_general_init",
        "deep_linear_edge_of_chaos",
    ],
)
def test_full_size_checks_pass(name, tmp_path):
    summary = run_experiment(name, quick=False, out_dir=tmp_path, seed=0)
    failed = [(c["name"], c["value"], c["tolerance"]) for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
