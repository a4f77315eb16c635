"""PyXL's numerical core: numpy, numba and cvxpy only; nothing here knows about Excel or files.

Subpackages: :mod:`pyxl.core.mnvh` (MNVH rule and engine), :mod:`pyxl.core.ledger`
(Ledger-SPT), :mod:`pyxl.core.scenarios`, :mod:`pyxl.core.kelly`, :mod:`pyxl.core.mbp`,
and :mod:`pyxl.core.metrics`.
"""

import math
import sys

#: ln of the largest double (1.8e308): a growth factor whose log exceeds it overflows.
#: The limit checks of the engines (MNVH rates, scenario targets, CAGR) compare with it.
LOG_MAX = math.log(sys.float_info.max)
