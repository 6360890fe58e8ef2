"""The ensemble engine (toymodels.engine) on a small family defined here, and each real family's compiled chunk
tracing once.

The test family is noisy scalar regression: each step draws a batch x ~ N(0, 1), y = a·x, and takes one SGD step
on w with the mean squared error. Its exact expected dynamics are not needed: the tests compare the engine with
itself under chunking, grouping, padding, sweeps and resume (which must agree to float rounding) and with a plain
Python loop over the same step function for one model (which must agree exactly)."""

import dataclasses
from dataclasses import dataclass

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toymodels
from theory.common import ParameterError
from toymodels import engine


@dataclass(frozen=True)
class Regression(engine.Family):
    batch: int = 8
    label = "regression"

    def init(self, key, setting, shared):
        k_w, k_data = jax.random.split(key)
        return {"params": {"w": 0.1 * jax.random.normal(k_w, ())}, "key": k_data}

    def step(self, state, setting, shared):
        key, sub = jax.random.split(state["key"])
        x = jax.random.normal(sub, (self.batch,))
        w = state["params"]["w"]
        loss = jnp.mean((w * x - setting["a"] * x) ** 2)
        grad = jnp.mean(2 * (w * x - setting["a"] * x) * x)
        return {"params": {"w": w - setting["lr"] * grad}, "key": key}, loss

    def record(self, state, setting, shared, block):
        rec = {"w": state["params"]["w"]}
        if block is not None:
            rec.update(loss=block.mean, last=block.last)
        return rec

    def reduce(self, records, valid):
        w = records["w"]  # (block, n_records)
        v = valid[:, None].astype(w.dtype)
        return records, {"sum_w": jnp.sum(v * w, axis=0)[None], "count": jnp.sum(v)[None] * jnp.ones_like(w[:1])}


def _job(n=5, steps=12, n_records=3, **kw):
    settings = {"a": jnp.linspace(0.5, 1.5, n), "lr": jnp.full(n, 0.1)}
    return engine.Job(Regression(), settings, steps, n_records, **kw)


def _loop(key, setting, steps, every):
    """One model by a Python loop over the family's own step (the reference)."""
    fam = Regression()
    state = fam.init(key, setting, None)
    ws, losses, lasts, acc = [], [], [], []
    for t in range(steps):
        state, loss = fam.step(state, setting, None)
        acc.append(float(loss))
        if (t + 1) % every == 0:
            ws.append(float(state["params"]["w"]))
            losses.append(np.mean(acc))
            lasts.append(acc[-1])
            acc = []
    return np.array(ws), np.array(losses), np.array(lasts)


def test_engine_equals_a_loop_of_single_models_with_block_mean_and_last():
    job = _job()
    res = engine.train(job, jax.random.key(3))
    chex.assert_shape(res.records["w"], (5, 3))
    np.testing.assert_array_equal(res.steps, [4, 8, 12])
    keys = engine.model_keys(jax.random.key(3), np.arange(5))
    for i in range(5):
        ws, losses, lasts = _loop(keys[i], jax.tree.map(lambda x, i=i: x[i], job.settings), 12, 4)
        np.testing.assert_allclose(res.records["w"][i], ws, rtol=1e-12)
        np.testing.assert_allclose(res.records["loss"][i], losses, rtol=1e-12)
        np.testing.assert_allclose(res.records["last"][i], lasts, rtol=1e-12)
    assert not np.allclose(res.records["loss"][0], res.records["last"][0])  # mean and last are different records


def test_keys_follow_the_model_index_not_the_chunking_grouping_or_ids():
    whole = engine.train(_job(), jax.random.key(0))
    grouped = engine.train(_job(), jax.random.key(0), group=2, records_per_chunk=1)
    np.testing.assert_allclose(grouped.records["w"], whole.records["w"], rtol=1e-12)
    tail = engine.train(_job().slice(2, 5), jax.random.key(0))
    np.testing.assert_allclose(tail.records["w"], whole.records["w"][2:], rtol=1e-12)
    shared_ids = engine.train(_job(ids=np.zeros(5, int)), jax.random.key(0))
    w0 = shared_ids.records["w"]
    assert not np.allclose(w0[0], w0[1])  # same key but different settings (a)
    same = engine.train(
        engine.Job(Regression(), {"a": jnp.ones(3), "lr": jnp.full(3, 0.1)}, 12, 3, ids=[7, 7, 7]), jax.random.key(0)
    )
    np.testing.assert_array_equal(same.records["w"][0], same.records["w"][2])  # same id and setting: same model
    other = engine.train(_job(), jax.random.key(1))
    assert not np.allclose(other.records["w"], whole.records["w"])


def test_reduce_sees_only_real_models_when_padded():
    """5 models in groups of 2 are padded to 6; the padded copy must not enter the block statistics."""
    res = engine.train(_job(), jax.random.key(0), group=2)
    assert res.stats["count"].shape == (3, 3)  # 3 blocks × 3 records
    np.testing.assert_allclose(res.stats["count"].sum(axis=0), 5.0)
    np.testing.assert_allclose(res.stats["sum_w"].sum(axis=0), res.records["w"].sum(axis=0), rtol=1e-12)


@dataclass(frozen=True)
class StateOnly(Regression):
    def record(self, state, setting, shared, block):
        return {"w": state["params"]["w"]}


def test_initial_record_and_finish():
    job = _job(record_initial=True, finish=lambda r: r._replace(info={"done": True}))
    with pytest.raises(ParameterError, match="same records with block=None"):
        engine.train(job, jax.random.key(0))  # Regression's records use the block, absent at step 0
    res = engine.train(engine.Job(StateOnly(), job.settings, 12, 3, record_initial=True), jax.random.key(0))
    ref = engine.train(engine.Job(StateOnly(), job.settings, 12, 3), jax.random.key(0))
    np.testing.assert_array_equal(res.steps, [0, 4, 8, 12])
    np.testing.assert_array_equal(res.records["w"][:, 1:], ref.records["w"])
    keys = engine.model_keys(jax.random.key(0), np.arange(5))
    np.testing.assert_array_equal(
        res.records["w"][:, 0], [StateOnly().init(k, None, None)["params"]["w"] for k in keys]
    )
    assert engine.train(dataclasses.replace(job, family=StateOnly()), jax.random.key(0)).info == {"done": True}


@dataclass(frozen=True)
class PerModel(Regression):
    """The same family without statistics across models, whose chunks a sweep can merge."""

    def reduce(self, records, valid):
        return records, None


def test_sweep_equals_one_call_and_resumes(tmp_path):
    with pytest.raises(ParameterError, match="pass outputs="):  # statistics across models do not merge over chunks
        engine.sweep(_job(n=7), jax.random.key(2), max_batch=3)
    job = dataclasses.replace(_job(n=7), family=PerModel())
    whole = engine.train(job, jax.random.key(2))
    parts = engine.sweep(job, jax.random.key(2), max_batch=3, work_dir=tmp_path)
    np.testing.assert_allclose(parts.records["w"], whole.records["w"], rtol=1e-12)
    np.testing.assert_allclose(parts.params["w"], whole.params["w"], rtol=1e-12)
    assert len(list((tmp_path / "sweep").glob("*.npz"))) == 3
    logged = []
    again = engine.sweep(job, jax.random.key(2), max_batch=3, work_dir=tmp_path, log=logged.append)
    np.testing.assert_array_equal(again.records["w"], parts.records["w"])
    assert "3 of 3 chunk(s) already on disk" in logged[0]
    kept = engine.sweep(job, jax.random.key(2), max_batch=3, outputs=lambda r: {"w_end": r.params["w"]})
    np.testing.assert_allclose(kept["w_end"], whole.params["w"], rtol=1e-12)


def test_bad_jobs_name_the_parameter():
    with pytest.raises(ParameterError, match="multiple of n_records"):
        engine.train(_job(steps=10, n_records=3), jax.random.key(0))
    with pytest.raises(ParameterError, match="same leading model axis"):
        engine.train(engine.Job(Regression(), {"a": jnp.ones(3), "lr": jnp.ones(2)}, 4, 2), jax.random.key(0))
    with pytest.raises(ParameterError, match="ids must have shape"):
        engine.train(_job(ids=[0, 1]), jax.random.key(0))
    with pytest.raises(ParameterError, match="key must be one PRNG key"):
        engine.train(_job(), jax.random.split(jax.random.key(0), 5))


# --------------------------------------------------------------------------------------------------------------
# every family's compiled chunk (its example job, found by discovery) traces once for new values of the same shapes
# --------------------------------------------------------------------------------------------------------------
FAMILIES = toymodels.families()


def _perturbed(job: engine.Job, factor: float) -> engine.Job:
    """The same job with every floating-point setting scaled: new values, same shapes and statics."""
    scale = lambda x: x * factor if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x
    return dataclasses.replace(job, settings=jax.tree.map(scale, job.settings))


def _count_traces(monkeypatch):
    """Replace the engine's jitted chunk by the same function under chex.assert_max_traces(n=1)."""
    counted = jax.jit(
        chex.assert_max_traces(engine._chunk.__wrapped__, n=1),
        static_argnames=("family", "placement", "n_records", "every"),
        donate_argnums=(0,),
    )
    monkeypatch.setattr(engine, "_chunk", counted)
    chex.clear_trace_counter()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_traces_its_chunk_once(family, monkeypatch):
    job = FAMILIES[family].example_job()
    _count_traces(monkeypatch)
    for seed, factor in ((0, 1.0), (1, 0.999)):  # new keys and setting values, same shapes and statics: no retrace
        engine.train(_perturbed(job, factor), jax.random.key(seed), devices=1)


def test_the_trace_counter_has_teeth(monkeypatch):
    _count_traces(monkeypatch)
    engine.train(_job(n=5), jax.random.key(0))
    with pytest.raises(AssertionError, match="traced"):
        engine.train(_job(n=6), jax.random.key(0))  # a new shape retraces
