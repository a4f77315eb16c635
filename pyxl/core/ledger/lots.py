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

The state lives in plain numpy arrays so the numba engine updates it in place.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FifoBook", "fifo_trade", "average_trade", "LOT_QTY", "LOT_PRICE",
           "LOT_FEE_PER_UNIT", "LOT_BAR"]


#: Columns of a FIFO lot record.
LOT_QTY, LOT_PRICE, LOT_FEE_PER_UNIT, LOT_BAR = 0, 1, 2, 3


class FifoBook:
    """Ring buffers of open lots, one per asset, for the numba engine.

    ``lots[i, j]`` is one record ``(qty, price, fee per unit, bar)`` (fields
    interleaved so a lot is one cache access); asset ``i``'s open lots are slots
    ``head[i], head[i]+1, ...`` (mod capacity), ``count[i]`` of them, oldest first.
    ``overflow[0]`` is set when an asset needs more than ``capacity`` open lots;
    the engine then reruns with a capacity of T (always enough: a bar opens at
    most one lot per asset).

    Parameters
    ----------
    n_assets : int
        Number of assets.
    capacity : int
        Open lots per asset the buffer holds.
    """

    def __init__(self, n_assets: int, capacity: int) -> None:
        cap = max(int(capacity), 1)
        # only slots in [head, head + count) are ever read, and each is written first
        self.lots = np.empty((n_assets, cap, 4))
        self.head = np.zeros(n_assets, dtype=np.int64)
        self.count = np.zeros(n_assets, dtype=np.int64)
        self.overflow = np.zeros(1, dtype=np.int64)

    @property
    def capacity(self) -> int:
        return self.lots.shape[1]

    def open_lots(self) -> dict[str, np.ndarray]:
        """Open lots, oldest first per asset: arrays ``asset, bar, qty, price, fee``."""
        cap = self.capacity
        assets, slots = [], []
        for i in np.flatnonzero(self.count):
            k = (int(self.head[i]) + np.arange(int(self.count[i]))) % cap
            assets.append(np.full(k.size, i, dtype=np.int64))
            slots.append(k)
        if not assets:
            e = np.zeros(0)
            return {"asset": np.zeros(0, dtype=np.int64), "bar": np.zeros(0, dtype=np.int64),
                    "qty": e, "price": e, "fee": e}
        a = np.concatenate(assets)
        rec = self.lots[a, np.concatenate(slots)]
        qty = rec[:, LOT_QTY]
        return {"asset": a, "bar": rec[:, LOT_BAR].astype(np.int64), "qty": qty,
                "price": rec[:, LOT_PRICE], "fee": np.abs(qty) * rec[:, LOT_FEE_PER_UNIT]}


@njit(cache=True, inline="always")
def fifo_trade(i: int, x: float, p: float, bar: int, cost: float, q_i: float,
               lots: np.ndarray, head: np.ndarray, count: np.ndarray, basis: np.ndarray,
               overflow: np.ndarray) -> float:
    """Book a trade of ``x`` shares of asset ``i`` at mid ``p``; return the realised PnL.

    ``q_i`` is the position before the trade, ``cost`` the trade's fees + slippage
    (stored per unit on the lot it opens), ``basis[i]`` the running sum of
    ``qty * price`` over the open lots (updated in place).
    """
    if x == 0.0:
        return 0.0
    cap = lots.shape[1]
    realised = 0.0
    remaining = x
    if q_i != 0.0 and (q_i > 0.0) != (x > 0.0):
        # closing against the oldest lots
        while count[i] > 0 and remaining != 0.0:
            j = head[i]
            lq = lots[i, j, 0]
            lp = lots[i, j, 1]
            if abs(remaining) >= abs(lq):
                realised += lq * (p - lp)
                basis[i] -= lq * lp
                remaining += lq
                j += 1
                head[i] = 0 if j == cap else j
                count[i] -= 1
            else:
                # partial close: remaining has the opposite sign of lq
                realised -= remaining * (p - lp)
                basis[i] += remaining * lp
                lots[i, j, 0] = lq + remaining
                remaining = 0.0
        if count[i] == 0:
            head[i] = 0
            basis[i] = 0.0
    if remaining != 0.0:
        if count[i] == cap:
            overflow[0] = 1
            return realised
        j = head[i] + count[i]
        if j >= cap:
            j -= cap
        lots[i, j, 0] = remaining
        lots[i, j, 1] = p
        lots[i, j, 2] = cost / abs(x)
        lots[i, j, 3] = bar
        count[i] += 1
        basis[i] += remaining * p
    return realised


@njit(cache=True)
def average_trade(i: int, x: float, p: float, q_i: float, avg: np.ndarray,
                  basis: np.ndarray) -> float:
    """Moving-average cost booking of ``x`` shares at mid ``p``; return the realised PnL.

    ``avg[i]`` is the average cost per share of the open position ``q_i`` (before
    the trade); ``basis[i] = q * avg`` after the trade (updated in place).  Every
    candidate is computed and the result selected, so the random direction of the
    trades costs no branch mispredictions:

    * adding (same sign or from flat): ``avg = (|q| avg + |x| p) / (|q| + |x|)``;
    * reducing (``|x| < |q|``): realise ``-x (p - avg)``, average unchanged;
    * closing (``|x| = |q|``): realise ``q (p - avg)``, average 0;
    * through zero: realise ``q (p - avg)``, the remainder opens at ``p``.
    """
    a = avg[i]
    aq = abs(q_i)
    ax = abs(x)
    den = aq + ax
    wavg = (aq * a + ax * p) / (den if den > 0.0 else 1.0)
    adding = (q_i == 0.0) | ((q_i > 0.0) == (x > 0.0))
    partial = ax < aq
    closing = ax == aq
    realised = 0.0 if adding else (-x if partial else q_i) * (p - a)
    reduced = a if partial else (0.0 if closing else p)
    new_avg = wavg if adding else reduced
    q_new = 0.0 if ((not adding) and closing) else q_i + x
    if x == 0.0:
        new_avg = a
        q_new = q_i
        realised = 0.0
    avg[i] = new_avg
    basis[i] = q_new * new_avg
    return realised
