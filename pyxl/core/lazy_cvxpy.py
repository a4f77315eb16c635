"""cvxpy, imported on first use.

Importing cvxpy takes about 0.45 s (it pulls in scipy.stats and its atoms), a third of
the add-in's start-up: Excel imports :mod:`pyxl.udfs` when it opens a workbook, and
most sessions never call a formula that solves a cone problem.  The Kelly and MBP
modules therefore reach cvxpy through :data:`cp`, which imports it on the first
attribute read (``cp.Variable``, ``cp.CLARABEL``, ...), and is cvxpy itself afterwards.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["cp", "STATUS_OPTIMAL", "STATUS_INFEASIBLE"]

#: cvxpy's status strings (``cp.OPTIMAL``, ...), written out so module-level tuples of them
#: do not import cvxpy; ``tests/test_lazy_imports.py`` checks them against cvxpy.
STATUS_OPTIMAL = ("optimal", "optimal_inaccurate")
STATUS_INFEASIBLE = ("infeasible", "infeasible_inaccurate")


class _LazyCvxpy:
    """Stand-in for the ``cvxpy`` module that imports it on the first attribute read."""

    _module: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        mod = _LazyCvxpy._module
        if mod is None:
            mod = _LazyCvxpy._module = importlib.import_module("cvxpy")
        return getattr(mod, name)

    def __repr__(self) -> str:
        return f"<cvxpy, {'imported' if _LazyCvxpy._module else 'imported on first use'}>"


#: ``cvxpy``, imported when an attribute is first read.
cp: Any = _LazyCvxpy()
