"""Every registered experiment at quick size, found by discovery: its checks pass, its outputs follow the contract,
``plot`` redraws the very same figures from the saved arrays, and each family's notebook executes.

The tolerances are derived inside the experiments (each check's description states the derivation or the measured
spread); here every check must pass. No list of families or experiments appears here: a new family's experiments
and notebook are picked up by themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_contract, execute_notebook

import experiments
from experiments.contract import plot_experiment

REGISTRY = experiments.load_all()
NAMES = sorted(REGISTRY)
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
SLOW = pytest.mark.slow  # quick sizes that take minutes: run by `make test-slow-experiments`, not `make test`


def family_of(name: str) -> str:
    """The family package an experiment is registered from (``experiments.F...`` → ``F``)."""
    return REGISTRY[name].run.__module__.split(".")[1]


def _params(names, slow):
    return [pytest.param(n, marks=SLOW) if slow(n) else n for n in names]


EXPERIMENTS = _params(NAMES, lambda n: REGISTRY[n].slow)
# a notebook shows every experiment of its family, so it is slow when one of them is
FAMILY_NOTEBOOKS = _params(NOTEBOOKS, lambda nb: any(REGISTRY[n].slow for n in NAMES if family_of(n) == Path(nb).stem))


@pytest.fixture(scope="session")
def quick_out(tmp_path_factory):
    """One results folder for the whole test run; each experiment runs at most once into it."""
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def summaries(quick_out):
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = experiments.run_experiment(name, quick=True, out_dir=quick_out, seed=0)
        return cache[name]

    return get


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_experiment_checks_pass(quick_out, summaries, name):
    assert_contract(quick_out, summaries(name), min_checks=3)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_plot_redraws_the_same_figures(quick_out, summaries, name, tmp_path):
    import matplotlib.image

    summary = summaries(name)
    assert REGISTRY[name].figures is not None, f"{name}: figures must be drawn by figures(arrays, config)"
    paths = plot_experiment(name, quick_out, tmp_path)
    assert sorted(p.name for p in paths) == sorted(summary["figures"])
    for path in paths:
        redrawn, stored = matplotlib.image.imread(path), matplotlib.image.imread(Path(quick_out) / name / path.name)
        assert redrawn.shape == stored.shape and np.array_equal(redrawn, stored), f"{name}/{path.name} differs"


def test_every_experiment_belongs_to_a_notebook():
    families = {family_of(n) for n in NAMES}
    assert families == {Path(nb).stem for nb in NOTEBOOKS}


@pytest.mark.parametrize("notebook", FAMILY_NOTEBOOKS)
def test_notebook_executes(quick_out, summaries, notebook):
    """The notebook reuses the quick runs above and shows at least every figure of its family's experiments."""
    family = Path(notebook).stem
    figures = sum(len(summaries(n)["figures"]) for n in NAMES if family_of(n) == family)
    execute_notebook(notebook, quick_out, min_images=figures)
