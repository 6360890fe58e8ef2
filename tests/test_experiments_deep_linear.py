"""Every deep-linear experiment at quick size: all theory-vs-simulation checks pass; the notebook executes.

The tolerances are derived inside the experiments (see each Check's description); here we only require that
every check passes and that the outputs follow the contract.
"""

import pytest
from conftest import assert_contract, execute_notebook, quick_results_fixture

NAMES = ("deep_linear_modes", "deep_linear_learning_time", "deep_linear_semantic")


quick_results = quick_results_fixture(NAMES, "results")


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_results, name):
    out, summaries = quick_results
    assert_contract(out, summaries[name], min_checks=5)


def test_notebook_executes(quick_results):
    execute_notebook("deep_linear.ipynb", quick_results[0], min_images=7)
