"""PyXL's numerical core: numpy, numba and cvxpy only; nothing here knows about Excel or files.

Subpackages: :mod:`pyxl.core.mnvh` (MNVH rule and engine), :mod:`pyxl.core.ledger`
(Ledger-SPT), :mod:`pyxl.core.scenarios`, :mod:`pyxl.core.kelly`, :mod:`pyxl.core.mbp`,
and :mod:`pyxl.core.metrics`.
"""
