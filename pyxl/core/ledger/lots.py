"""Lot accounting per asset: FIFO lots or moving-average cost (seed 000, sec. 4).

Lots are opened at the **mid** execution price; commission and slippage are
recorded on the lot (``fee`` column, currency) but kept out of the cost basis, so
that, summed over a run,

    sum(realised) + unrealised_T = sum(MTM)          (all at mid prices)

and the costs appear once, in the fees / slippage columns of the ledger.

* FIFO: buys add a lot to a long position, sells close the oldest lots first;
  a trade through zero closes every lot and opens one lot with the remainder.
* Moving average (総平均法/移動平均法, common in Japanese accounting): one
  average cost per asset; adding to a position re-averages, reducing realises
  ``(p - avg) * closed`` (longs) at the unchanged average; a trade through zero
  restarts the average at the trade price.

The state lives in plain numpy arrays so compiled code updates it in place.  A
backtest books moving-average lots in its bar loop (:func:`average_cost_step`, about
1 ns per asset-step) and FIFO lots after the run, from the stored trades
(:func:`fifo_replay`, called by :class:`pyxl.core.mnvh.engine.BacktestResult` on the
first read of its lot columns): lots never feed back into trading, and FIFO
matching costs about 10 ns per trade, which only callers reading the lots pay.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FifoBook", "fifo_book_trades", "fifo_replay",
           "average_cost_step", "LOT_CUM_QTY", "LOT_CUM_BASIS", "LOT_PRICE",
           "LOT_FEE_PER_UNIT", "LOT_BAR"]


#: Fields of a FIFO lot record: cumulative |quantity| and cumulative |quantity| x price at
#: the lot's end (since the queue was last emptied), its price, fee per unit and bar.
LOT_CUM_QTY, LOT_CUM_BASIS, LOT_PRICE, LOT_FEE_PER_UNIT, LOT_BAR = 0, 1, 2, 3, 4


class FifoBook:
    """FIFO lot queues, one per asset, updated in place by the compiled booking functions.

    Each asset's open lots are records ``lots[i, head[i]:tail[i]]``, oldest first,
    stored **cumulatively**: field ``LOT_CUM_QTY`` is the absolute quantity opened up
    to the end of the lot and ``LOT_CUM_BASIS`` the matching ``sum |qty| x price``.
    ``offs[i] = (consumed quantity, consumed basis)`` marks how far FIFO closing has
    eaten into the queue, so a close of ``c`` shares costs ``B(off + c) - B(off)``
    with ``B`` the piecewise-linear cumulative basis: one short scan for the lot the
    new offset lands in, no per-lot bookkeeping.  The lot the offset lands in is
    the partially closed oldest lot.  When a queue reaches ``capacity`` its live
    lots are moved to the front (and the cumulative fields rebased, which also
    keeps them small); ``overflow[0]`` is set only when an asset has more than
    ``capacity`` open lots, and the backtest then rebooks its trades with four
    times the capacity, at most T (:func:`pyxl.core.mnvh.engine.book_lots`; T is
    always enough: a bar opens at most one lot per asset).

    Parameters
    ----------
    n_assets : int
        Number of assets.
    capacity : int
        Open lots per asset the buffer holds.
    """

    def __init__(self, n_assets: int, capacity: int) -> None:
        cap = max(int(capacity), 1)
        # only records in [head, tail) are ever read, and each is written first
        self.lots = np.empty((n_assets, cap, 5))
        self.head = np.zeros(n_assets, dtype=np.int64)
        self.tail = np.zeros(n_assets, dtype=np.int64)
        self.offs = np.zeros((n_assets, 2))
        self.overflow = np.zeros(1, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return self.lots.shape[1]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """``(lots, head, tail, offs, overflow)``, the order the kernels take them in."""
        return self.lots, self.head, self.tail, self.offs, self.overflow

    def open_lots(self, position: np.ndarray) -> dict[str, np.ndarray]:
        """Open lots, oldest first per asset: arrays ``asset, bar, qty, price, fee``.

        ``position`` (N,) gives each asset's sign (the queue stores magnitudes);
        ``fee`` is the lot's share of its opening trade's costs (currency).
        """
        sign = np.sign(np.asarray(position, dtype=float))
        n = int(np.sum(self.tail - self.head))
        asset = np.empty(n, dtype=np.int64)
        bar = np.empty(n, dtype=np.int64)
        qty, price, fee = np.empty(n), np.empty(n), np.empty(n)
        k = _collect_open_lots(self.lots, self.head, self.tail, self.offs, sign, asset, bar,
                               qty, price, fee)
        return {"asset": asset[:k], "bar": bar[:k], "qty": qty[:k], "price": price[:k],
                "fee": fee[:k]}


@njit(cache=True)
def _collect_open_lots(lots, head, tail, offs, sign, asset, bar, qty, price, fee) -> int:
    """Write the open lots of every asset with a position into the output arrays;
    return how many (a lot closed down to nothing, or an asset now flat, is skipped)."""
    k = 0
    for i in range(head.shape[0]):
        if sign[i] == 0.0:
            continue
        start = offs[i, 0]
        for j in range(head[i], tail[i]):
            end = lots[i, j, LOT_CUM_QTY]
            size = end - start
            start = end
            if size <= 0.0:
                continue
            asset[k] = i
            bar[k] = int(lots[i, j, LOT_BAR])
            qty[k] = sign[i] * size
            price[k] = lots[i, j, LOT_PRICE]
            fee[k] = size * lots[i, j, LOT_FEE_PER_UNIT]
            k += 1
    return k


@njit(cache=True, inline="always")
def _cost_per_unit(x: float, p: float, lin: float, fixed_fee: float, kimp_i: float) -> float:
    """Costs of a trade of ``x`` shares at ``p`` per share traded: ``lin |x| p + fixed_fee
    + kimp_i p x^2`` over ``|x|`` (the ``fee`` a lot opened by it records per unit)."""
    ax = abs(x)
    return (lin * ax * p + fixed_fee + kimp_i * p * x * x) / ax


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (no copy).

    numba compiles a function once per argument type, and a read-only array is a type of
    its own: a backtest's stored trades are read-only, so the public booking functions
    pass every caller's trades read-only and all of them share one compile (a writable
    array compiled :func:`fifo_replay` and :func:`fifo_book_trades` a second time, about
    1.5 s on an empty cache).
    """
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


def fifo_book_trades(bar: int, p: np.ndarray, dq: np.ndarray, q: np.ndarray,
                     lin: float, fixed_fee: float, kimp: np.ndarray, use_impact: bool,
                     lots: np.ndarray, head: np.ndarray, tail: np.ndarray, offs: np.ndarray,
                     basis: np.ndarray, overflow: np.ndarray, order: np.ndarray) -> float:
    """Book one bar's trades ``dq_i`` (shares) at mid ``p_i`` FIFO; return realised PnL.

    The compiled :func:`_book_trades` with ``dq`` passed read-only (see
    :func:`_read_only`); its documentation has the details.
    """
    return _book_trades(bar, p, _read_only(dq), q, lin, fixed_fee, kimp, use_impact, lots,
                        head, tail, offs, basis, overflow, order)


@njit(cache=True)
def _book_trades(bar: int, p: np.ndarray, dq: np.ndarray, q: np.ndarray,
                 lin: float, fixed_fee: float, kimp: np.ndarray, use_impact: bool,
                 lots: np.ndarray, head: np.ndarray, tail: np.ndarray, offs: np.ndarray,
                 basis: np.ndarray, overflow: np.ndarray, order: np.ndarray) -> float:
    """Book one bar's trades ``dq_i`` (shares) at mid ``p_i`` FIFO; return realised PnL.

    ``q`` holds the positions before the trades (shares, not changed here);
    ``basis[i]`` (signed ``sum qty x price`` of the open lots, currency) is updated
    in place.  Each opened lot records its trade's costs per unit,
    ``lin |dq_i| p_i + fixed_fee + kimp_i p_i dq_i^2`` over ``|dq_i|`` (``kimp`` is
    read only when ``use_impact``).  A close of ``c`` shares realises
    ``c p - (B(off + c) - B(off))`` for a long (the negative for a short); a trade
    through zero closes every lot and opens one lot with the remainder.

    ``order`` is int64 scratch of length ``3 N``.  The bar's trades are first
    classified by a loop that compiles to SIMD code, then split, without branches,
    into closing and opening lists, and each list is then booked
    by a loop with no direction test: the direction of a trade is close to a coin
    flip, and mispredicting it was the largest cost of a mixed loop.  One call books
    a whole bar; a call per asset would also pay numba's per-call reference counting
    on every array argument, which cost more than the booking itself.
    """
    n = q.shape[0]
    cap = lots.shape[1]
    # classify every trade in a loop that compiles to SIMD code (1 open, 2 close, 0
    # none; a trade through zero is a close), then list each kind without branches
    kind = order[2 * n:]
    for i in range(n):
        x = dq[i]
        qi = q[i]
        kind[i] = (x != 0.0) + (((qi > 0.0) & (x < 0.0)) | ((qi < 0.0) & (x > 0.0)))
    n_close = 0
    n_open = 0
    for i in range(n):
        k = kind[i]
        order[n_close] = i
        order[n + n_open] = i
        n_close += k == 2
        n_open += k == 1
    realised = 0.0
    for k in range(n_close):
        i = order[k]
        x = dq[i]
        pi = p[i]
        qi = q[i]
        ax = abs(x)
        aq = abs(qi)
        sg = 1.0 if qi > 0.0 else -1.0
        h = head[i]
        t = tail[i]
        if ax < aq:
            # partial close: move the offset; the first step of the scan is branch-free
            o = offs[i, 0] + ax
            h += (h < t - 1) & (lots[i, h, 0] <= o)
            while h < t - 1 and lots[i, h, 0] <= o:
                h += 1
            if t > 0:
                bo = lots[i, h, 1] - (lots[i, h, 0] - o) * lots[i, h, 2]
            else:  # a position without lots (only after an overflow, which is rerun)
                bo = offs[i, 1] + ax * pi
            consumed = bo - offs[i, 1]
            realised += sg * (ax * pi - consumed)
            basis[i] -= sg * consumed
            head[i] = h
            offs[i, 0] = o
            offs[i, 1] = bo
        else:
            # closes the whole position; through zero the remainder opens a lot
            consumed = lots[i, t - 1, 1] - offs[i, 1] if t > 0 else aq * pi
            realised += sg * (aq * pi - consumed)
            head[i] = 0
            tail[i] = 0
            offs[i, 0] = 0.0
            offs[i, 1] = 0.0
            basis[i] = 0.0
            rem = ax - aq
            if rem > 0.0:
                lots[i, 0, 0] = rem
                lots[i, 0, 1] = rem * pi
                lots[i, 0, 2] = pi
                lots[i, 0, 3] = _cost_per_unit(x, pi, lin, fixed_fee,
                                               kimp[i] if use_impact else 0.0)
                lots[i, 0, 4] = bar
                tail[i] = 1
                basis[i] = -sg * rem * pi
    for k in range(n_open):
        i = order[n + k]
        x = dq[i]
        pi = p[i]
        ax = abs(x)
        t = tail[i]
        if t == cap:
            h = head[i]
            if h == 0:
                overflow[0] = 1
                continue
            # move the live lots to the front and rebase the cumulative fields
            o = offs[i, 0]
            bo = offs[i, 1]
            for j in range(h, t):
                lots[i, j - h, 0] = lots[i, j, 0] - o
                lots[i, j - h, 1] = lots[i, j, 1] - bo
                lots[i, j - h, 2] = lots[i, j, 2]
                lots[i, j - h, 3] = lots[i, j, 3]
                lots[i, j - h, 4] = lots[i, j, 4]
            t -= h
            head[i] = 0
            offs[i, 0] = 0.0
            offs[i, 1] = 0.0
        c0 = lots[i, t - 1, 0] if t > 0 else 0.0
        b0 = lots[i, t - 1, 1] if t > 0 else 0.0
        lots[i, t, 0] = c0 + ax
        lots[i, t, 1] = b0 + ax * pi
        lots[i, t, 2] = pi
        lots[i, t, 3] = _cost_per_unit(x, pi, lin, fixed_fee, kimp[i] if use_impact else 0.0)
        lots[i, t, 4] = bar
        tail[i] = t + 1
        basis[i] += x * pi
    return realised


@njit(cache=True, fastmath=False)
def average_cost_step(x: float, p: float, q: float, avg: float) -> tuple[float, float]:
    """Moving-average cost of one trade of ``x`` shares at mid ``p`` on a position ``q``.

    Returns ``(realised, new average)`` (currency, currency per share); ``avg`` is
    the average cost per share of ``q``:

    * adding (same sign or from flat): ``avg = (|q| avg + |x| p) / (|q| + |x|)``;
    * reducing (``|x| < |q|``): realise ``-x (p - avg)``, average unchanged;
    * closing (``|x| = |q|``): realise ``q (p - avg)``, average 0;
    * through zero: realise ``q (p - avg)``, the remainder opens at ``p``;
    * ``x = 0``: nothing.

    Every candidate is computed and the result selected (no data-dependent
    branch), so loops calling it compile to SIMD code (the backtest kernel books a
    bar's trades with it in a pass of their own).
    """
    aq = abs(q)
    ax = abs(x)
    den = aq + ax
    wavg = (aq * avg + ax * p) / (den if den > 0.0 else 1.0)
    adding = (q == 0.0) | ((q > 0.0) == (x > 0.0))
    partial = ax < aq
    closing = ax == aq
    r = 0.0 if adding else (-x if partial else q) * (p - avg)
    reduced = avg if partial else (0.0 if closing else p)
    new_avg = wavg if adding else reduced
    none = x == 0.0
    return (0.0 if none else r), (avg if none else new_avg)


@njit(cache=True, fastmath={"reassoc"})
def _basis_sum(basis: np.ndarray) -> float:
    b = 0.0
    for i in range(basis.shape[0]):
        b += basis[i]
    return b


def fifo_replay(P: np.ndarray, trades: np.ndarray, rows: np.ndarray, lin: float,
                fixed_fee: float, kimp: np.ndarray, use_impact: bool, lots: np.ndarray,
                head: np.ndarray, tail: np.ndarray, offs: np.ndarray, overflow: np.ndarray,
                realised: np.ndarray, basis_total: np.ndarray) -> None:
    """Book a finished run's executed trades FIFO, bar by bar (the lot ledger of a backtest).

    The compiled :func:`_replay` with ``trades`` passed read-only (see
    :func:`_read_only`); its documentation has the parameters.
    """
    _replay(P, _read_only(trades), rows, lin, fixed_fee, kimp, use_impact, lots, head, tail,
            offs, overflow, realised, basis_total)


@njit(cache=True)
def _replay(P: np.ndarray, trades: np.ndarray, rows: np.ndarray, lin: float,
            fixed_fee: float, kimp: np.ndarray, use_impact: bool, lots: np.ndarray,
            head: np.ndarray, tail: np.ndarray, offs: np.ndarray, overflow: np.ndarray,
            realised: np.ndarray, basis_total: np.ndarray) -> None:
    """Book a finished run's executed trades FIFO, bar by bar (the lot ledger of a backtest).

    Lot accounting never feeds back into the trading decisions (the cash account,
    kappa and the PnL terms use positions and prices only), so it is a pure
    function of the executed trades and can run after the simulation, and only
    when its columns are read.

    Parameters
    ----------
    P : (len(rows), M)
        Execution (mid) prices of the bars that trade: row ``k`` is bar ``rows[k]``.
    trades : (T, M)
        Executed trades (shares) of every bar; positions are their running sums.
    rows : (K,) int64
        The bars with a trade, increasing (bars not listed must not trade).
    lin, fixed_fee, kimp, use_impact
        Cost model recorded on each opened lot (see :func:`fifo_book_trades`);
        ``kimp`` is (T, M) when ``use_impact`` else any (1, M) array.
    lots, head, tail, offs, overflow
        A fresh :class:`FifoBook`'s arrays; on return they hold the open lots.
    realised : (T,)
        Out: realised PnL booked at each bar (currency, mid prices).
    basis_total : (T,)
        Out: ``sum_i`` signed basis of the open lots after each bar (currency), so
        unrealised PnL is ``net_s - basis_total_s``.
    """
    T, M = trades.shape
    # np.empty and a loop, not np.zeros: numba compiles np.zeros (and the np.empty
    # variant and fill it calls) as helpers of their own, about 0.2 s on an empty cache
    q = np.empty(M)
    basis = np.empty(M)
    for i in range(M):
        q[i] = 0.0
        basis[i] = 0.0
    order = np.empty(3 * M, dtype=np.int64)
    total = 0.0
    done = 0  # bars below this are filled in
    for k in range(rows.shape[0]):
        s = rows[k]
        for u in range(done, s):
            realised[u] = 0.0
            basis_total[u] = total
        row = trades[s]
        realised[s] = _book_trades(s, P[k], row, q, lin, fixed_fee,
                                   kimp[s] if use_impact else kimp[0], use_impact,
                                   lots, head, tail, offs, basis, overflow, order)
        for i in range(M):
            q[i] += row[i]
        total = _basis_sum(basis)
        basis_total[s] = total
        done = s + 1
    for u in range(done, T):
        realised[u] = 0.0
        basis_total[u] = total
