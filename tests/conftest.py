"""Shared fixtures: the xlwings Excel-call harness.

``xl("MNVH_STEP", q, p_prev, ...)`` calls a formula the way Excel does through
xlwings (see :mod:`pyxl.xl.winstub`): Excel-shaped arguments, omitted optional
arguments replaced by their defaults, and the result converted for writing.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

from pyxl.xl import winstub

winstub.install()

# CI runs must be reproducible: same examples every run (developers keep exploring).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def excel_range(a) -> tuple:
    """A numpy array or nested list as Excel hands it over: a tuple of row tuples."""
    arr = np.asarray(a, dtype=object)
    if arr.ndim == 0:
        return arr.item()
    if arr.ndim == 1:
        arr = arr[:, None]
    return tuple(tuple(None if v is None else (v.item() if hasattr(v, "item") else v)
                       for v in row) for row in arr)


def xl_error(out) -> str:
    """The one-line ``#PyXL!`` message of a formula's 1 x 1 result (asserts it is one)."""
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    text = out[0][0]
    assert isinstance(text, str) and text.startswith("#PyXL! "), text
    assert "\n" not in text and "Traceback" not in text
    return text


def excel_row(a) -> tuple:
    """A 1-D vector as a single Excel row."""
    return (tuple(float(v) for v in np.ravel(a)),)


class _XL:
    MISSING = winstub.MISSING

    def __call__(self, name: str, *args):
        return winstub.call_formula(name, *args)

    @staticmethod
    def info(name: str) -> dict:
        return winstub.formula_info(name)

    range = staticmethod(excel_range)
    row = staticmethod(excel_row)


@pytest.fixture(scope="session")
def xl() -> _XL:
    """Call PyXL formulas through xlwings' conversion layer."""
    winstub.load_udf_module()
    return _XL()
