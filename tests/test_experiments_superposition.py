"""Every superposition experiment at quick size: all theory-vs-simulation checks pass; the notebook executes.

Each check's description (experiments/superposition.py) gives its tolerance's derivation, or says where it is a margin.
"""

import pytest
from conftest import assert_contract, execute_notebook, quick_results_fixture

NAMES = ("superposition_linear", "superposition_phase_diagram", "superposition_geometry", "superposition_scaling")


quick_results = quick_results_fixture(NAMES, "superposition_results")


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_results, name):
    out, summaries = quick_results
    assert_contract(out, summaries[name], min_checks=3)


def test_notebook_executes(quick_results):
    execute_notebook("superposition.ipynb", quick_results[0], min_images=5)
