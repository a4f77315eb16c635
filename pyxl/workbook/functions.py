"""PyXL formulas as custom functions of the ``formulas`` Excel engine.

The workbook engine evaluates PyXL's formulas through *the same Python
functions* the add-in calls (the ones :mod:`pyxl.udfs` exports); this module
only adapts the calling convention:

* arguments arrive from ``formulas`` as 2-D numpy object arrays (one per
  range or constant).  They are handed over the way xlwings hands a range to a
  UDF on Windows: a bare scalar for a single cell, a list of row lists for a
  larger range, ``None`` for blank cells and for cells holding an Excel error
  (xlwings' default), whole numbers as ``float`` (Excel stores doubles);
* the result goes back the way xlwings writes it: a list of rows becomes a
  2-D block (ragged rows padded with blanks), NaN and ``None`` become ``""``
  (xlwings writes an empty cell), numpy scalars become Python numbers.

Limit: an argument left out in the middle of a call (``=F(a,,c)``) reaches
the function as 0, because the ``formulas`` parser makes it a zero; leave
trailing optional arguments out instead, or point them at a blank cell.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["pyxl_formulas", "register", "to_excel_arg", "from_excel_result"]


def pyxl_formulas() -> dict[str, Callable[..., Any]]:
    """Every PyXL formula by Excel name (upper-case callables of :mod:`pyxl.udfs`)."""
    import pyxl.udfs as udfs

    names = getattr(udfs, "__all__", None) or [n for n in dir(udfs) if n.isupper()]
    return {n: getattr(udfs, n) for n in names if n.isupper() and callable(getattr(udfs, n))}


def _cell(v: Any) -> Any:
    import schedula as sh
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY or v is None or isinstance(v, XlError):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return float(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def to_excel_arg(value: Any) -> Any:
    """A ``formulas`` argument as xlwings passes it: scalar or list of row lists."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _cell(value.item())
        arr = value if value.ndim == 2 else value.reshape(1, -1)
        if arr.shape == (1, 1):
            return _cell(arr[0, 0])
        return [[_cell(c) for c in row] for row in arr.tolist()]
    return _cell(value)


def _out(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, np.floating)):
        v = float(v)
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def from_excel_result(result: Any) -> Any:
    """A formula's return value as a scalar or a 2-D object array that spills."""
    if isinstance(result, np.ndarray) and result.ndim == 0:
        result = result.item()
    if isinstance(result, np.ndarray):
        result = result.tolist() if result.ndim == 2 else [result.tolist()]
    if isinstance(result, (list, tuple)):
        rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in result]
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        out = np.empty((len(rows), width), dtype=object)
        out[:, :] = ""
        for i, r in enumerate(rows):
            for j, c in enumerate(r):
                out[i, j] = _out(c)
        if out.shape == (1, 1):
            return out[0, 0]
        return out
    return _out(result)


def _adapter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any) -> Any:
        return from_excel_result(func(*[to_excel_arg(a) for a in args]))

    return call


@functools.lru_cache(maxsize=1)
def register() -> tuple[str, ...]:
    """Register every PyXL formula with the ``formulas`` engine; return their names."""
    import formulas
    from formulas.functions import wrap_ranges_func

    table = formulas.get_functions()
    found = pyxl_formulas()
    for name, func in found.items():
        table[name] = wrap_ranges_func(_adapter(func))
    return tuple(sorted(found))
