"""neural-tangents as the independent oracle of the NTK closed forms: live when importable, else golden files.

neural-tangents 0.6.5 (its last release) imports only with jax < 0.6, so it is not a dependency of the toolkit.
It lives in a pinned environment of its own (``oracle/requirements.txt``, built by ``make test-oracle``), where

* the tests marked ``oracle`` compare the closed forms of :mod:`theory.ntk_permutation` and the empirical NTK of
  :mod:`toymodels.ntk_permutation` with neural-tangents directly, and
* ``python -m tools.neural_tangents_golden`` regenerates neural-tangents' outputs on fixed inputs and parameters
  (:func:`compute_golden`) and compares them with the committed files in ``experiments/ntk_permutation/golden/`` (``--write``
  replaces them).

Everywhere else the committed files stand in for the oracle: the default tests compare the closed forms with them,
and ``ntk_kernel_agreement`` uses them when neural-tangents cannot be imported (its summary says which).

neural-tangents' ``__init__`` imports ``neural_tangents.experimental`` (a TensorFlow bridge, which needs
TensorFlow and tf2jax). Nothing used here touches it (``stax``, ``predict``, ``empirical_ntk_fn``), so where
TensorFlow is absent :func:`import_neural_tangents` registers an empty placeholder module under that one name
before importing; any use of the bridge then fails with an AttributeError naming it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np

__all__ = [
    "GOLDEN_DIR",
    "GOLDEN_FILES",
    "KERNEL_CASES",
    "GP_CASES",
    "import_neural_tangents",
    "nt_kernel_fn",
    "load_golden",
    "golden_label",
    "compute_golden",
    "compare_golden",
]

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
#: name → file of each golden set
GOLDEN_FILES = {
    "kernels": "neural_tangents_kernels.npz",
    "gp": "neural_tangents_gp.npz",
    "empirical": "neural_tangents_empirical.npz",
}

#: (k, width of the standard-parameterisation reference, Gaussian inputs): ntk_kernel_agreement at quick and full size
KERNEL_CASES = ((6, 4096, 8), (8, 16384, 8))
#: name → (parameterisation, σ_w, σ_b, width) of the GP comparisons (both parameterisations, with and without bias)
GP_CASES = {
    "A": ("ntk", 1.0, None, 512),
    "A_bias": ("ntk", 1.3, 0.4, 512),
    "B_n5000": ("standard", 1.0, 0.0, 5000),
    "B_nobias": ("standard", 0.8, None, 300),
}
GP_K, GP_PERM, GP_TIMES = 6, (2, 0, 5, 1, 3, 4), (np.inf, 2.0, 50.0)  # t = inf: the t → ∞ limit
POSTERIOR_K, POSTERIOR_PERM = 5, (3, 4, 0, 2, 1)
EMPIRICAL_K, EMPIRICAL_WIDTH, EMPIRICAL_SEED = 4, 32, 5

_MODULE: types.ModuleType | None = None


def import_neural_tangents() -> types.ModuleType | None:
    """The ``neural_tangents`` module, or ``None`` where it cannot be imported (the default environment)."""
    global _MODULE
    if _MODULE is not None:
        return _MODULE
    if importlib.util.find_spec("neural_tangents") is None:
        return None
    if importlib.util.find_spec("tensorflow") is None and "neural_tangents.experimental" not in sys.modules:
        placeholder = types.ModuleType("neural_tangents.experimental")
        placeholder.__doc__ = "placeholder: neural-tangents' TensorFlow bridge needs TensorFlow, which is absent"
        sys.modules["neural_tangents.experimental"] = placeholder
    try:
        import neural_tangents
    except Exception:  # noqa: BLE001 - an incompatible jax raises anything from ImportError to AttributeError
        return None
    _MODULE = neural_tangents
    return _MODULE


def _net(parameterization: str, sigma_w: float, sigma_b: float | None, width: int | None = None):
    from theory import ntk_permutation as th

    return th.Network(parameterization, sigma_w, sigma_b, width)


def nt_kernel_fn(parameterization: str, sigma_w: float, sigma_b: float | None, width: int, k: int):
    """neural-tangents' analytic ``kernel_fn`` of the k → width → k ReLU network."""
    nt = import_neural_tangents()
    if nt is None:
        raise ModuleNotFoundError("neural-tangents is not importable here; build the oracle env: make test-oracle")
    stax = nt.stax
    return stax.serial(
        stax.Dense(width, W_std=sigma_w, b_std=sigma_b, parameterization=parameterization),
        stax.Relu(),
        stax.Dense(k, W_std=sigma_w, b_std=sigma_b, parameterization=parameterization),
    )[2]


# ----------------------------------------------------------------------------------------------
# the golden inputs (built from the same few lines on both sides, and stored with the outputs)
# ----------------------------------------------------------------------------------------------
def kernel_inputs(k: int, n_gaussian: int) -> np.ndarray:
    """All 2^k − 1 normalised nonzero binary inputs, then ``n_gaussian`` fixed Gaussian ones (numpy seed k)."""
    from theory import ntk_permutation as th

    xb = np.asarray(th.normalize_inputs(th.all_binary_inputs(k)), np.float64)
    xg = np.random.default_rng(k).normal(size=(n_gaussian, k))
    return np.vstack([xb, xg])


def _meta() -> np.ndarray:
    from importlib import metadata

    versions = {}
    for pkg in ("neural-tangents", "jax", "jaxlib", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return np.array(json.dumps(versions, sort_keys=True))


def compute_golden() -> dict[str, dict[str, np.ndarray]]:
    """neural-tangents' outputs on the golden inputs, in float64: ``{set name: {array name: array}}``.

    Needs neural-tangents (the oracle environment). Sets:

    * ``kernels``: NNGP and NTK of both parameterisations on :func:`kernel_inputs` for each of
      :data:`KERNEL_CASES` (the standard parameterisation at that case's width);
    * ``gp``: ``predict.gradient_descent_mse_ensemble`` mean and covariance on all 2^6 − 1 inputs for each of
      :data:`GP_CASES` at t ∈ {∞, 2, 50} (learning rate 1), and the NNGP posterior (``get='nngp'``);
    * ``empirical``: ``empirical_ntk_fn`` of one network per parameterisation (k = 4, n = 32), with its weights.
    """
    import jax

    nt = import_neural_tangents()
    if nt is None:
        raise ModuleNotFoundError("neural-tangents is not importable here; build the oracle env: make test-oracle")
    if not jax.config.jax_enable_x64:
        raise RuntimeError("compute_golden needs float64: enable jax_enable_x64 first")
    out: dict[str, dict[str, np.ndarray]] = {name: {"meta": _meta()} for name in GOLDEN_FILES}
    out["kernels"].update(_golden_kernels())
    out["gp"].update(_golden_gp(nt))
    out["empirical"].update(_golden_empirical(nt))
    return out


def _golden_kernels() -> dict[str, np.ndarray]:
    out = {}
    for k, width, n_gauss in KERNEL_CASES:
        x = kernel_inputs(k, n_gauss)
        out[f"k{k}_x"] = x
        out[f"k{k}_width"] = np.array(width)
        for tag, (par, w_std, b_std) in {"A": ("ntk", 1.0, None), "B": ("standard", 1.0, 0.0)}.items():
            kern = nt_kernel_fn(par, w_std, b_std, width, k)(x, None, ("nngp", "ntk"))
            out[f"k{k}_{tag}_nngp"] = np.asarray(kern.nngp, np.float64)
            out[f"k{k}_{tag}_ntk"] = np.asarray(kern.ntk, np.float64)
    return out


def _golden_gp(nt) -> dict[str, np.ndarray]:
    from theory import ntk_permutation as th

    gp = {}
    x = np.asarray(th.normalize_inputs(th.all_binary_inputs(GP_K)), np.float64)
    X, Y = (np.asarray(a, np.float64) for a in th.training_set(np.array(GP_PERM)))
    gp["x"], gp["times"] = x, np.asarray(GP_TIMES)
    for name, (par, w_std, b_std, width) in GP_CASES.items():
        predict = nt.predict.gradient_descent_mse_ensemble(
            nt_kernel_fn(par, w_std, b_std, width, GP_K), X, Y, learning_rate=1.0, diag_reg=0.0
        )
        for i, t in enumerate(GP_TIMES):
            g = predict(t=None if np.isinf(t) else t, x_test=x, get="ntk", compute_cov=True)
            gp[f"{name}_t{i}_mean"] = np.asarray(g.mean, np.float64)
            gp[f"{name}_t{i}_cov"] = np.asarray(g.covariance, np.float64)
    xp = np.asarray(th.normalize_inputs(th.all_binary_inputs(POSTERIOR_K)), np.float64)
    Xp, Yp = (np.asarray(a, np.float64) for a in th.training_set(np.array(POSTERIOR_PERM)))
    post = nt.predict.gradient_descent_mse_ensemble(
        nt_kernel_fn("ntk", 1.0, None, 8, POSTERIOR_K), Xp, Yp, diag_reg=0.0
    )(t=None, x_test=xp, get="nngp", compute_cov=True)
    gp["posterior_x"], gp["posterior_mean"] = xp, np.asarray(post.mean, np.float64)
    gp["posterior_cov"] = np.asarray(post.covariance, np.float64)
    return gp


def _golden_empirical(nt) -> dict[str, np.ndarray]:
    import jax

    from theory import ntk_permutation as th
    from toymodels import ntk_permutation as tm

    emp = {}
    k, n = EMPIRICAL_K, EMPIRICAL_WIDTH
    x = np.asarray(th.normalize_inputs(th.all_binary_inputs(k)), np.float64)
    emp["x"] = x
    for par in ("ntk", "standard"):
        net = _net(par, 1.0, None)
        p = tm.init_params(jax.random.key(EMPIRICAL_SEED), k, n, net=net, dtype=np.float64)
        stax = nt.stax
        _, apply_fn, _ = stax.serial(
            stax.Dense(n, W_std=1.0, b_std=None, parameterization=par),
            stax.Relu(),
            stax.Dense(k, W_std=1.0, b_std=None, parameterization=par),
        )
        # neural-tangents stores W as (fan_in, fan_out) and applies its own scaling: NTK mode multiplies by
        # W_std/√fan_in (as ours does); standard mode samples W with s.d. W_std/√fan_in (ours holds those values).
        nt_params = [(p.W1.T, None), (), (p.W2.T, None)]
        ref = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0)(x, None, nt_params)
        emp[f"{par}_W1"], emp[f"{par}_W2"] = np.asarray(p.W1, np.float64), np.asarray(p.W2, np.float64)
        emp[f"{par}_ntk"] = np.asarray(ref, np.float64)
    return emp


# ----------------------------------------------------------------------------------------------
# the committed files
# ----------------------------------------------------------------------------------------------
def load_golden(name: str, folder: str | Path | None = None) -> dict[str, np.ndarray]:
    """The committed golden set ``name`` (one of :data:`GOLDEN_FILES`) as ``{array name: array}``."""
    if name not in GOLDEN_FILES:
        raise ValueError(f"name must be one of {sorted(GOLDEN_FILES)}; got {name!r}")
    path = Path(folder or GOLDEN_DIR) / GOLDEN_FILES[name]
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def golden_label(data: dict[str, np.ndarray]) -> str:
    """'neural-tangents X, jax Y' of the environment that wrote a golden set."""
    meta = json.loads(str(data["meta"]))
    return f"neural-tangents {meta.get('neural-tangents')}, jax {meta.get('jax')}"


def compare_golden(
    fresh: dict[str, dict[str, np.ndarray]], folder: str | Path | None = None, rtol: float = 1e-13
) -> list[str]:
    """Differences between freshly computed sets and the committed files, one line each (empty: identical).

    Both come from the same pinned versions, so only instruction selection on a different CPU can change the
    float64 results, by a few ulp: each array must agree to ``rtol`` × its largest magnitude (1e-13 ≈ 450 ulp).
    """
    problems = []
    for name, arrays in fresh.items():
        try:
            stored = load_golden(name, folder)
        except FileNotFoundError:
            problems.append(f"{GOLDEN_FILES[name]}: missing")
            continue
        if set(stored) != set(arrays):
            problems.append(f"{GOLDEN_FILES[name]}: arrays {sorted(set(stored) ^ set(arrays))} added or removed")
        for key in sorted(set(stored) & set(arrays)):
            if key == "meta":
                continue
            a, b = np.asarray(arrays[key]), np.asarray(stored[key])
            if a.shape != b.shape:
                problems.append(f"{GOLDEN_FILES[name]}:{key}: shape {a.shape} != committed {b.shape}")
                continue
            finite = np.isfinite(b)
            if not np.array_equal(np.isfinite(a), finite) or not np.array_equal(a[~finite], b[~finite]):
                problems.append(f"{GOLDEN_FILES[name]}:{key}: non-finite entries differ")
                continue
            scale = max(float(np.max(np.abs(b[finite]), initial=0.0)), 1e-300)
            diff = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))
            if not diff <= rtol * scale:
                problems.append(
                    f"{GOLDEN_FILES[name]}:{key}: max |fresh − committed| = {diff:.3e} > {rtol:g} × {scale:.3e}"
                )
    return problems


def write_golden(fresh: dict[str, dict[str, np.ndarray]], folder: str | Path | None = None) -> list[Path]:
    """Write each set to its file (atomically, compressed)."""
    import io

    from experiments.contract import atomic_write_bytes

    paths = []
    for name, arrays in fresh.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        path = Path(folder or GOLDEN_DIR) / GOLDEN_FILES[name]
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
