"""Live neural-tangents (the pinned oracle environment, ``make test-oracle``): the closed-form kernels and
``predict.gradient_descent_mse_ensemble`` of :mod:`theory.ntk_permutation`, and the empirical NTK of
:mod:`toymodels.ntk_permutation` against ``empirical_ntk_fn``, in float64 on fresh inputs; then the committed
golden files against freshly regenerated values.

Tolerances: the same arc-cosine formulas in float64 on both sides, so only round-off (~1e-16 per operation)
differs; 1e-12 is a safe bound for kernels and for the k × k solves (condition number < 4).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.ntk_permutation import oracle
from theory import ntk_permutation as th
from toymodels import ntk_permutation as tm

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def nt():
    module = oracle.import_neural_tangents()
    if module is None:
        pytest.fail("neural-tangents is not importable: run these tests in the oracle environment (make test-oracle)")
    return module


@pytest.mark.parametrize("name", list(oracle.GP_CASES))
def test_kernels_and_gp_match_neural_tangents(nt, name):
    par, w_std, b_std, width = oracle.GP_CASES[name]
    net = th.Network(par, w_std, b_std, width if par == "standard" else None)
    k = 6
    perm = np.array([1, 3, 5, 0, 2, 4])  # not the golden permutation: fresh inputs
    x = th.all_binary_inputs(k)
    xn = np.asarray(th.normalize_inputs(x))
    xr = np.random.default_rng(1).normal(size=(5, k))
    kf = oracle.nt_kernel_fn(par, w_std, b_std, width, k)
    ref = kf(np.vstack([xn, xr]), None, ("nngp", "ntk"))
    mine = th.kernels(np.vstack([xn, xr]), net=net)
    assert np.max(np.abs(np.asarray(ref.nngp) - mine.nngp)) <= 1e-12 * np.max(np.abs(mine.nngp))
    assert np.max(np.abs(np.asarray(ref.ntk) - mine.ntk)) <= 1e-12 * np.max(np.abs(mine.ntk))
    X, Y = th.training_set(perm)
    predict = nt.predict.gradient_descent_mse_ensemble(
        kf, np.asarray(X), np.asarray(Y), learning_rate=1.0, diag_reg=0.0
    )
    for t in (None, 2.0, 50.0):
        g = predict(t=t, x_test=xn, get="ntk", compute_cov=True)
        np.testing.assert_allclose(
            np.asarray(g.mean), th.gp_mean(x, perm, net=net, t=t, learning_rate=1.0), rtol=0, atol=1e-12
        )
        np.testing.assert_allclose(
            np.asarray(g.covariance), th.gp_covariance(x, net=net, t=t, learning_rate=1.0), rtol=0, atol=1e-12
        )


def test_standard_limit_is_nngp_posterior(nt):
    k, perm = 5, np.array([2, 3, 4, 0, 1])
    x = th.all_binary_inputs(k)
    X, Y = th.training_set(perm)
    post = nt.predict.gradient_descent_mse_ensemble(
        oracle.nt_kernel_fn("ntk", 1.0, None, 8, k), np.asarray(X), np.asarray(Y), diag_reg=0.0
    )(t=None, x_test=np.asarray(th.normalize_inputs(x)), get="nngp", compute_cov=True)
    np.testing.assert_allclose(
        np.asarray(post.mean), th.gp_mean(x, perm, net=th.STANDARD_PARAMETERIZATION), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(post.covariance), th.gp_covariance(x, net=th.STANDARD_PARAMETERIZATION), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("par", ["ntk", "standard"])
def test_empirical_ntk_matches_neural_tangents(nt, par):
    k, n = 5, 48
    net = th.Network(par, 1.0, None)
    p = tm.init_params(jax.random.key(11), k, n, net=net, dtype=jnp.float64)
    stax = nt.stax
    _, apply_fn, _ = stax.serial(
        stax.Dense(n, W_std=1.0, b_std=None, parameterization=par),
        stax.Relu(),
        stax.Dense(k, W_std=1.0, b_std=None, parameterization=par),
    )
    x = np.asarray(th.normalize_inputs(th.all_binary_inputs(k)))
    ref = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0)(x, None, [(p.W1.T, None), (), (p.W2.T, None)])
    np.testing.assert_allclose(np.asarray(tm.empirical_ntk(p, x, net=net)), np.asarray(ref), rtol=0, atol=1e-12)


def test_committed_golden_files_equal_fresh_values(nt):
    problems = oracle.compare_golden(oracle.compute_golden())
    assert not problems, problems
