"""Paper-scale runs of the deep-linear experiments (minutes on 2 cores): ``pytest -m slow`` or ``make test-all``."""

import pytest

from experiments import run_experiment


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deep_linear_modes", "deep_linear_learning_time", "deep_linear_semantic"])
def test_full_size_checks_pass(name, tmp_path):
    summary = run_experiment(name, quick=False, out_dir=tmp_path, seed=0)
    failed = [(c["name"], c["value"], c["tolerance"]) for c in summary["checks"] if not c["passed"]]
    assert not failed, failed
