"""Shared trainer machinery: divergence detection and its collection by divergence_monitor."""

import warnings

import numpy as np
import pytest

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
