"""Shared trainer machinery: divergence detection, user errors as ParameterError, and no retracing of the
jitted trainers (chex.assert_max_traces on each family's compiled chunk)."""

import warnings

import chex
import jax
import numpy as np
import pytest

from theory.common import ParameterError
from toymodels import deep_linear as dl
from toymodels import ntk_permutation as ntk
from toymodels import streaming_parity as sp
from toymodels import superposition as sup
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
        dl.train(params, task, 1000.0, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dl.train(params, task, 0.05, 30)  # a stable rate: no warning


def test_user_errors_are_parameter_errors():
    task, params = _deep_linear_setup()
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar for train.*shape \(2,\)"):
        dl.train(params, task, np.array([0.1, 0.2]), 10)
    batch = jax.tree.map(lambda w: np.stack([w, w, w]), params)
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar or have shape \(3,\)"):
        dl.train_batch(batch, task, np.array([0.1, 0.2]), 10)
    with pytest.raises(ParameterError, match="leading batch axis"):
        dl.train_batch(params, task, 0.1, 10)


def _counted(module, name, static, monkeypatch, **jit_kwargs):
    """Replace module.name (a jitted function) by the same function wrapped in chex.assert_max_traces(n=1)."""
    counted = jax.jit(
        chex.assert_max_traces(getattr(module, name).__wrapped__, n=1), static_argnames=static, **jit_kwargs
    )
    monkeypatch.setattr(module, name, counted)
    chex.clear_trace_counter()


def test_deep_linear_trainer_traces_once(monkeypatch):
    _counted(dl, "_train_chunk", ("n_records", "record_every", "placement"), monkeypatch)
    task, params = _deep_linear_setup()
    for lr, key in ((0.05, 0), (0.02, 1), (0.01, 2)):  # new values, same shapes and statics: no retrace
        params = dl.init_params(jax.random.key(key), (2, 5, 2), "gaussian", scale=0.1)
        dl.train(params, task, lr, 20, record_every=2)
    with pytest.raises(AssertionError, match="traced"):  # the counter has teeth: a new shape retraces
        dl.train(dl.init_params(jax.random.key(0), (2, 6, 2), "gaussian", scale=0.1), task, 0.05, 20, record_every=2)


def test_superposition_trainer_traces_once(monkeypatch):
    _counted(sup, "_chunk_all", ("static", "n_records", "placement"), monkeypatch, donate_argnums=(0,))
    imp = 0.9 ** np.arange(6)
    for key, p in ((0, 0.1), (1, 0.3)):
        sup.train_instances(
            jax.random.key(key),
            importance=imp,
            probabilities=np.full(6, p),
            m=2,
            steps=20,
            batch_size=32,
            n_records=2,
            devices=1,
            group=None,
        )


def test_ntk_trainer_traces_once(monkeypatch):
    _counted(ntk, "_train_chunk", ("net", "n_records", "record_every", "lr", "placement"), monkeypatch)
    for key in (0, 1, 2):
        ntk.train_ensemble(
            jax.random.key(key),
            np.array([1, 2, 0]),
            members=3,
            width=16,
            steps=20,
            n_records=2,
            learning_rate=0.5,
            devices=1,
        )


def test_streaming_parity_trainer_traces_once(monkeypatch):
    _counted(
        sp, "_chunk", ("cfg", "max_length", "record_every", "n_records", "record_prefix", "placement"), monkeypatch
    )
    cfg = sp.RNNConfig(hidden=8)
    for key in (0, 1):
        sp.train(jax.random.key(key), (2, 3), cfg, seeds=2, steps=20, record_every=10, devices=1)
