"""Parallel (lambda, beta) grids of MNVH backtests on the same numba kernel as the engine.

Each grid point is one full backtest (cash account, kappa, fees, financing,
risk limits) without the per-asset outputs and lots, run in a numba ``prange``
over grid points.  Points are independent and deterministic, so results do not
depend on the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit, prange

from pyxl.core.mnvh import kernel as K
from pyxl.core.mnvh.engine import MNVHConfig, _opt_pos, prepare_inputs
from pyxl.errors import InputError

__all__ = ["GridResult", "run_grid"]


@dataclass
class GridResult:
    """Per-point paths of a grid run (G points, T bars).

    Attributes
    ----------
    lam, beta : (G,) arrays
        Parameters of each point (lambda-major order for an outer grid).
    nav, gross, net, fees, slippage, financing, turnover : (G, T) arrays
        The same columns as :class:`~pyxl.core.mnvh.engine.BacktestResult`.
    n_events : (G,) int array
        Number of risk events logged per point.
    """

    lam: np.ndarray
    beta: np.ndarray
    nav: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    financing: np.ndarray
    turnover: np.ndarray
    n_events: np.ndarray

    def summary(self) -> pd.DataFrame:
        """One row per point: lam, beta, final NAV, total return, costs, mean gross / NAV."""
        return pd.DataFrame({
            "lam": self.lam, "beta": self.beta, "final_nav": self.nav[:, -1],
            "total_return": self.nav[:, -1] / self.nav[:, 0] - 1.0,
            "fees": self.fees.sum(axis=1), "slippage": self.slippage.sum(axis=1),
            "financing": self.financing.sum(axis=1),
            "mean_gross_nav": np.mean(self.gross[:, 1:] / self.nav[:, 1:], axis=1),
            "n_events": self.n_events,
        })


@njit(parallel=True, cache=True)
def _grid(Pm, W, n, lams, betas, nav_mode, bs, ab, has_hedge, cash0, min_cash, max_gross,
          max_pos, dd_stop, exec_lag, lin_fee, lin_slip, fixed_fee, kimp, use_impact,
          cash_per, debit_per, borrow_per, nav, gross, net, fees, slip, fin, turn, nev):
    G = lams.shape[0]
    T, M = Pm.shape
    for g in prange(G):
        dummy2 = np.zeros((1, M))
        kap = np.empty(T)
        cash = np.empty(T)
        mtm = np.empty(T)
        real = np.empty(T)
        unreal = np.empty(T)
        delev = np.empty(T)
        zl = np.zeros((M, 1, 4))
        zm = np.zeros(M, dtype=np.int64)
        zo = np.zeros(1, dtype=np.int64)
        zf = np.zeros(M)
        ev_t = np.zeros(6 * T + 16, dtype=np.int64)
        ev_k = np.zeros(6 * T + 16, dtype=np.int64)
        ev_d = np.zeros(6 * T + 16)
        nev[g] = K.simulate(
            Pm, W, n, lams[g], betas[g], nav_mode, bs, ab, has_hedge, cash0, min_cash,
            max_gross, max_pos, dd_stop, exec_lag, K.LOTS_NONE, lin_fee, lin_slip, fixed_fee,
            kimp, use_impact, cash_per, debit_per, borrow_per, False, dummy2, dummy2,
            kap, cash, nav[g], gross[g], net[g], mtm, fees[g], slip[g], fin[g], real, unreal,
            delev, turn[g], zl, zm, zm.copy(), zo, zf, zf.copy(), ev_t, ev_k, ev_d)


def run_grid(prices, weights, lams, betas, config: MNVHConfig | None = None, *,
             pairs: bool = False, beta_scale=None, hedge_prices=None, asset_betas=None,
             adv=None, vol=None) -> GridResult:
    """Backtest every (lambda, beta) point in parallel.

    Parameters
    ----------
    prices, weights, beta_scale, hedge_prices, asset_betas, adv, vol
        As :func:`~pyxl.core.mnvh.engine.run_backtest`.
    lams, betas : array-like
        Grid values.  Outer product (``len(lams) * len(betas)`` points, lambda-major)
        unless ``pairs=True``, in which case they are zipped (same length).
    config : MNVHConfig, optional
        Every other setting (its ``lam`` and ``beta`` are ignored).

    Returns
    -------
    GridResult
    """
    config = MNVHConfig() if config is None else config
    lams = np.asarray(lams, dtype=float).ravel()
    betas = np.asarray(betas, dtype=float).ravel()
    if pairs:
        if lams.shape != betas.shape:
            raise InputError("betas", f"has {betas.size} values for {lams.size} lams",
                             "pass equal lengths with pairs=True")
        L, B = lams, betas
    else:
        L, B = (a.ravel() for a in np.meshgrid(lams, betas, indexing="ij"))
    if L.size == 0:
        raise InputError("lams", "is empty", "pass at least one value")
    if np.any(~np.isfinite(L)) or np.any(L < 0) or np.any(L > 1):
        raise InputError("lams", "must be in [0, 1]", "use values such as 0.8-0.98")
    if np.any(~np.isfinite(B)) or np.any(B < 0):
        raise InputError("betas", "must be >= 0", "use positive intensities")
    P, Pm, W, bs, ab, has_hedge, kimp, use_impact = prepare_inputs(
        prices, weights, config, beta_scale, hedge_prices, asset_betas, adv, vol)
    T, N = P.shape
    G = L.size
    out = [np.zeros((G, T)) for _ in range(7)]
    nev = np.zeros(G, dtype=np.int64)
    cash_per, debit_per, borrow_per = config.fees.per_period()
    _grid(Pm, W, N, np.ascontiguousarray(L), np.ascontiguousarray(B),
          config.beta_mode == "nav", bs, ab, has_hedge, float(config.cash0),
          float(config.min_cash), _opt_pos(config.max_gross, "max_gross", ""),
          _opt_pos(config.max_position, "max_position", ""),
          math.inf if config.drawdown_stop is None else float(config.drawdown_stop),
          int(config.exec_lag), float(config.fees.fee_rate), float(config.fees.half_spread),
          float(config.fees.fixed_fee), kimp, use_impact, cash_per, debit_per, borrow_per,
          *out, nev)
    nav, gross, net, fees, slip, fin, turn = out
    return GridResult(lam=L, beta=B, nav=nav, gross=gross, net=net, fees=fees, slippage=slip,
                      financing=fin, turnover=turn, n_events=nev)
