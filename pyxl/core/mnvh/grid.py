"""Parallel (lambda, beta) grids of MNVH backtests on the same numba kernel as the engine.

Each grid point is one full backtest (cash account, kappa, fees, financing,
risk limits) without the per-asset outputs and lots.  The kernel releases the
GIL, so points run on a thread pool (one thread per core by default) without
the long compile of a numba ``prange``.  Points are independent and
deterministic, so results do not depend on the number of threads.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from pyxl.core.metrics import mean_exposure
from pyxl.core.mnvh import kernel as K
from pyxl.core.mnvh.engine import (
    NAV_LIMIT,
    MNVHConfig,
    _opt_pos,
    check_nav,
    kernel_events,
    lot_sizes,
    prepare_inputs,
)
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
        """One row per point: lam, beta, final NAV, total return, costs, mean gross / NAV.

        ``mean_gross_nav`` is the backtest metric ``avg_gross``
        (:func:`pyxl.core.metrics.mean_exposure`: the start row included, rows with
        NAV <= 0 left out); it averaged from the second row on before 2026-11-24, and
        divided by a NAV of 0 or below.
        """
        return pd.DataFrame({
            "lam": self.lam, "beta": self.beta, "final_nav": self.nav[:, -1],
            "total_return": self.nav[:, -1] / self.nav[:, 0] - 1.0,
            "fees": self.fees.sum(axis=1), "slippage": self.slippage.sum(axis=1),
            "financing": self.financing.sum(axis=1),
            "mean_gross_nav": mean_exposure(self.gross, self.nav),
            "n_events": self.n_events,
        })


def _one_point(g, Pm, W, n, L, B, args, out, nev):
    """Run grid point g with the engine kernel (no per-asset outputs, no lots)."""
    (nav_mode, bs, ab, has_hedge, cash0, min_cash, max_gross, max_pos, dd_stop, exec_lag,
     lin_fee, lin_slip, fixed_fee, kimp, use_impact, cash_per, debit_per, borrow_per,
     use_lots, lots) = args
    T, M = Pm.shape
    nav, gross, net, fees, slip, fin, turn = (a[g] for a in out)
    scratch = [np.empty(T) for _ in range(4)]
    ev = 6 * T + 16
    nev[g] = K.simulate(
        Pm, W, n, float(L[g]), float(B[g]), nav_mode, bs, ab, has_hedge, cash0, min_cash,
        max_gross, max_pos, dd_stop, exec_lag, lin_fee, lin_slip, fixed_fee,
        kimp, use_impact, cash_per, debit_per, borrow_per, False, _DUMMY2, _DUMMY2,
        scratch[0], scratch[1], nav, gross, net, scratch[2], fees, slip, fin, scratch[3],
        turn, np.zeros(ev, dtype=np.int64), np.zeros(ev, dtype=np.int64), np.zeros(ev),
        False, _DUMMY1, _DUMMY1, _DUMMY1, use_lots, lots)


_DUMMY1 = np.zeros(1)
_DUMMY2 = np.zeros((1, 1))


def run_grid(prices, weights, lams, betas, config: MNVHConfig | None = None, *,
             pairs: bool = False, beta_scale=None, hedge_prices=None, asset_betas=None,
             adv=None, vol=None, threads: int | None = None) -> GridResult:
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
    threads : int, optional
        Worker threads (default: numba's thread count, i.e. the local cores).

    Returns
    -------
    GridResult

    Raises
    ------
    InputError
        When a point's NAV leaves +-1e100 x ``cash0`` (as in
        :func:`~pyxl.core.mnvh.engine.check_nav`): naming a rate, the out-of-line price
        or the first such point's beta.
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
    args = (config.beta_mode == "nav", bs, ab, has_hedge, float(config.cash0),
            float(config.min_cash), _opt_pos(config.max_gross, "max_gross", ""),
            _opt_pos(config.max_position, "max_position", ""),
            math.inf if config.drawdown_stop is None else float(config.drawdown_stop),
            int(config.exec_lag), float(config.fees.fee_rate), float(config.fees.half_spread),
            float(config.fees.fixed_fee), kimp, use_impact, cash_per, debit_per, borrow_per,
            *lot_sizes(config, N, has_hedge))
    workers = max(1, int(threads if threads is not None else numba.get_num_threads()))
    if workers == 1 or G == 1:
        for g in range(G):
            _one_point(g, Pm, W, N, L, B, args, out, nev)
    else:
        # the kernel releases the GIL (nogil), so threads run points truly in parallel;
        # each point writes only its own rows, so results do not depend on the workers
        with ThreadPoolExecutor(max_workers=min(workers, G)) as pool:
            list(pool.map(lambda g: _one_point(g, Pm, W, N, L, B, args, out, nev), range(G)))
    kernel_events(int(nev.min()), P)  # a bad price stops every point at the same bar
    nav, gross, net, fees, slip, fin, turn = out
    with np.errstate(invalid="ignore"):
        blown = np.flatnonzero(~np.all(np.abs(nav) <= NAV_LIMIT * abs(config.cash0), axis=1))
    if blown.size:  # name the cause (a rate, a price typo, or this point's beta)
        g = int(blown[0])
        check_nav(nav[g], config.fees, nav.shape[1], config.cash0, P, float(B[g]))
    return GridResult(lam=L, beta=B, nav=nav, gross=gross, net=net, fees=fees, slippage=slip,
                      financing=fin, turnover=turn, n_events=nev)
