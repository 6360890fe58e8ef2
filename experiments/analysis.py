"""Small analysis helpers shared by the experiment drivers of every family."""

from __future__ import annotations

import numpy as np

__all__ = ["first_crossing", "first_true", "fit_power_law"]


def first_true(mask: np.ndarray, axis: int = -1, *, missing: float = np.nan) -> np.ndarray:
    """Index of the first True along ``axis`` (``missing`` where there is none)."""
    mask = np.asarray(mask, bool)
    idx = np.argmax(mask, axis=axis).astype(float)
    return np.where(np.any(mask, axis=axis), idx, missing)


def first_crossing(times: np.ndarray, values: np.ndarray, threshold, *, interpolate: bool = True) -> np.ndarray:
    """First time at which ``values`` (time on the last axis) reaches ``threshold`` from below.

    With ``interpolate`` the crossing is located linearly between the two bracketing samples, which
    removes the ±1-sample granularity; NaN where the threshold is never reached.
    """
    times = np.asarray(times, float)
    values = np.asarray(values, float)
    threshold = np.broadcast_to(np.asarray(threshold, float)[..., None], values.shape)
    above = values >= threshold
    k = first_true(above, axis=-1, missing=-1).astype(int)
    reached = k >= 0
    k_safe = np.where(reached, k, 0)
    t_k = times[k_safe]
    if not interpolate:
        return np.where(reached, t_k, np.nan)
    k_prev = np.maximum(k_safe - 1, 0)
    v_k = np.take_along_axis(values, k_safe[..., None], axis=-1)[..., 0]
    v_p = np.take_along_axis(values, k_prev[..., None], axis=-1)[..., 0]
    thr = threshold[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(v_k > v_p, (thr - v_p) / (v_k - v_p), 1.0)
    t = times[k_prev] + frac * (t_k - times[k_prev])
    t = np.where(k_safe == 0, times[0], t)
    return np.where(reached, t, np.nan)


def fit_power_law(x, y) -> tuple[float, float, float]:
    """Least-squares fit of log y = log c + k log x; returns ``(k, standard_error_of_k, c)``."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if lx.size < 2:
        raise ValueError("fit_power_law needs at least two points")
    A = np.stack([lx, np.ones_like(lx)], axis=1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = max(lx.size - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(A.T @ A) if lx.size > 2 else np.zeros((2, 2))
    return float(coef[0]), float(np.sqrt(cov[0, 0])), float(np.exp(coef[1]))
