"""Shared machinery for the closed-form modules: input validation and float handling.

Every public theory function validates its inputs with these helpers so that bad input fails
early with a message that names the parameter and the allowed range, e.g.::

    ParameterError: singular_value must be > 0; got -1.0

Validation is skipped for traced values (inside ``jax.jit``/``vmap``), where the values are
not known; the functions stay jit- and vmap-compatible.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ParameterError",
    "as_float",
    "check_range",
    "check_int",
    "concrete",
    "float_dtype",
    "enable_float64",
]


class ParameterError(ValueError):
    """Invalid argument. The message names the parameter and what is allowed."""


def float_dtype():
    """The widest float dtype JAX currently allows (float64 once ``jax_enable_x64`` is on)."""
    return jnp.result_type(float)


@contextlib.contextmanager
def enable_float64() -> Iterator[None]:
    """Turn on JAX's 64-bit mode inside the ``with`` block only (thread-local; restored on exit).

    ``jax.enable_x64(True)`` on current JAX, ``jax.experimental.enable_x64()`` on older releases. The closed forms
    are float64 only where this mode is on; a library user enables it once with
    ``jax.config.update("jax_enable_x64", True)`` or around the computation with this context manager.
    """
    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:  # pragma: no cover - jax < 0.7
        from jax.experimental import enable_x64 as ctx
    with ctx(True):
        yield


def concrete(x) -> np.ndarray | None:
    """``x`` as a NumPy array if its value is known (not a tracer), else ``None``."""
    if isinstance(x, jax.core.Tracer):
        return None
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.TracerArrayConversionError):  # pragma: no cover - defensive
        return None


def as_float(x, name: str) -> jnp.ndarray:
    """Convert to a JAX float array (float64 when x64 is enabled); reject NaN/inf."""
    arr = jnp.asarray(x, dtype=float_dtype()) if not isinstance(x, jax.core.Tracer) else x
    val = concrete(x)
    if val is not None:
        try:
            val = val.astype(float)
        except (TypeError, ValueError) as err:
            raise ParameterError(f"{name} must be a real number or array of real numbers; got {x!r}") from err
        if not np.all(np.isfinite(val)):
            raise ParameterError(f"{name} must be finite; got {_short(val)}")
    return arr


def _short(val: np.ndarray) -> str:
    val = np.asarray(val)
    if val.size == 1:
        return repr(val.reshape(()).item())
    bad = val[~np.isfinite(val)] if not np.all(np.isfinite(val)) else val
    return f"array with values such as {bad.ravel()[:3].tolist()}"


def check_range(
    x,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise :class:`ParameterError` unless every element of ``x`` lies in the range."""
    val = concrete(x)
    if val is None:
        return
    val = val.astype(float)
    ok = np.ones(val.shape, bool)
    if low is not None:
        ok &= (val >= low) if low_inclusive else (val > low)
    if high is not None:
        ok &= (val <= high) if high_inclusive else (val < high)
    if not np.all(ok):
        lo = "" if low is None else (f"{low} <= " if low_inclusive else f"{low} < ")
        hi = "" if high is None else (f" <= {high}" if high_inclusive else f" < {high}")
        allowed = f"{lo}{name}{hi}"
        if low is not None and high is None:
            allowed = f"{name} {'>=' if low_inclusive else '>'} {low}"
        if high is not None and low is None:
            allowed = f"{name} {'<=' if high_inclusive else '<'} {high}"
        offending = val[~ok]
        raise ParameterError(f"{name} must satisfy {allowed}; got {_short(offending)}")


def check_int(x, name: str, *, minimum: int = 1, maximum: int | None = None) -> np.ndarray | None:
    """Raise unless every element of ``x`` is an integer in [minimum, maximum]; return it as ints."""
    val = concrete(x)
    if val is None:
        return None
    if val.dtype.kind not in "iu":
        if val.dtype.kind != "f" or not np.all(np.equal(np.mod(val, 1), 0)):
            raise ParameterError(f"{name} must be an integer >= {minimum}; got {_short(val)}")
    val = val.astype(int)
    check_range(val, name, low=minimum, high=maximum)
    return val


def check_shape(x, name: str, shape: Sequence[int | None]) -> None:
    """Raise unless ``x`` has the given rank and the given sizes (``None`` matches any size)."""
    got = tuple(np.shape(x))
    if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape, strict=True)):
        want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ParameterError(f"{name} must have shape {want}; got {got}")
