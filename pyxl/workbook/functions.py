"""PyXL formulas as custom functions of the ``formulas`` Excel engine.

The workbook engine evaluates PyXL's formulas through *the same Python
functions* the add-in calls (the ones :mod:`pyxl.udfs` exports); this module
only adapts the calling convention:

* arguments arrive from ``formulas`` as 2-D numpy object arrays (one per
  range or constant).  They are handed over the way xlwings hands a range to a
  UDF on Windows: a bare scalar for a single cell, a list of row lists for a
  larger range, ``None`` for blank cells, the error's text (``"#N/A"``) for
  cells holding an Excel error (as xlwings with ``err_to_str``, which every
  formula argument declares, see :func:`pyxl.xl.convert.xl_arg`), whole numbers
  as ``float`` (Excel stores doubles);
* the result goes back the way xlwings writes it: a list of rows becomes a
  2-D block (ragged rows padded with blanks), NaN and ``None`` become ``""``
  (xlwings writes an empty cell), numpy scalars become Python numbers.

A result that does not fit the array block it is entered into follows
Excel's legacy array rule (:class:`_Fitted`): cut where larger, a single
row or column repeated across the block, ``#N/A`` elsewhere.  Without it the
``formulas`` package would fill the whole block with ``#VALUE!`` when the
result is larger, and silently re-flow the values row by row when result and
block hold the same number of cells in another shape.

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

    if v is sh.EMPTY or v is None:
        return None
    if isinstance(v, XlError):
        # its text, as xlwings' err_to_str: the converters refuse it with a line naming
        # the argument (as None it would silently mean an optional argument's default)
        return str(v)
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


@functools.cache  # one class, built on first use (formulas is imported lazily)
def _fitted_class() -> type:
    from formulas.functions import Array
    from formulas.tokens.operand import Error

    class _Fitted(Array):
        """A PyXL result that fits an array block the way Excel fits legacy arrays.

        ``reshape((rows, cols))`` to a block of another shape: the result is
        cut where it is larger; a one-row (one-column) result is repeated down
        (across) the block; every other cell past the result is ``#N/A``.  A
        one-cell target keeps the ``formulas`` behaviour (``#VALUE!`` for a
        multi-cell result: store it as an array formula over its block).
        """

        def reshape(self, shape: Any, *shapes: Any, order: str = "C") -> Any:
            if shapes or not isinstance(shape, tuple):
                shape = (shape, *shapes) if shapes else shape
            if (not isinstance(shape, tuple) or len(shape) != 2 or self.ndim != 2
                    or any(not isinstance(n, (int, np.integer)) or n < 1 for n in shape)
                    or tuple(shape) == self.shape):
                return super().reshape(shape, order=order)
            rows, cols = (int(n) for n in shape)
            if (rows, cols) == (1, 1):
                out = np.empty((1, 1), dtype=object)
                out[0, 0] = Error.errors["#VALUE!"]
                return out.view(type(self))
            src = np.asarray(self, dtype=object)
            if src.shape[0] == 1:
                src = np.repeat(src, rows, axis=0)
            if src.shape[1] == 1:
                src = np.repeat(src, cols, axis=1)
            out = np.empty((rows, cols), dtype=object)
            out[:, :] = Error.errors["#N/A"]
            r, c = min(rows, src.shape[0]), min(cols, src.shape[1])
            out[:r, :c] = src[:r, :c]
            return out.view(type(self))

    return _Fitted


def _fitted(arr: np.ndarray) -> np.ndarray:
    return arr.view(_fitted_class())


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
        return _fitted(out)
    return _out(result)


def _adapter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any) -> Any:
        return from_excel_result(func(*[to_excel_arg(a) for a in args]))

    return call


def _one_number(v: Any) -> float | None:
    """``v`` as one finite number (a 1x1 array or a scalar), else None."""
    a = np.asarray(v, dtype=object)
    if a.size != 1:
        return None
    x = a.reshape(-1)[0]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer,
                                                             np.floating)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def _index_whole_row_or_column(original: Callable[..., Any]) -> Callable[..., Any]:
    """``INDEX(array, row, 0)`` and ``INDEX(array, 0, column)`` as Excel evaluates them.

    Excel returns the whole row (column) when the column (row) number is 0; the
    ``formulas`` package (1.3.4) returns the row's first cell instead, so
    ``SUMPRODUCT(INDEX(prices, t, 0), q)`` summed one price.  Only that case is
    handled here, on a one-area array with one-number arguments; every other call
    goes to the package's own INDEX.
    """
    from formulas.functions import Array
    from formulas.ranges import Ranges
    from formulas.tokens.operand import Error

    def xindex(array: Any, row_num: Any, col_num: Any = None, area_num: Any = 1) -> Any:
        r, c, area = _one_number(row_num), _one_number(col_num), _one_number(area_num)
        one_area = not (isinstance(array, Ranges) and len(array.ranges) != 1)
        if r is None or c is None or area != 1 or not one_area or (r != 0 and c != 0):
            return original(array, row_num, col_num, area_num)
        values = np.asarray(array.value if isinstance(array, Ranges) else array, dtype=object)
        if values.ndim != 2 or r < 0 or c < 0 or r > values.shape[0] or c > values.shape[1]:
            return Error.errors["#REF!"]
        rows = slice(None) if r == 0 else slice(int(r) - 1, int(r))
        cols = slice(None) if c == 0 else slice(int(c) - 1, int(c))
        return np.array(values[rows, cols], dtype=object).view(Array)

    return functools.update_wrapper(xindex, original)


@functools.lru_cache(maxsize=1)
def register() -> tuple[str, ...]:
    """Register every PyXL formula with the ``formulas`` engine; return their names.

    Also mends the package's INDEX for a 0 row or column number
    (:func:`_index_whole_row_or_column`), which the MNVH Ledger sheet uses.
    """
    import formulas
    from formulas.functions import wrap_func, wrap_impure_func, wrap_ranges_func
    from formulas.functions.look import xindex

    table = formulas.get_functions()
    found = pyxl_formulas()
    for name, func in found.items():
        table[name] = wrap_ranges_func(_adapter(func))
    table["INDEX"] = dict(table["INDEX"], function=wrap_impure_func(
        wrap_func(_index_whole_row_or_column(xindex), ranges=True)))
    return tuple(sorted(found))
