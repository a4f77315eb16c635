"""Run xlwings' Windows UDF machinery without Windows or Excel.

Off Windows ``xw.func`` is a no-op and ``xlwings.udfs`` cannot be imported
(it needs pywin32).  This module:

1. installs stub ``pythoncom``, ``pywintypes`` and ``win32com.client`` modules,
   just enough for ``import xlwings.udfs`` to succeed;
2. registers a stand-in ``"excel"`` engine whose ``clean_value_data`` and
   ``prepare_xl_data_element`` behave like xlwings' Windows engine
   (``xlwings/_xlwindows.py``): blank cells read as ``None`` (or the ``empty``
   option), Excel error codes as ``None`` (or their text), NaN written as an
   empty cell, numpy scalars as floats;
3. swaps ``xw.func/arg/ret/sub`` for ``xlwings.udfs.xlfunc/xlarg/xlret/xlsub``
   so decorated functions carry their ``__xlfunc__`` metadata, and (re)imports
   the formula modules;
4. calls a formula the way ``xlwings.udfs.call_udf`` does: each Excel-shaped
   argument (tuples of row tuples, ``None`` for blanks, a bare scalar for one
   cell) through ``xlwings.conversion.read(None, value, arg_options)``,
   omitted arguments replaced by their declared defaults, the result through
   ``xlwings.conversion.write(result, None, ret_options)``.

It is used by the test-suite (every formula is exercised through it) and by
``pyxl addin build`` (to run xlwings' own ``generate_vba_wrapper``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import math
import sys
import types
from typing import Any

__all__ = [
    "MISSING",
    "call_formula",
    "formula_info",
    "install",
    "load_udf_module",
    "vba_wrappers",
]

#: Excel's marker for an omitted optional argument (DISP_E_PARAMNOTFOUND).
MISSING = -2147352572

_CELL_ERRORS = {
    -2146826281: "#DIV/0!",
    -2146826246: "#N/A",
    -2146826259: "#NAME?",
    -2146826288: "#NULL!",
    -2146826252: "#NUM!",
    -2146826265: "#REF!",
    -2146826273: "#VALUE!",
}

_installed = False


def _stub_modules() -> None:
    if "pythoncom" not in sys.modules:
        pythoncom = types.ModuleType("pythoncom")
        pythoncom.CoInitialize = lambda *a, **k: None  # type: ignore[attr-defined]
        pythoncom.CoUninitialize = lambda *a, **k: None  # type: ignore[attr-defined]
        pythoncom.__pyxl_stub__ = True  # type: ignore[attr-defined]
        sys.modules["pythoncom"] = pythoncom
    if "pywintypes" not in sys.modules:
        pywintypes = types.ModuleType("pywintypes")

        class com_error(Exception):  # noqa: N801 - pywin32's name
            pass

        pywintypes.com_error = com_error  # type: ignore[attr-defined]
        pywintypes.TimeType = dt.datetime  # type: ignore[attr-defined]
        pywintypes.__pyxl_stub__ = True  # type: ignore[attr-defined]
        sys.modules["pywintypes"] = pywintypes
    if "win32com" not in sys.modules:
        win32com = types.ModuleType("win32com")
        client = types.ModuleType("win32com.client")

        def Dispatch(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - pywin32's name
            raise RuntimeError("win32com stub: no COM off Windows")

        client.Dispatch = Dispatch  # type: ignore[attr-defined]
        win32com.client = client  # type: ignore[attr-defined]
        win32com.__pyxl_stub__ = True  # type: ignore[attr-defined]
        sys.modules["win32com"] = win32com
        sys.modules["win32com.client"] = client


class StandInExcelEngine:
    """The parts of ``xlwings._xlwindows.Engine`` that value conversion uses."""

    name = "excel"
    type = "desktop"

    @property
    def apps(self) -> Any:  # pragma: no cover - never used by conversion
        raise RuntimeError("stand-in Excel engine has no apps")

    @staticmethod
    def clean_value_data(
        data: Any, datetime_builder: Any, empty_as: Any, number_builder: Any, err_to_str: Any
    ) -> list[list[Any]]:
        def clean(value: Any) -> Any:
            if value in ("", None):
                return empty_as
            if isinstance(value, (dt.date, dt.datetime)):
                return value
            if number_builder is not None and isinstance(value, float):
                return number_builder(value)
            if isinstance(value, int) and not isinstance(value, bool) and value in _CELL_ERRORS:
                return _CELL_ERRORS[value] if err_to_str else None
            return value

        return [[clean(c) for c in row] for row in data]

    @staticmethod
    def prepare_xl_data_element(x: Any, date_format: Any) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(x, (dt.date, dt.datetime)):
            return x
        if isinstance(x, (str, bytes)):
            return x
        if x is None:
            return ""
        try:
            if pd.isna(x):
                return ""
        except (TypeError, ValueError):
            pass
        if isinstance(x, (np.floating, float)) and math.isnan(x):
            return ""
        if isinstance(x, np.number):
            return float(x)
        return x


def install() -> types.ModuleType:
    """Install stubs, the stand-in engine and the real UDF decorators; idempotent.

    Returns
    -------
    module
        ``xlwings.udfs``.
    """
    global _installed
    import xlwings as xw

    _stub_modules()
    from xlwings import udfs
    from xlwings.main import Engine

    if not _installed:
        if "excel" not in [e.name for e in xw.engines]:
            xw.engines.add(Engine(impl=StandInExcelEngine()))
        xw.func = udfs.xlfunc
        xw.arg = udfs.xlarg
        xw.ret = udfs.xlret
        xw.sub = udfs.xlsub
        _installed = True
    return udfs


def load_udf_module(name: str = "pyxl.udfs") -> types.ModuleType:
    """Import (or re-import) a formula module so its functions carry ``__xlfunc__``.

    Formula modules imported before :func:`install` were decorated by the
    no-op decorators; they and their ``pyxl.xl.udf_*`` parts are reloaded.
    """
    install()
    module = importlib.import_module(name)
    needs_reload = any(
        callable(getattr(module, attr)) and attr.isupper() and not hasattr(
            getattr(module, attr), "__xlfunc__"
        )
        for attr in dir(module)
        if not attr.startswith("_")
    )
    if needs_reload:
        for mod_name in sorted(sys.modules):
            if mod_name.startswith("pyxl.xl.udf_"):
                importlib.reload(sys.modules[mod_name])
        module = importlib.reload(module)
    return module


def formula_info(name: str, module: str = "pyxl.udfs") -> dict[str, Any]:
    """The ``__xlfunc__`` metadata xlwings recorded for a formula."""
    return getattr(load_udf_module(module), name).__xlfunc__


def call_formula(name: str, *args: Any, module: str = "pyxl.udfs") -> Any:
    """Call formula ``name`` as ``xlwings.udfs.call_udf`` would.

    Parameters
    ----------
    name : str
        The formula's Excel name, e.g. ``"MNVH_STEP"``.
    *args
        Excel-shaped values: a scalar for one cell, a tuple of row tuples for
        a range, ``None`` for a blank cell, :data:`MISSING` (or fewer
        arguments) for an omitted optional argument.

    Returns
    -------
    Any
        What xlwings hands back to Excel: a list of row lists (or a scalar
        for a single value).
    """
    from xlwings import conversion

    mod = load_udf_module(module)
    func = getattr(mod, name)
    info = func.__xlfunc__
    args_info = info["args"]
    if len(args) > len(args_info):
        raise TypeError(f"{name} takes at most {len(args_info)} arguments, got {len(args)}")
    full = list(args) + [MISSING] * (len(args_info) - len(args))
    converted = []
    for i, arg in enumerate(full):
        arg_info = args_info[min(i, len(args_info) - 1)]
        if isinstance(arg, int) and not isinstance(arg, bool) and arg == MISSING:
            if "optional" not in arg_info:
                raise TypeError(f"{name}: required argument {arg_info['name']!r} omitted")
            converted.append(arg_info.get("optional", None))
        else:
            converted.append(conversion.read(None, arg, arg_info["options"]))
    ret = func(*converted)
    return conversion.write(ret, None, info["ret"]["options"])


class _Workbook:
    def __init__(self, name: str) -> None:
        self.Name = name


def vba_wrappers(module: str = "pyxl.udfs", workbook_name: str = "pyxl.xlam") -> str:
    """VBA source of the UDF wrappers, written by xlwings' ``generate_vba_wrapper``.

    Parameters
    ----------
    module : str
        Python module holding the formulas.
    workbook_name : str
        Name of the host workbook; ``.xlam`` makes the wrappers call
        ``ActiveWorkbook`` as xlwings does for add-ins.
    """
    udfs = install()
    mod = load_udf_module(module)
    buf = io.StringIO()
    udfs.generate_vba_wrapper(module, mod, buf, _Workbook(workbook_name))
    return buf.getvalue()
