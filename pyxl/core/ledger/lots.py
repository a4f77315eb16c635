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

__all__ = ["FifoBook", "fifo_trade", "average_trade"]


class FifoBook:
    """Ring buffers of open lots, one row per asset (arrays used by the numba engine).

    Parameters
    ----------
    n_assets : int
        Number of assets (rows).
    capacity : int
        Maximum open lots per asset (a bar opens at most one lot per asset, so the
        number of bars is always enough).
    """

    def __init__(self, n_assets: int, capacity: int) -> None:
        cap = max(int(capacity), 1)
        self.qty = np.zeros((n_assets, cap))
        self.price = np.zeros((n_assets, cap))
        self.bar = np.zeros((n_assets, cap), dtype=np.int64)
        self.fee_per_unit = np.zeros((n_assets, cap))
        self.head = np.zeros(n_assets, dtype=np.int64)
        self.count = np.zeros(n_assets, dtype=np.int64)

    def open_lots(self) -> list[tuple[int, int, float, float, float]]:
        """Open lots as ``(asset, bar opened, qty, price, fee)``, oldest first per asset."""
        out = []
        cap = self.qty.shape[1]
        for i in range(self.qty.shape[0]):
            for k in range(int(self.count[i])):
                j = (int(self.head[i]) + k) % cap
                q = float(self.qty[i, j])
                out.append((i, int(self.bar[i, j]), q, float(self.price[i, j]),
                            abs(q) * float(self.fee_per_unit[i, j])))
        return out


@njit(cache=True)
def fifo_trade(i: int, x: float, p: float, bar: int, cost: float, q_i: float,
               lot_q: np.ndarray, lot_p: np.ndarray, lot_bar: np.ndarray,
               lot_fu: np.ndarray, head: np.ndarray, count: np.ndarray,
               basis: np.ndarray) -> float:
    """Book a trade of ``x`` shares of asset ``i`` at mid ``p``; return the realised PnL.

    ``q_i`` is the position before the trade, ``cost`` the trade's fees + slippage
    (stored per unit on the lot it opens), ``basis[i]`` the running sum of
    ``qty * price`` over the open lots (updated in place).
    """
    if x == 0.0:
        return 0.0
    cap = lot_q.shape[1]
    realised = 0.0
    remaining = x
    if q_i != 0.0 and (q_i > 0.0) != (x > 0.0):
        # closing against the oldest lots
        while count[i] > 0 and remaining != 0.0:
            j = head[i]
            lq = lot_q[i, j]
            if abs(remaining) >= abs(lq):
                realised += -lq * (lot_p[i, j] - p)  # lq*(p - price)
                basis[i] -= lq * lot_p[i, j]
                remaining += lq
                lot_q[i, j] = 0.0
                head[i] = (j + 1) % cap
                count[i] -= 1
            else:
                # partial close: remaining has the opposite sign of lq
                realised += -remaining * (p - lot_p[i, j])
                basis[i] += remaining * lot_p[i, j]
                lot_q[i, j] = lq + remaining
                remaining = 0.0
        if count[i] == 0:
            head[i] = 0
            basis[i] = 0.0
    if remaining != 0.0:
        j = (head[i] + count[i]) % cap
        lot_q[i, j] = remaining
        lot_p[i, j] = p
        lot_bar[i, j] = bar
        lot_fu[i, j] = cost / abs(x)
        count[i] += 1
        basis[i] += remaining * p
    return realised


@njit(cache=True)
def average_trade(i: int, x: float, p: float, q_i: float, avg: np.ndarray,
                  basis: np.ndarray) -> float:
    """Moving-average cost booking of ``x`` shares at mid ``p``; return the realised PnL.

    ``avg[i]`` is the average cost per share of the open position ``q_i`` (before
    the trade); ``basis[i] = q * avg`` after the trade (updated in place).
    """
    if x == 0.0:
        return 0.0
    realised = 0.0
    q_new = q_i + x
    if q_i == 0.0 or (q_i > 0.0) == (x > 0.0):
        avg[i] = (abs(q_i) * avg[i] + abs(x) * p) / (abs(q_i) + abs(x))
    else:
        if abs(x) <= abs(q_i):
            realised = -x * (p - avg[i])  # closed qty -x has the sign of q_i
            if q_new == 0.0 or abs(x) == abs(q_i):
                avg[i] = 0.0
                q_new = 0.0
        else:
            realised = q_i * (p - avg[i])
            avg[i] = p
    basis[i] = q_new * avg[i]
    return realised
