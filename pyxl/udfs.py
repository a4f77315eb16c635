"""PyXL's Excel formulas: the module the add-in loads (UDF Modules = ``pyxl.udfs``).

Each engine's formulas live in ``pyxl/xl/udf_<engine>.py`` and are re-exported
here, so xlwings finds every function with ``__xlfunc__`` metadata by scanning
this module.  The formulas are thin adapters: they convert and validate cells
with :mod:`pyxl.xl.convert`, call :mod:`pyxl.core`, and shape the result.
"""

from __future__ import annotations

from pyxl.xl.udf_backtest import *  # noqa: F401,F403
from pyxl.xl.udf_kelly import *  # noqa: F401,F403
from pyxl.xl.udf_mbp import *  # noqa: F401,F403
from pyxl.xl.udf_mnvh import *  # noqa: F401,F403
from pyxl.xl.udf_scenarios import *  # noqa: F401,F403
