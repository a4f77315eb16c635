"""Ledger-SPT: self-financing cash account, costs, lots (seed 000, sec. 4).

Public API: :class:`FeeModel`, :func:`kappa_interval` (the one kappa
implementation), :func:`largest_kappa`, :func:`cash_after`, lot booking
(:class:`FifoBook`, :func:`fifo_book_trades`, :func:`average_cost_step`), the FIFO
replay of a finished run's trades (:func:`fifo_replay`) and :func:`warmup`.
"""

from __future__ import annotations

from pyxl.core.ledger.fees import FeeModel
from pyxl.core.ledger.kappa import cash_after, kappa_interval, largest_kappa
from pyxl.core.ledger.lots import (
    FifoBook,
    average_cost_step,
    fifo_book_trades,
    fifo_replay,
)

__all__ = [
    "FeeModel",
    "kappa_interval",
    "largest_kappa",
    "cash_after",
    "FifoBook",
    "fifo_book_trades",
    "fifo_replay",
    "average_cost_step",
    "warmup",
]


def warmup() -> None:
    """Compile (or load from numba's cache) the ledger kernels on tiny inputs."""
    import numpy as np

    largest_kappa(np.array([10.0, 20.0]), np.array([1.0, -2.0]), 100.0, 0.001, 1.0, 0.0,
                  np.array([0.01, 0.0]))
    largest_kappa(np.array([10.0]), np.array([1.0]), 5.0)
    book = FifoBook(1, 4)
    basis = np.zeros(1)
    one = np.ones(1)
    fifo_book_trades(1, 10.0 * one, 2.0 * one, 0.0 * one, 1e-3, 0.1, one, False,
                     *book.arrays()[:4], basis, book.overflow,
                     np.empty(3, dtype=np.int64))
    P = np.full((1, 1), 10.0)
    X = np.array([[0.0], [2.0]])
    rows = np.array([1], dtype=np.int64)
    out = (np.zeros(2), np.zeros(2))
    for kimp, impact in ((np.zeros((1, 1)), False), (np.zeros((2, 1)), True)):
        book = FifoBook(1, 4)
        fifo_replay(P, X, rows, 1e-3, 0.1, kimp, impact, *book.arrays(), *out)
        book.open_lots(one)
    average_cost_step(2.0, 10.0, -1.0, 9.0)
