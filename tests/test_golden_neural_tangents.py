"""The closed forms against neural-tangents' stored outputs (experiments/ntk_permutation/golden/, written by the oracle
environment: ``make test-oracle``), so the oracle is exercised without neural-tangents installed.

Tolerances as in the live comparison: both sides evaluate the same formulas in float64, so only round-off
(≈1e-16 per operation) differs; 1e-12 relative to the largest entry leaves four orders of magnitude, and the k × k
solves of the GP have condition number < 4.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ntk_permutation import oracle
from theory import ntk_permutation as th
from toymodels import ntk_permutation as tm


def _net(case):
    par, w_std, b_std, width = case
    return th.Network(par, w_std, b_std, width if par == "standard" else None)


def _close(mine, ref, rtol=1e-12):
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.shape == ref.shape
    assert np.max(np.abs(mine - ref)) <= rtol * max(np.max(np.abs(ref)), 1e-300)


def test_golden_files_carry_their_provenance():
    for name in oracle.GOLDEN_FILES:
        label = oracle.golden_label(oracle.load_golden(name))
        assert label.startswith("neural-tangents 0.6.5, jax 0.5.3"), label


@pytest.mark.parametrize("case", oracle.KERNEL_CASES, ids=lambda c: f"k{c[0]}")
def test_kernels_match_golden(case):
    k, width, n_gauss = case
    data = oracle.load_golden("kernels")
    x = data[f"k{k}_x"]
    np.testing.assert_array_equal(x, oracle.kernel_inputs(k, n_gauss))  # the inputs are rebuilt identically
    for tag, net in {"A": th.NTK_PARAMETERIZATION, "B": th.STANDARD_PARAMETERIZATION.with_width(width)}.items():
        mine = th.kernels(x, net=net)
        _close(mine.nngp, data[f"k{k}_{tag}_nngp"])
        _close(mine.ntk, data[f"k{k}_{tag}_ntk"])


@pytest.mark.parametrize("name", list(oracle.GP_CASES))
def test_gp_mean_and_covariance_match_golden(name):
    data = oracle.load_golden("gp")
    net = _net(oracle.GP_CASES[name])
    x = th.all_binary_inputs(oracle.GP_K)
    np.testing.assert_array_equal(data["x"], np.asarray(th.normalize_inputs(x)))
    for i, t in enumerate(data["times"]):
        t = None if np.isinf(t) else float(t)
        mu = th.gp_mean(x, np.array(oracle.GP_PERM), net=net, t=t, learning_rate=1.0)
        cov = th.gp_covariance(x, net=net, t=t, learning_rate=1.0)
        np.testing.assert_allclose(mu, data[f"{name}_t{i}_mean"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(cov, data[f"{name}_t{i}_cov"], rtol=0, atol=1e-12)


def test_standard_limit_is_the_nngp_posterior_golden():
    # (B) at n → ∞ with σ_b = 0: Θ ∝ K, so the trained ensemble is the Bayesian NNGP posterior (docs/families/ntk_permutation.md §5, §10).
    data = oracle.load_golden("gp")
    x = th.all_binary_inputs(oracle.POSTERIOR_K)
    perm = np.array(oracle.POSTERIOR_PERM)
    np.testing.assert_allclose(
        th.gp_mean(x, perm, net=th.STANDARD_PARAMETERIZATION), data["posterior_mean"], rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        th.gp_covariance(x, net=th.STANDARD_PARAMETERIZATION), data["posterior_cov"], rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("par", ["ntk", "standard"])
def test_empirical_ntk_matches_golden(par):
    data = oracle.load_golden("empirical")
    params = tm.Params(jnp.asarray(data[f"{par}_W1"]), jnp.asarray(data[f"{par}_W2"]), None, None)
    mine = tm.empirical_ntk(params, data["x"], net=th.Network(par, 1.0, None))
    np.testing.assert_allclose(np.asarray(mine), data[f"{par}_ntk"], rtol=0, atol=1e-12)


def test_golden_comparison_detects_a_change(tmp_path):
    # compare_golden (what `make test-oracle` runs on fresh values) must flag a perturbed entry and a missing array.
    fresh = {name: oracle.load_golden(name) for name in oracle.GOLDEN_FILES}
    assert oracle.compare_golden(fresh) == []
    bumped = dict(fresh["gp"])
    bumped["A_t0_mean"] = bumped["A_t0_mean"] + 1e-9
    del bumped["posterior_cov"]
    problems = oracle.compare_golden({"gp": bumped})
    assert any("A_t0_mean" in p for p in problems) and any("posterior_cov" in p for p in problems)
