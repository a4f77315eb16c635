"""MNVH (Market-Neutral Volatility Harvesting) on the Ledger-SPT cash account (seed 000).

Public API: :class:`MNVHConfig`, :class:`FeeModel`, :func:`run_backtest`,
:class:`BacktestResult`, :func:`run_grid`, :func:`mnvh_step` and :func:`warmup`.
Research-layer modules (weights, estimation, ablation) are imported directly.
"""

from __future__ import annotations

from pyxl.core.ledger.fees import FeeModel
from pyxl.core.mnvh.engine import (
    DEFAULT_BETA,
    DEFAULT_LAM,
    EVENT_NAMES,
    BacktestResult,
    MNVHConfig,
    run_backtest,
)
from pyxl.core.mnvh.grid import GridResult, run_grid
from pyxl.core.mnvh.rule import mnvh_step

__all__ = [
    "FeeModel",
    "MNVHConfig",
    "BacktestResult",
    "run_backtest",
    "GridResult",
    "run_grid",
    "mnvh_step",
    "EVENT_NAMES",
    "DEFAULT_LAM",
    "DEFAULT_BETA",
    "warmup",
]


def warmup() -> None:
    """Compile (or load from numba's cache) the engine and grid kernels on tiny inputs."""
    import numpy as np

    from pyxl.core.ledger import warmup as ledger_warmup

    ledger_warmup()
    rng = np.random.default_rng(0)
    P = 100.0 * np.cumprod(1.0 + 0.01 * rng.standard_normal((6, 3)), axis=0)
    w = np.full(3, 1.0 / 3.0)
    for lot in ("fifo", "average"):
        # reading the lot columns compiles the lot booking (it runs on first read)
        run_backtest(P, w, MNVHConfig(lot_method=lot, max_gross=1.0,
                                      fees=FeeModel(fee_rate=1e-3, impact_coef=0.1)),
                     adv=np.full(3, 1e4), hedge_prices=P[:, 0]).lot_table()
        run_backtest(P, w, MNVHConfig(lot_method=lot, exec_lag=1)).lot_table()
    run_grid(P, w, [0.5, 0.9], [1.0, 2.0], MNVHConfig())
