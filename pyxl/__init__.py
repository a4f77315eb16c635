"""PyXL: quantitative portfolio engines for Excel.

The numerical core lives in :mod:`pyxl.core` (numpy, numba, cvxpy; no Excel and
no I/O).  Thin adapters wrap it: Excel formulas in :mod:`pyxl.udfs`, button
macros in :mod:`pyxl.macros`, the command line in :mod:`pyxl.cli` and the
workbook engine in :mod:`pyxl.workbook`.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "main"]


def main() -> None:
    """Entry point of the add-in's ribbon Run button (``RunPython "import pyxl; pyxl.main()"``).

    Dispatches on the active sheet's role; see :mod:`pyxl.macros`.
    """
    from pyxl.macros import main as _main

    _main()
