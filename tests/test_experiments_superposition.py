"""Every superposition experiment at quick size: all theory-vs-simulation checks pass; the notebook executes.

Each check's tolerance is derived in its description (experiments/superposition.py).
"""

import pytest
from conftest import assert_contract, execute_notebook, run_quick

NAMES = ("superposition_linear", "superposition_phase_diagram", "superposition_geometry", "superposition_scaling")


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("superposition_results")
    return out, run_quick(NAMES, out)


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_results, name):
    out, summaries = quick_results
    assert_contract(out, summaries[name], min_checks=3)


def test_notebook_executes(quick_results):
    execute_notebook("superposition.ipynb", quick_results[0], min_images=5)
