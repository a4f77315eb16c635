"""Numbers saved by openpyxl to the last bit.

openpyxl writes a number into a worksheet's XML as ``"%.16g" % value``: 16 significant
digits, which is not always enough to give the same double back (17 are needed for some:
``-1.1853466842305507`` was saved as ``-1.185346684230551``).  Excel saves the shortest
text that reads back as the same double, as Python's ``repr`` does.  So a Run button's
output saved without Excel (:class:`pyxl.macros.OpenpyxlBook`) or the demo's
``ledger.xlsx`` differed from the formula's value in the last bit.  :func:`install`
makes openpyxl write :func:`number_text` for finite floats (numpy's too); everything
else is written as before.  The cached values of ``pyxl calc``
(:mod:`pyxl.workbook.xmlcache`) are written with ``repr`` already.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["install", "number_text"]


def number_text(x: float) -> str:
    """The text a finite double is saved as: ``repr`` (the shortest text that reads back
    as the same double), and whole numbers below 1e15 without ``.0`` (``7203``, as Excel
    and openpyxl write them; read back as int by openpyxl)."""
    return repr(x) if x != int(x) or abs(x) >= 1e15 else str(int(x))


def install() -> None:
    """Make openpyxl's cell writer save finite floats exactly (idempotent).

    Patches ``openpyxl.cell._writer.safe_string``, the function both of openpyxl's
    worksheet writers (lxml and etree) format a cell's value with.
    """
    import openpyxl.cell._writer as writer

    if getattr(writer.safe_string, "_pyxl_exact", False):
        return
    original = writer.safe_string

    def safe_string(value: Any) -> str:
        if isinstance(value, (float, np.floating)) and math.isfinite(value):
            return number_text(float(value))
        return original(value)

    safe_string._pyxl_exact = True  # type: ignore[attr-defined]
    writer.safe_string = safe_string
