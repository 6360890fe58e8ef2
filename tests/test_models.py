"""Each family's Flax module (flax.nnx): built and called on its own, its forward pass equals the model's
closed-form expression written out in NumPy (float64, to 1e-12 relative: the same products summed in another
order), its parameters are inspectable with the documented shapes, and its initial scale is the stated one.

Scale checks: the sample standard deviation of N Gaussian entries has relative error ≈ 1/√(2N); every check
below uses N ≥ 4000 entries, so 5 × that (≤ 0.056) bounds the tolerance from below; 0.08 is used."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from theory import ntk_permutation as thn
from toymodels import deep_linear as dl
from toymodels import ntk_permutation as ntk
from toymodels import streaming_parity as sp
from toymodels import superposition as sup

RTOL = 1e-12


def _np(x):
    return np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_autoencoder_forward_is_relu_of_WtWx_plus_b(activation):
    model = sup.Autoencoder(9, 3, activation=activation, init="liu", dtype=jnp.float64, rngs=nnx.Rngs(0))
    W, b = _np(model.W[...]), _np(model.b[...])
    assert W.shape == (3, 9) and b.shape == (9,) and np.any(b != 0)
    x = np.random.default_rng(0).uniform(0, 1, (5, 9))
    pre = x @ W.T @ W + b
    expected = np.maximum(pre, 0.0) if activation == "relu" else pre
    np.testing.assert_allclose(_np(model(jnp.asarray(x))), expected, rtol=RTOL, atol=1e-14)


def test_autoencoder_initial_scales_and_masked_width():
    m, n = 50, 200
    xav = sup.Autoencoder(n, m, dtype=jnp.float64, rngs=nnx.Rngs(1))
    assert abs(_np(xav.W[...]).std() / np.sqrt(2 / (n + m)) - 1) < 0.08 and np.all(_np(xav.b[...]) == 0)
    liu = sup.Autoencoder(n, m, init="liu", width=20, dtype=jnp.float64, rngs=nnx.Rngs(1))
    W = _np(liu.W[...])
    assert np.all(W[20:] == 0) and abs(W[:20].std() * np.sqrt(20) - 1) < 0.08
    assert abs(_np(liu.b[...]).std() - 1) < 0.2  # 200 entries: 1/√400 = 0.05, 4 sd


@pytest.mark.parametrize("scheme", ["gaussian", "scaled_gaussian", "orthogonal"])
def test_deep_linear_forward_is_the_product_of_its_layers(scheme):
    widths = (5, 7, 6, 4)
    model = dl.DeepLinear(widths, scheme, scale=0.7, dtype=jnp.float64, rngs=nnx.Rngs(2))
    Ws = [_np(w[...]) for w in model.layers]
    assert [w.shape for w in Ws] == [(7, 5), (6, 7), (4, 6)]
    x = np.random.default_rng(1).normal(size=(3, 5))
    np.testing.assert_allclose(_np(model(jnp.asarray(x))), x @ (Ws[2] @ Ws[1] @ Ws[0]).T, rtol=RTOL)


def test_deep_linear_decoupled_module_starts_at_the_stated_mode_strengths():
    task = dl.synthetic_task(jax.random.key(0), [3.0, 2.0, 1.0], 4, 3, dtype=jnp.float64)
    model = dl.DeepLinear(
        (4, 5, 5, 3), "decoupled", task=task, initial_strength=[0.1, 0.2, 0.3], dtype=jnp.float64, rngs=nnx.Rngs(3)
    )
    np.testing.assert_allclose(dl.mode_projections(model.weights(), task), [0.1, 0.2, 0.3], rtol=1e-12)
    scaled = dl.DeepLinear((400, 300), "scaled_gaussian", scale=2.0, dtype=jnp.float64, rngs=nnx.Rngs(3))
    assert abs(_np(scaled.layers[0][...]).std() * np.sqrt(400) / 2.0 - 1) < 0.08


@pytest.mark.parametrize("net", [thn.NTK_PARAMETERIZATION, thn.STANDARD_PARAMETERIZATION], ids=["ntk", "standard"])
def test_two_layer_relu_forward_in_both_parameterisations(net):
    k, n = 5, 800
    model = ntk.TwoLayerReLU(k, n, net=net, dtype=jnp.float64, rngs=nnx.Rngs(4))
    W1, W2 = _np(model.W1[...]), _np(model.W2[...])
    assert W1.shape == (n, k) and W2.shape == (k, n)
    x = _np(thn.normalize_inputs(thn.all_binary_inputs(k)))
    sw, sb = net.sigma_w, (0.0 if net.sigma_b is None else net.sigma_b)
    b1 = _np(model.b1[...]) if net.has_bias else 0.0
    b2 = _np(model.b2[...]) if net.has_bias else 0.0
    if net.parameterization == "ntk":
        expected = sw / np.sqrt(n) * np.maximum(sw / np.sqrt(k) * x @ W1.T + sb * b1, 0) @ W2.T + sb * b2
        assert abs(W1.std() - 1) < 0.08 and abs(W2.std() - 1) < 0.08  # every entry N(0, 1)
    else:
        expected = np.maximum(x @ W1.T + b1, 0) @ W2.T + b2
        assert abs(W1.std() * np.sqrt(k) / sw - 1) < 0.08 and abs(W2.std() * np.sqrt(n) / sw - 1) < 0.08
    np.testing.assert_allclose(_np(model(jnp.asarray(x))), expected, rtol=RTOL, atol=1e-14)


def test_elman_rnn_forward_is_the_recurrence():
    P, T = 6, 7
    model = sp.ElmanRNN(P, gain=0.8, initial_state=1.0, dtype=jnp.float64, rngs=nnx.Rngs(5))
    p = model.params()
    W_hh, W_xh, b_h, W_o, b_o = (_np(a) for a in p)
    assert W_hh.shape == (P, P) and W_xh.shape == (P, 2) and W_o.shape == (2, P)
    bits = np.random.default_rng(2).integers(0, 2, (4, T))
    h = np.ones((4, P))
    expected = []
    for t in range(T):
        h = np.tanh(h @ W_hh.T + W_xh[:, bits[:, t]].T + b_h)
        expected.append(h @ W_o.T + b_o)
    np.testing.assert_allclose(_np(model(jnp.asarray(bits))), np.stack(expected), rtol=RTOL, atol=1e-14)
    # the module's weights round-trip through the closed-form layout
    back = sp.to_params(sp.from_params(p))
    for a, b in zip(back, p, strict=True):
        np.testing.assert_array_equal(a, b)


def test_elman_rnn_xavier_gain():
    P, gain = 400, 0.1
    W_hh = _np(sp.ElmanRNN(P, gain=gain, dtype=jnp.float64, rngs=nnx.Rngs(6)).params().W_hh)
    assert abs(W_hh.std() / (gain * np.sqrt(2 / (2 * P))) - 1) < 0.08
