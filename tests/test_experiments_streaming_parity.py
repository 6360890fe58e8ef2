"""Every streaming-parity experiment at quick size: all checks pass; the notebook executes.

Each check's description (experiments/streaming_parity.py) gives its tolerance's derivation, or says where it
is a margin or a definition (the 0.5 transition point).
"""

import pytest
from conftest import assert_contract, execute_notebook, quick_results_fixture

NAMES = ("parity_transition", "parity_automaton", "parity_merger")

quick_results = quick_results_fixture(NAMES, "parity_results")


@pytest.mark.parametrize("name", NAMES)
def test_quick_experiment_checks_pass(quick_results, name):
    out, summaries = quick_results
    assert_contract(out, summaries[name], min_checks=3)


def test_notebook_executes(quick_results):
    execute_notebook("streaming_parity.ipynb", quick_results[0], min_images=3)
