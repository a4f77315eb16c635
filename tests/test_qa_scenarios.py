"""QA regressions for the scenario engine found by calling =MBB_RECOLOR like a user."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import excel_range, excel_row

import pyxl.core.scenarios as sc


@pytest.mark.parametrize("T", [4, 5, 6, 7, 8, 9])
def test_auto_block_on_short_history_is_a_valid_length(T):
    # arch's Politis-White estimator raises ValueError below 8 rows (its lag window
    # is longer than the sample); the automatic choice must still give a block in 1..T.
    R = np.random.default_rng(T).normal(0.0, 0.04, (T, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero noise either
        L = sc.auto_block_length(R, "moving")
    assert 1 <= L <= T


def test_formula_with_short_history_and_auto_block(xl):
    R = np.random.default_rng(1).normal(0.005, 0.04, (5, 3))
    C = np.diag([0.04, 0.05, 0.06]) + 0.01
    out = xl("MBB_RECOLOR", excel_range(R), excel_row([0.05, 0.06, 0.07]), excel_range(C), 0, 20)
    assert not str(out[0][0]).startswith("#PyXL!"), out[0][0]
    labels = [row[0] for row in out]
    assert labels[0] == "paths" and out[0][1] == 20
    assert out[labels.index("block length")][1] == 1
