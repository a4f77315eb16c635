r"""MNVH backtest on the Ledger-SPT cash account (seed 000, sec. 3-4, 8-10, appendix A).

Timing (no look-ahead)
----------------------
Bars ``s = 0 .. T-1`` with prices ``p_s``.  Row 0 of every output is the start:
``q_0 = 0``, cash ``C_0``, ``NAV_0 = C_0``.  At bar ``s >= 1`` (eq. 1 with
``t = s - 1``):

1. financing for the period ``s-1 -> s`` is credited/charged to cash
   (interest on cash at end of ``s-1``, borrow on the short notional at ``p_{s-1}``);
2. positions are marked to ``p_s``: ``MTM_s = sum_i q_{i,s-1} (p_{i,s} - p_{i,s-1})``;
3. stops: ``NAV <= 0`` (insolvent) or drawdown from the running peak beyond
   ``drawdown_stop`` liquidates everything at ``p_s`` and stops trading;
4. eq. 1 target from ``r_{s-1} = p_s / p_{s-1} - 1`` (0 exactly for an unchanged
   price, see :mod:`pyxl.core.mnvh.rule`) and row ``s-1`` of
   ``weights``, ``beta_scale`` and ``asset_betas`` ("row t = known at t"):
   ``q* = lam q + beta_eff (w / p_{s-1}) (R - r)``; position cap; hedge;
5. kappa: the proposed trade ``dq = q* - q`` is scaled by the largest ``kappa``
   in ``[0, 1]`` keeping cash after trade and costs ``>= min_cash`` and gross
   ``<= max_gross * NAV_pre`` (:func:`pyxl.core.ledger.kappa.kappa_interval`).
   A proposed trade of at most ``TRADE_DUST`` (1e-12) of ``NAV_pre`` in notional
   is rounding residue of eq. 1, not a trade: it is set to 0 first, so it pays
   no fixed fee (a liquidation closes every position whatever its size); so is a
   kappa whose whole trade is that small (``kappa_zero``).  Cash within 1e-12
   (relative) of its floor is on it, and both caps are met to a relative margin of
   1e-12 (``CAP_TOL``), so binary rounding alone neither trades nor logs an event;
6. the trade executes at ``p_s`` (``exec_lag=0``).  With ``exec_lag=1`` the
   target decided at bar ``s`` (from the end-of-bar position) executes at bar
   ``s+1`` at ``p_{s+1}``.

``beta_eff = beta * beta_scale_{s-1}`` in "absolute" mode (eq. 1 as written,
currency) and ``beta * beta_scale_{s-1} * NAV`` in "nav" mode (eq. 4's
``beta V_t``; the pre-trade NAV at ``p_s``, or the end-of-bar NAV with lag 1).
"nav" is the default: it keeps exposure proportional to capital, so the same
``beta`` means the same leverage whatever ``C_0``.

Self-financing and forced deleveraging
--------------------------------------
No cash ever enters or leaves.  When no positive ``kappa`` is feasible:

* if the status quo is within limits (cash ``>= min_cash``, gross within the cap)
  the trade is skipped (``kappa = 0``, event ``kappa_zero``);
* otherwise (cash already below its floor or gross above the cap, e.g. after a
  price move) every position, hedge included, is scaled by ``1 - delta`` at
  ``p_s`` with the smallest ``delta`` in ``[0, 1]`` restoring both limits
  (event ``forced_delever`` with ``delta``; ``kappa = 0`` and the ``delever``
  column holds ``delta``).  When no ``delta`` keeps cash on its floor while the
  cap needs one (buying back shorts to cut gross spends cash, and fixed fees are
  paid on every position), the gross cap is restored and ``cash_shortfall`` is
  logged; the next bar deleverages towards the floor.  When even a full
  liquidation cannot restore the cash floor (NAV after costs below ``min_cash``)
  the book is liquidated, trading stops for the rest of the run and
  ``cash_shortfall`` is logged (only that, when nothing is held).

PnL identity
------------
``NAV_s = cash_s + sum_i q_{i,s} p_{i,s}`` (mid) and at every bar

``NAV_s - NAV_{s-1} = MTM_s - fees_s - slippage_s + financing_s``

so ``sum(MTM - fees - slippage + financing) = NAV_T - C_0``.  Lots are kept at
mid, so ``sum(realised) + unrealised_T = sum(MTM)``.

Lot accounting is a report on the executed trades
-------------------------------------------------
The lots (FIFO or moving average) never feed back into trading: the cash account,
kappa, the limits and the PnL terms use positions and prices only.  Moving-average
lots cost about 1 ns per asset-step and are booked in the bar loop, in a pass of
their own (:func:`pyxl.core.ledger.lots.average_cost_step`).  FIFO matching costs
about 10 ns per trade, so the kernel trades without FIFO lots and
:class:`BacktestResult` books the stored trades FIFO
(:func:`pyxl.core.ledger.lots.fifo_replay`) the first time ``realised``,
``unrealised``, ``lots``, :meth:`BacktestResult.to_frame` or
:meth:`BacktestResult.lot_table` is read.  The result is the same, bit for bit,
as booking inside the bar loop with the same queue capacity (the same arithmetic
on the same trades, in the same order); a caller that needs only NAV-based metrics (a
What-If table over ``=MNVH_BACKTEST``, an ablation grid) never pays for FIFO
matching.  NAV and every other column do not depend on the lot method.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pyxl.core import LOG_MAX
from pyxl.core.labels import align_to_prices, check_time_order
from pyxl.core.ledger.fees import FeeModel
from pyxl.core.ledger.lots import FifoBook, fifo_replay
from pyxl.core.mnvh import kernel as K
from pyxl.core.mnvh.weights import check_sums
from pyxl.errors import InputError

__all__ = [
    "MNVHConfig",
    "BacktestResult",
    "run_backtest",
    "EVENT_NAMES",
    "DEFAULT_LAM",
    "DEFAULT_BETA",
    "rolling_vol",
    "prepare_inputs",
    "kernel_events",
    "check_rates",
    "check_nav",
    "RiskEvents",
    "lot_sizes",
]

#: Default inventory decay (seed sec. 8: 0.8-0.98 per step).
DEFAULT_LAM = 0.9
#: Default NAV-relative intensity: on the bundled 20-stock daily data with equal
#: weights and ``lam = 0.9`` this gives an average gross exposure of about 1x NAV.
DEFAULT_BETA = 35.0

EVENT_NAMES = {
    K.EV_MAX_POSITION: "max_position",
    K.EV_GROSS_CAP: "gross_cap",
    K.EV_CASH_LIMIT: "cash_limit",
    K.EV_KAPPA_ZERO: "kappa_zero",
    K.EV_FORCED_DELEVER: "forced_delever",
    K.EV_DRAWDOWN_STOP: "drawdown_stop",
    K.EV_INSOLVENT: "insolvent",
    K.EV_CASH_SHORTFALL: "cash_shortfall",
}

_EVENT_DETAIL = {
    "max_position": "number of assets clipped to the position cap",
    "gross_cap": "kappa chosen (gross cap binding)",
    "cash_limit": "kappa chosen (cash floor binding)",
    "kappa_zero": "trade skipped: no positive kappa feasible",
    "forced_delever": "delta: fraction of every position sold/bought back",
    "drawdown_stop": "drawdown from the running peak when the stop fired",
    "insolvent": "NAV (<= 0) when trading stopped",
    "cash_shortfall": "cash minus min_cash after the forced deleveraging (< 0)",
}


#: Event names indexed by the kernel's codes (object array: one take + tolist per run).
_EVENT_NAME_BY_CODE = np.array([None] + [EVENT_NAMES[k] for k in range(1, len(EVENT_NAMES) + 1)],
                               dtype=object)


class RiskEvents(Sequence):
    """The risk events of a run, ``(t, kind, detail)`` tuples, built on first use.

    A run may log an event on most bars (about 2,000 on 2,520 bars when kappa binds)
    and building the tuples cost about 0.25 ns per asset-step of the run, so the
    kernel's arrays are kept and the list is made once, when first read.  ``len`` never
    builds it.  Compares equal to a list or tuple of the same tuples.
    """

    __slots__ = ("_t", "_k", "_d", "_rows")

    def __init__(self, t: np.ndarray, k: np.ndarray, d: np.ndarray) -> None:
        self._t, self._k, self._d = t, k, d
        self._rows: list | None = None

    def _list(self) -> list:
        if self._rows is None:
            self._rows = list(zip(self._t.tolist(), _EVENT_NAME_BY_CODE[self._k].tolist(),
                                  self._d.tolist(), strict=True))
        return self._rows

    def __len__(self) -> int:
        return len(self._t)

    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self):
        return iter(self._list())

    def __eq__(self, other) -> bool:
        if isinstance(other, (RiskEvents, list, tuple)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # mutable-looking container, like list

    def __repr__(self) -> str:
        return repr(self._list())


def _opt_pos(value, name: str, fix: str) -> float:
    if value is None:
        return math.inf
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise InputError(name, f"must be > 0 or None, got {value!r}", fix)
    return v


#: Smallest board lot accepted (shares): 1e-9, a satoshi is 1e-8 BTC.
MIN_LOT = 1e-9


def _check_lot_size(value) -> float | tuple[float, ...] | None:
    """``lot_size`` as None, a float or a tuple of floats, each finite and >= 0."""
    if value is None:
        return None
    fix = "enter shares per board lot, e.g. 100, or leave blank for fractional shares"
    arr = np.asarray(value, dtype=float) if not isinstance(value, str) else None
    if arr is None or arr.ndim > 1 or (arr.ndim == 1 and arr.size == 0):
        raise InputError("lot_size", f"must be a number or one number per asset, got "
                         f"{value!r}", fix)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
        raise InputError("lot_size", "must be finite and >= 0 (0: fractional)", fix)
    if np.any((arr > 0.0) & (arr < MIN_LOT)):
        # a position of 1e6 shares is 1e18 lots of 1e-12: beyond a float's 2^53 whole
        # numbers, so "whole lots" would mean nothing (and 1e-320 overflows)
        raise InputError("lot_size", f"must be 0 or at least {MIN_LOT:g} share, got "
                         f"{float(arr[(arr > 0) & (arr < MIN_LOT)].flat[0]):g}", fix)
    if arr.ndim == 0:
        return float(arr)
    return tuple(float(v) for v in arr)


def lot_sizes(config: MNVHConfig, n_assets: int, has_hedge: bool) -> tuple[bool, np.ndarray]:
    """``(use_lots, lots)``: the kernel's per-asset lot sizes (hedge last), 0 = fractional.

    Raises
    ------
    InputError
        When a sequence of lot sizes does not have one value per asset (plus,
        optionally, the hedge's).
    """
    M = n_assets + int(has_hedge)
    ls = config.lot_size
    if ls is None:
        return False, np.zeros(M)
    if isinstance(ls, float):
        lots = np.full(M, ls)
    else:
        sizes = (n_assets, M) if has_hedge else (n_assets,)
        if len(ls) not in sizes:
            want = (f"{n_assets} (or {M} with the hedge's last)" if has_hedge
                    else str(n_assets))
            raise InputError("lot_size", f"has {len(ls)} values for {n_assets} assets",
                             f"give one number, or {want} values")
        lots = np.zeros(M)
        lots[:len(ls)] = ls
    return bool(np.any(lots > 0.0)), lots


@dataclass(frozen=True)
class MNVHConfig:
    """Parameters of an MNVH backtest.

    Parameters
    ----------
    lam : float
        Inventory decay lambda in [0, 1] (eq. 1).
    beta : float
        Trading intensity (>= 0).  "nav" mode: multiple of NAV, dimensionless
        (default 35: mean gross about 1x NAV on the bundled data); "absolute" mode:
        currency (eq. 1 as written).
    beta_mode : {"nav", "absolute"}
        See above; default "nav".
    cash0 : float
        Initial cash C_0 (> 0), the only capital ever (no external cash flows).
    min_cash : float
        Cash floor after each trade and its costs (currency; may be negative for a
        credit line).  Short-sale proceeds count as cash.
    max_gross : float or None
        Cap on gross exposure ``sum |q p|`` as a multiple of pre-trade NAV.
    max_position : float or None
        Cap on each position's notional ``|q_i p_i|`` as a fraction of pre-trade NAV
        (targets are clipped; the hedge asset is not capped).
    drawdown_stop : float or None
        Liquidate and stop when NAV falls this fraction below its running peak
        (0.2 = 20 %).
    exec_lag : int
        0: trade at the bar the signal becomes known; 1: at the next bar.
    lot_method : {"fifo", "average"}
        Lot accounting for realised / unrealised PnL (it never changes the trading;
        FIFO lots are booked from the executed trades when first read).
    fees : FeeModel
        Trading and financing costs.
    lot_size : float, sequence of float, or None
        Board lot (trading unit) in shares: every position is kept a whole multiple
        of it (seed sec. 1, "lot adjustment"; :mod:`pyxl.core.ledger.board_lots`).
        None (default) or 0: fractional shares.  A number applies to every asset,
        the hedge included; a sequence gives one lot per signal asset (the hedge
        then stays fractional) or, with a hedge, one more for the hedge last.
        A 0 in a sequence leaves that asset fractional.
    """

    lam: float = DEFAULT_LAM
    beta: float = DEFAULT_BETA
    beta_mode: str = "nav"
    cash0: float = 1_000_000.0
    min_cash: float = 0.0
    max_gross: float | None = None
    max_position: float | None = None
    drawdown_stop: float | None = None
    exec_lag: int = 0
    lot_method: str = "fifo"
    fees: FeeModel = field(default_factory=FeeModel)
    lot_size: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lam) and 0.0 <= self.lam <= 1.0):
            raise InputError("lam", f"must be in [0, 1], got {self.lam!r}", "use e.g. 0.9")
        if not (math.isfinite(self.beta) and self.beta >= 0.0):
            raise InputError("beta", f"must be >= 0, got {self.beta!r}", "use e.g. 35")
        if self.beta_mode not in ("nav", "absolute"):
            raise InputError("beta_mode", f"{self.beta_mode!r} is not nav or absolute",
                             "pick nav or absolute")
        if not (math.isfinite(self.cash0) and self.cash0 > 0.0):
            raise InputError("cash0", f"must be > 0, got {self.cash0!r}", "enter starting cash")
        if not math.isfinite(self.min_cash) or self.min_cash > self.cash0:
            raise InputError("min_cash", f"must be finite and <= cash0, got {self.min_cash!r}",
                             "lower the cash floor")
        _opt_pos(self.max_gross, "max_gross", "use e.g. 2 (x NAV) or leave blank")
        _opt_pos(self.max_position, "max_position", "use e.g. 0.1 (of NAV) or leave blank")
        dd = self.drawdown_stop
        if dd is not None and not (math.isfinite(dd) and 0.0 < dd < 1.0):
            raise InputError("drawdown_stop", f"must be in (0, 1), got {dd!r}",
                             "use e.g. 0.2 or leave blank")
        if self.exec_lag not in (0, 1):
            raise InputError("exec_lag", f"must be 0 or 1, got {self.exec_lag!r}", "use 0 or 1")
        if self.lot_method not in ("fifo", "average"):
            raise InputError("lot_method", f"{self.lot_method!r} is not fifo or average",
                             "pick fifo or average")
        if not isinstance(self.fees, FeeModel):
            raise InputError("fees", "must be a FeeModel", "pass FeeModel(...)")
        object.__setattr__(self, "lot_size", _check_lot_size(self.lot_size))


@dataclass
class BacktestResult:
    """Per-bar ledger of an MNVH backtest (arrays of length T; row 0 = start).

    Attributes
    ----------
    q, trades : (T, N) arrays
        End-of-bar positions and executed trades (shares) of the signal assets
        (read-only: FIFO lot columns are booked from the trades on first read).
    hedge_q, hedge_trades : (T,) arrays or None
        Hedge-asset position and trades when a hedge was used.
    kappa : (T,)
        Scale applied to the proposed trade (NaN at row 0; 0 when skipped or when a
        forced deleveraging replaced the trade).
    turnover : (T,)
        Traded notional ``sum_i |dq_i| p_i`` at bar s (currency, hedge included).
    delever : (T,)
        Fraction ``delta`` of every position closed by forced deleveraging (else 0).
    cash, nav, gross, net : (T,)
        Cash, NAV = cash + sum q p, gross = sum |q p|, net = sum q p (hedge included).
    mtm, fees, slippage, financing : (T,)
        PnL terms of bar s (currency): NAV_s - NAV_{s-1} = mtm - fees - slippage + financing.
    realised, unrealised : (T,)
        Realised PnL booked at bar s (mid, lot method) and unrealised PnL of the open
        lots (properties; FIFO books the stored trades on first read).
    risk_events : RiskEvents (a sequence of (t, kind, detail))
        Each time a limit bound or a stop fired (kinds in :data:`EVENT_NAMES`);
        the tuples are built on first access.
    """

    q: np.ndarray
    trades: np.ndarray
    kappa: np.ndarray
    cash: np.ndarray
    nav: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    mtm: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    financing: np.ndarray
    delever: np.ndarray
    turnover: np.ndarray
    risk_events: Sequence
    config: MNVHConfig
    prices: np.ndarray
    hedge_q: np.ndarray | None = None
    hedge_trades: np.ndarray | None = None
    hedge_prices: np.ndarray | None = None
    book_lots: Callable[[], tuple] | None = field(default=None, repr=False)
    #: The price DataFrame's dates and tickers when prices came as one (else None): the
    #: defaults of :meth:`to_frame` and :meth:`lot_table`.
    price_index: pd.Index | None = field(default=None, repr=False)
    price_columns: pd.Index | None = field(default=None, repr=False)
    #: Copy of the last bar's prices (hedge last) taken at run time: the lot table's
    #: marks, which must not follow later in-place edits of the caller's price array
    #: (``prices`` is a view of it).
    final_prices: np.ndarray = field(default=None, repr=False)  # set by run_backtest
    _lot_columns: tuple | None = field(default=None, init=False, repr=False)

    def _lot_ledger(self) -> tuple:
        """``(realised, unrealised, lots)``: the stored trades booked once, then kept."""
        if self._lot_columns is None:
            if self.book_lots is None:
                raise ValueError("this result has no trades to book lots from")
            self._lot_columns = self.book_lots()
        return self._lot_columns

    @property
    def realised(self) -> np.ndarray:
        """Realised PnL booked at each bar (currency, mid prices, the lot method)."""
        return self._lot_ledger()[0]

    @property
    def unrealised(self) -> np.ndarray:
        """Unrealised PnL of the open lots at the end of each bar (currency, mid)."""
        return self._lot_ledger()[1]

    @property
    def lots(self) -> dict:
        """Open lots at the end: arrays ``asset, bar, qty, price, fee``."""
        return self._lot_ledger()[2]

    @property
    def pnl(self) -> np.ndarray:
        """Per-bar PnL ``mtm - fees - slippage + financing`` (currency)."""
        return self.mtm - self.fees - self.slippage + self.financing

    @property
    def returns(self) -> np.ndarray:
        """Per-bar simple NAV returns (length T-1)."""
        return self.nav[1:] / self.nav[:-1] - 1.0

    def identity_residual(self) -> float:
        """Largest relative residual of ``NAV_s - NAV_{s-1} = MTM - fees - slippage + financing``.

        Each bar's residual is divided by ``max(|NAV_{s-1}|, gross_{s-1}, gross_s, 1)``;
        the maximum over bars (and over the summed check
        ``sum PnL = NAV_T - C_0`` relative to ``C_0``) is returned.
        """
        d = np.diff(self.nav) - self.pnl[1:]
        scale = np.maximum.reduce([np.abs(self.nav[:-1]), self.gross[:-1], self.gross[1:],
                                   np.ones(len(d))])
        step = float(np.max(np.abs(d) / scale)) if len(d) else 0.0
        total = abs(float(np.sum(self.pnl)) - (self.nav[-1] - self.config.cash0))
        return max(step, total / max(abs(self.config.cash0), float(np.max(self.gross)), 1.0))

    def events_frame(self) -> pd.DataFrame:
        """Risk events as a table: bar, kind, detail, meaning."""
        rows = [(t, k, d, _EVENT_DETAIL[k]) for t, k, d in self.risk_events]
        return pd.DataFrame(rows, columns=["bar", "kind", "detail", "meaning"])

    def to_frame(self, index=None, tickers=None) -> pd.DataFrame:
        """Per-bar ledger: scalar columns, then ``q:<ticker>`` and ``trade:<ticker>``.

        ``index`` and ``tickers`` default to the price DataFrame's dates and columns
        (``A1``, ``A2``, ... and 0..T-1 for a plain array).
        """
        T, N = self.q.shape
        index = self.price_index if index is None else index
        tickers = self.price_columns if tickers is None else tickers
        tickers = list(tickers) if tickers is not None else [f"A{i + 1}" for i in range(N)]
        if len(tickers) != N:
            raise InputError("tickers", f"has {len(tickers)} names for {N} assets",
                             "pass one name per column")
        cols = {
            "kappa": self.kappa, "delever": self.delever, "cash": self.cash, "nav": self.nav,
            "gross": self.gross, "net": self.net, "mtm": self.mtm, "fees": self.fees,
            "slippage": self.slippage, "financing": self.financing, "pnl": self.pnl,
            "realised": self.realised, "unrealised": self.unrealised,
            "turnover": self.turnover,
        }
        if self.hedge_q is not None:
            cols["hedge_q"] = self.hedge_q
            cols["hedge_trade"] = self.hedge_trades
        frame = pd.DataFrame(cols, index=index)
        qf = pd.DataFrame(self.q, columns=[f"q:{t}" for t in tickers], index=frame.index)
        tf = pd.DataFrame(self.trades, columns=[f"trade:{t}" for t in tickers],
                          index=frame.index)
        return pd.concat([frame, qf, tf], axis=1)

    def lot_table(self, tickers=None) -> pd.DataFrame:
        """Open lots at the end of the run: asset, bar opened, qty, price, fee, mark, unrealised.

        ``tickers`` defaults to the price DataFrame's columns (``A1``, ... for an array).

        FIFO: one row per open lot, oldest first; moving average: one row per
        open position at its average cost (bar = -1).  Prices are mid; ``fee`` is
        the commission + slippage paid when the lot's remaining quantity was opened.
        """
        N = self.q.shape[1]
        tickers = self.price_columns if tickers is None else tickers
        names = list(tickers) if tickers is not None else [f"A{i + 1}" for i in range(N)]
        if self.hedge_q is not None:
            names = names + ["hedge"]
        lots = self.lots
        a = lots["asset"]
        mark = self.final_prices[a]
        return pd.DataFrame({
            "asset": [names[i] for i in a], "bar": lots["bar"], "qty": lots["qty"],
            "price": lots["price"], "fee": lots["fee"], "mark": mark,
            "unrealised": lots["qty"] * (mark - lots["price"]),
        })


#: Open FIFO lots per asset held in the first attempt (a rerun holds 4 times more, at
#: most T).  The most seen: 227 on the benchmark's heavy book (2520 x 200 random walks,
#: every asset trading every bar), 14 on the bundled S&P data.  At 200 assets 256 lots
#: take 2 MB: under numpy's 4 MiB huge-page threshold, so only the pages the queues
#: reach are ever touched, and a first read of the lot columns costs 0.6 ns per
#: asset-step less (floor-bound book) and 0.75 ns less (heavy book) than with 1024
#: lots (means of 7 alternating pairs).
_FIFO_START_CAPACITY = 256


def rolling_vol(prices: np.ndarray, window: int = 20) -> np.ndarray:
    """Per-bar volatility known at each bar: RMS of the last ``window`` simple returns.

    Row ``s`` uses returns ``p_j/p_{j-1} - 1`` for ``j <= s`` only (row 0 is 0).
    """
    P = np.asarray(prices, dtype=float)
    r2 = np.zeros_like(P)
    r2[1:] = (P[1:] / P[:-1] - 1.0) ** 2
    c = np.cumsum(r2, axis=0)
    out = np.zeros_like(P)
    for s in range(1, P.shape[0]):
        lo = max(0, s - window)
        out[s] = np.sqrt((c[s] - c[lo]) / (s - lo))
    return out


def _as_matrix(a, name: str, T: int, N: int, fix: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1 and arr.shape[0] == N:
        arr = np.broadcast_to(arr, (T, N))
    if arr.shape != (T, N):
        raise InputError(name, f"has shape {arr.shape}, expected ({N},) or ({T}, {N})", fix)
    if not np.all(np.isfinite(arr)):
        raise InputError(name, "contains NaN or infinite values", fix)
    return np.ascontiguousarray(arr)


def _booked(columns: tuple) -> tuple:
    """The lot columns a run already booked (moving average: in the bar loop)."""
    return columns


def book_lots(P_rows: np.ndarray, trades: np.ndarray, rows: np.ndarray, q_end: np.ndarray,
              net: np.ndarray, config: MNVHConfig, kimp: np.ndarray,
              use_impact: bool) -> tuple:
    """Book a run's executed trades FIFO: ``(realised, unrealised, lots)``.

    ``trades`` are the kernel's (T, M) executed trades (hedge last), ``rows`` the
    bars that trade and ``P_rows`` their execution prices, ``q_end`` the final
    positions, ``net`` the per-bar ``sum_i q_i p_i``; ``unrealised = net - basis``
    with ``basis`` the signed cost of the open lots.  FIFO queues start at
    ``min(T, 256)`` lots per asset; on overflow the trades are booked again with four
    times the room, at most T (always enough: a bar opens at most one lot per asset),
    so a book with a few more open lots does not pay for T of them on every asset.
    """
    T, M = trades.shape
    realised = np.empty(T)
    basis = np.empty(T)
    fees = config.fees
    capacity = min(T, _FIFO_START_CAPACITY)
    while True:
        book = FifoBook(M, capacity)
        fifo_replay(P_rows, trades, rows, float(fees.fee_rate + fees.half_spread),
                    float(fees.fixed_fee), kimp, use_impact, *book.arrays(), realised, basis)
        if not book.overflow[0] or capacity >= T:
            break
        capacity = min(T, 4 * capacity)
    return realised, net - basis, book.open_lots(q_end)


def _bad_price(P: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first price, in row order, that is not finite and > 0 or
    is too small to invert (``1/p`` overflows); None when every price is usable."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        ok = (P > 0.0) & (P < np.inf) & (1.0 / P < np.inf)
    if ok.all():
        return None
    r, c = np.argwhere(~ok)[0]
    return int(r), int(c)


def _raise_bad_price(P: np.ndarray, where: tuple[int, int]) -> None:
    r, c = where
    v = float(P[r, c])
    need = "finite and > 0" + (" and above 1e-308" if 0.0 < v < np.inf else "")
    raise InputError("prices", f"must be {need} (row {r + 1}, column {c + 1} is {v!r})",
                     "fill gaps and remove zeros")


def _check_prices(P: np.ndarray) -> None:
    where = _bad_price(P)
    if where is not None:
        _raise_bad_price(P, where)


def kernel_events(nev: int, P: np.ndarray) -> int:
    """The kernel's event count; raise the prices error when it stopped on a bad price.

    :func:`~pyxl.core.mnvh.kernel.simulate` checks the signal prices in its first
    pass over each bar (a separate validation pass over T x N cost about 0.5 ns per
    asset-step) and returns ``BAD_PRICE - s`` at the first bar ``s`` holding a price
    that is not finite and > 0 (or too small to invert).
    """
    if nev >= 0:
        return nev
    s = K.BAD_PRICE - nev
    r, c = _bad_price(P[s:s + 1])
    _raise_bad_price(P, (s + r, c))
    return nev  # not reached




def check_rates(fees) -> None:
    """Refuse annual rates whose per-period growth factor compounds out of double range.

    Cash (and a short book's borrow fee) grows by ``1 + rate / P`` each of the ``P``
    bars of a year; the year's factor ``(1 + rate / P)^P`` must be a finite double,
    i.e. ``P ln(1 + |rate| / P) <= ln(1.8e308) = 709.8``.  The bound is about 3,960
    (396,000 % a year) for daily bars and above 709 for any ``P``, so every real rate,
    negative rates and hyperinflation rates included, passes; a date serial (45000)
    or a rate typed in basis points does not.  Checked once before the bar loop.

    Raises
    ------
    InputError
        Naming ``cash_rate``, ``debit_rate`` or ``borrow_rate``.
    """
    P = float(fees.periods_per_year)
    hit = _compounding_rate(fees, P, LOG_MAX)
    if hit is not None:
        name, r = hit
        top = P * math.expm1(LOG_MAX / P)
        raise InputError(name, f"{r:g} a year compounds beyond 1e308 over a year of "
                         f"{P:g} periods (limit {top:.4g})",
                         "enter an annual decimal rate (0.02 = 2 %)")


def _compounding_rate(fees, bars: float, log_limit: float) -> tuple[str, float] | None:
    """``(name, rate)`` of the first financing rate whose growth factor over ``bars`` bars,
    ``(1 + |rate| / P)^bars``, passes ``exp(log_limit)``; None when none does."""
    P = float(fees.periods_per_year)
    for name in ("cash_rate", "debit_rate", "borrow_rate"):
        r = getattr(fees, name)
        if r is not None and bars * math.log1p(abs(float(r)) / P) > log_limit:
            return name, float(r)
    return None


#: Largest |NAV| / cash0 a run may reach (a googol-fold gain or loss).  No price table or
#: rate produces it short of a typo, and beyond ~1e154 the returns' squares, hence the
#: volatility and Sharpe, leave double range (a 1e300 price gave NAV -5e302 and an
#: annualised vol of inf).
NAV_LIMIT = 1e100


def check_nav(nav: np.ndarray, fees, T: int, cash0: float = 1.0,
              prices: np.ndarray | None = None, beta: float | None = None) -> None:
    """Raise when the NAV path leaves ``|NAV| <= NAV_LIMIT * cash0`` (checked once after
    the bar loop; a non-finite NAV counts as beyond it).

    The argument named is the financing rate whose growth over the run's ``T`` bars
    alone passes the limit (``T ln(1 + |rate| / P) > ln(1e100)``); else ``prices`` when a
    price moves more than a million-fold in one bar (a typo such as 1e300 in a column
    of 100s; the row of the largest move is given); else ``beta``, which scales every
    position (when ``prices`` and ``beta`` are given).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        bad = np.flatnonzero(~(np.abs(nav) <= NAV_LIMIT * abs(float(cash0))))
    if bad.size == 0:
        return
    s = int(bad[0])
    hit = _compounding_rate(fees, T, math.log(NAV_LIMIT))
    if hit is not None:
        name, r = hit
        raise InputError(name, f"{r:g} a year compounds NAV beyond 1e100 x the starting "
                         f"cash within {T} bars", "enter an annual decimal rate (0.02 = 2 %)")
    what = "overflows" if not np.isfinite(nav[s]) else f"reaches {nav[s]:.3g}"
    if prices is not None and beta is not None and len(prices) > 1:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            jump = np.abs(np.log(prices[1:] / prices[:-1]))
        if not np.nanmax(jump, initial=0.0) > math.log(1e6):
            raise InputError("beta", f"{beta:g} scales positions until NAV {what} at row "
                             f"{s + 1}", "enter a smaller beta (in NAV mode a multiple of NAV, "
                             "e.g. 35)")
        k, c = (int(i) for i in np.unravel_index(np.nanargmax(jump), jump.shape))
        # of the two prices around the largest move, the one farther from its column's
        # median is the typo
        col = np.log(prices[:, c])
        mid = float(np.median(col))
        r = k if abs(col[k] - mid) > abs(col[k + 1] - mid) else k + 1
        raise InputError("prices", f"NAV {what}; the price at row {r + 1}, column {c + 1} "
                         f"({prices[r, c]:.3g}) is far out of line with its neighbours",
                         "check it for a typo")
    raise InputError("prices", f"NAV {what} at row {s + 1}",
                     "check the prices near that row for a typo")


def prepare_inputs(prices, weights, config: MNVHConfig, beta_scale=None, hedge_prices=None,
                   asset_betas=None, adv=None, vol=None):
    """Validate inputs and build the kernel's arrays (shared by the engine and the grid).

    The values of ``prices`` (finite, > 0) are checked by the kernel itself, in its
    first pass over each bar (pass its return value through :func:`kernel_events`),
    except with the impact term, whose rolling volatility needs them first.  pandas
    inputs are aligned to a price DataFrame's labels
    (:func:`pyxl.core.labels.align_to_prices`); a price DataFrame with dates out of
    order (newest first) is refused.
    """
    check_time_order(prices, "prices")
    weights = align_to_prices(weights, prices, "weights", assets=True, dates=True)
    beta_scale = align_to_prices(beta_scale, prices, "beta_scale", assets=False, dates=True)
    hedge_prices = align_to_prices(hedge_prices, prices, "hedge_prices", assets=False, dates=True)
    asset_betas = align_to_prices(asset_betas, prices, "asset_betas", assets=True, dates=True)
    adv = align_to_prices(adv, prices, "adv", assets=True, dates=True)
    vol = align_to_prices(vol, prices, "vol", assets=True, dates=True)
    P = np.asarray(prices, dtype=float)
    if P.ndim != 2 or P.shape[0] < 2 or P.shape[1] < 1:
        raise InputError("prices", f"has shape {P.shape}, needs T x N with T >= 2",
                         "pass a 2-D array, one column per asset")
    if P.shape[1] < 2:
        raise InputError("prices", "has 1 asset; MNVH trades each asset against the basket "
                         "(R - r is 0 with one asset)", "give 2 or more price columns")
    T, N = P.shape
    w_arr = np.asarray(weights, dtype=float)
    if w_arr.ndim == 1 and w_arr.shape[0] == N:
        if not np.all(np.isfinite(w_arr)):
            raise InputError("weights", "contains NaN or infinite values",
                             "one finite weight per asset")
        W = np.ascontiguousarray(w_arr[None, :])  # constant weights: one row serves every bar
    else:
        W = _as_matrix(w_arr, "weights", T, N, "one weight per asset (or per bar and asset)")
    check_sums(W, "weights", by_row=W.shape[0] > 1)  # eq. 1 is market neutral only then
    if beta_scale is None:
        bs = np.ones(T)
    else:
        bs = np.asarray(beta_scale, dtype=float).ravel()
        if bs.shape != (T,) or not np.all(np.isfinite(bs)) or np.any(bs < 0):
            raise InputError("beta_scale", f"must be {T} finite values >= 0",
                             "one multiplier per bar")
    has_hedge = hedge_prices is not None
    if has_hedge:
        h = np.asarray(hedge_prices, dtype=float).ravel()
        if h.shape != (T,) or not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise InputError("hedge_prices", f"must be {T} finite prices > 0",
                             "align the hedge series with prices")
        Pm = np.ascontiguousarray(np.column_stack([P, h]))
        ab = (np.ones((T, N)) if asset_betas is None else
              _as_matrix(asset_betas, "asset_betas", T, N, "one beta per asset"))
    else:
        Pm = np.ascontiguousarray(P)
        ab = np.ones((1, 1))
    M = Pm.shape[1]
    fees = config.fees
    check_rates(fees)
    use_impact = fees.impact_coef > 0.0
    if use_impact:
        if adv is None:
            raise InputError("adv", "is required when impact_coef > 0",
                             "pass average volume per bar in shares, or set impact_coef=0")
        A = _as_matrix(adv, "adv", T, N, "shares traded per bar, > 0")
        if np.any(A <= 0):
            raise InputError("adv", "must be > 0", "shares traded per bar, > 0")
        _check_prices(P)
        V = rolling_vol(P) if vol is None else _as_matrix(vol, "vol", T, N, "per-bar vol")
        kimp = np.zeros((T, M))
        kimp[:, :N] = fees.impact_coef * V / A
    else:
        kimp = np.zeros((1, M))
    Pm, W, bs, ab, kimp = (_kernel_array(a) for a in (Pm, W, bs, ab, kimp))
    return P, Pm, W, bs, ab, has_hedge, kimp, use_impact


def _kernel_array(a: np.ndarray) -> np.ndarray:
    """C-contiguous, writable float64: the one array type the kernel is compiled for
    (a read-only input, e.g. a cached result, would otherwise trigger a second compile)."""
    if a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
        return np.array(a, dtype=np.float64, order="C")
    return a


def run_backtest(prices, weights, config: MNVHConfig | None = None, *, beta_scale=None,
                 hedge_prices=None, asset_betas=None, adv=None, vol=None) -> BacktestResult:
    """Run MNVH (eq. 1) through the Ledger-SPT cash account.

    Parameters
    ----------
    prices : array (T, N)
        Mid prices > 0, one column per asset, bars in time order.
    weights : array (N,) or (T, N)
        Target notional weights; row t is known at t (used at bar t+1).
    config : MNVHConfig, optional
        Defaults to ``MNVHConfig()``.
    beta_scale : array (T,), optional
        Multiplier on beta known at t (regime throttle, sec. 10); default 1.
    hedge_prices : array (T,), optional
        Price of a hedge asset (e.g. the index); when given, a position in it makes
        the target book beta-neutral: ``h q_h = -sum_i b_i q*_i p_i``.
    asset_betas : array (N,) or (T, N), optional
        Betas ``b_i`` to the hedge asset known at t (default 1: dollar-neutral).
    adv : array (N,) or (T, N), optional
        Average volume per bar in shares (needed when ``fees.impact_coef > 0``).
    vol : array (N,) or (T, N), optional
        Per-bar return volatility for the impact term (default :func:`rolling_vol`).

    Returns
    -------
    BacktestResult
    """
    config = MNVHConfig() if config is None else config
    P, Pm, W, bs, ab, has_hedge, kimp, use_impact = prepare_inputs(
        prices, weights, config, beta_scale, hedge_prices, asset_betas, adv, vol)
    T, N = P.shape
    M = Pm.shape[1]
    # every row is written by the kernel.  One 2 x T x M block, not two arrays: at 2520 x
    # 200 each array is 4.03 MB, just under numpy's 4 MiB huge-page threshold, and the
    # first-touch faults and unmapping of 2 x 1000 small pages cost 0.2-1 ns per
    # asset-step of the run (more on every other run, as malloc recycles memory)
    q_out, tr_out = np.empty((2, T, M))
    steps = [np.zeros(T) for _ in range(11)]
    cap_ev = 6 * T + 16
    ev_t = np.zeros(cap_ev, dtype=np.int64)
    ev_k = np.zeros(cap_ev, dtype=np.int64)
    ev_d = np.zeros(cap_ev)
    cash_per, debit_per, borrow_per = config.fees.per_period()
    # moving-average lots are booked in the bar loop; FIFO lots from the stored trades
    # when first read (see the module docstring)
    fifo = config.lot_method == "fifo"
    avg = np.zeros(M)
    real, unreal = (np.zeros(1), np.zeros(1)) if fifo else (np.zeros(T), np.zeros(T))
    use_lots, lots = lot_sizes(config, N, has_hedge)
    nev = K.simulate(
        Pm, W, N, float(config.lam), float(config.beta), config.beta_mode == "nav", bs,
        ab, has_hedge, float(config.cash0), float(config.min_cash),
        _opt_pos(config.max_gross, "max_gross", ""),
        _opt_pos(config.max_position, "max_position", ""),
        math.inf if config.drawdown_stop is None else float(config.drawdown_stop),
        int(config.exec_lag), float(config.fees.fee_rate), float(config.fees.half_spread),
        float(config.fees.fixed_fee), kimp, use_impact, cash_per, debit_per, borrow_per,
        True, q_out, tr_out, *steps, ev_t, ev_k, ev_d, not fifo, avg, real, unreal,
        use_lots, lots)
    nev = kernel_events(nev, P)
    (kappa, cash, nav, gross, net, mtm, fees, slip, fin, delev, turn) = steps
    check_nav(nav, config.fees, T, config.cash0, P, float(config.beta))
    events = RiskEvents(ev_t[:nev].copy(), ev_k[:nev].copy(), ev_d[:nev].copy())
    q_out.flags.writeable = False
    tr_out.flags.writeable = False
    if fifo:
        # booked later: from a private copy of the prices of the bars that trade (the
        # caller may change their price array), of net and of the final positions, and
        # from the trades, which (with the positions) are read-only
        rows = np.flatnonzero(turn > 0.0)
        lots = functools.partial(book_lots, Pm[rows], tr_out, rows, q_out[-1].copy(),
                                 net.copy(), config, kimp, use_impact)
    else:
        held = np.flatnonzero(q_out[-1])
        lots = functools.partial(_booked, (real, unreal, {
            "asset": held, "bar": np.full(held.size, -1, dtype=np.int64),
            "qty": q_out[-1, held], "price": avg[held], "fee": np.full(held.size, np.nan)}))
    return BacktestResult(
        q=q_out[:, :N], trades=tr_out[:, :N], kappa=kappa, cash=cash, nav=nav, gross=gross,
        net=net, mtm=mtm, fees=fees, slippage=slip, financing=fin, delever=delev,
        turnover=turn, risk_events=events, config=config,
        prices=P,
        hedge_q=q_out[:, N] if has_hedge else None,
        hedge_trades=tr_out[:, N] if has_hedge else None,
        hedge_prices=Pm[:, N] if has_hedge else None, book_lots=lots,
        price_index=prices.index if isinstance(prices, pd.DataFrame) else None,
        price_columns=prices.columns if isinstance(prices, pd.DataFrame) else None,
        final_prices=Pm[-1].copy())
