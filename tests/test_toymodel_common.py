"""Shared trainer machinery: divergence detection, user errors as ParameterError, and no retracing of the
jitted trainers (chex.assert_max_traces on each family's compiled chunk)."""

import warnings

import jax
import numpy as np
import pytest

from theory.common import ParameterError
from toymodels import deep_linear as dl
from toymodels.common import check_losses, divergence_monitor


def test_check_losses_flags_nonfinite_and_growth_only():
    healthy = np.array([[1.0, 0.5, 0.1], [2.0, 2.0, 1.9]])
    assert check_losses(healthy, "x") is None
    with pytest.warns(
        RuntimeWarning,
        match=r"training diverged \(x\): 1 of 2 runs, 1 with a non-finite loss "
        r"\(from record 2\)",
    ):
        check_losses(np.array([[1.0, 0.5, 0.1], [1.0, 3.0, np.nan]]), "x")
    with pytest.warns(RuntimeWarning):
        msg = check_losses(np.array([[1.0, 5.0, 11.0]]), "x", growth=10.0)  # 11 > 10 × 1
    assert msg is not None and "grew from 1 to 11" in msg
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside a monitor nothing is warned, the message is collected
        with divergence_monitor() as found:
            check_losses(np.array([np.inf, 1.0]), "y")
            check_losses(healthy, "z")
    assert len(found) == 1 and found[0].startswith("training diverged (y): 1 of 1 runs")


def _deep_linear_setup():
    task = dl.make_task(np.diag([3.0, 2.0]))
    params = dl.init_params(jax.random.key(0), (2, 5, 2), "gaussian", scale=0.1)
    return task, params


def test_deep_linear_divergence_is_reported():
    task, params = _deep_linear_setup()
    with pytest.warns(RuntimeWarning, match=r"training diverged \(deep linear GD\)"):
        dl.train(params, task, 1000.0, steps=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dl.train(params, task, 0.05, steps=30)  # a stable rate: no warning


def test_user_errors_are_parameter_errors():
    task, params = _deep_linear_setup()
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar for one network"):
        dl.train(params, task, np.array([0.1, 0.2]), steps=10)
    batch = jax.tree.map(lambda w: np.stack([w, w, w]), params)
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar or have shape \(3,\)"):
        dl.train(batch, task, np.array([0.1, 0.2]), steps=10)
    with pytest.raises(ParameterError, match="leading batch axis"):
        dl.job(params, task, 0.1, steps=10)
