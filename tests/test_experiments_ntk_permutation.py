"""Every NTK-permutation experiment at quick size: all theory-vs-simulation checks pass; the notebook executes.

Each check's description (experiments/ntk_permutation.py) gives its tolerance's derivation, or says where it is a
margin.
"""

import pytest
from conftest import assert_contract, execute_notebook, quick_results_fixture

NAMES = ("ntk_kernel_agreement", "ntk_gp_recovery", "ntk_ensemble_convergence", "ntk_ensemble_complexity")


quick_results = quick_results_fixture(NAMES, "ntk_results")


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_results, name):
    out, summaries = quick_results
    assert_contract(out, summaries[name], min_checks=4)


def test_notebook_executes(quick_results):
    execute_notebook("ntk_permutation.ipynb", quick_results[0], min_images=4)
