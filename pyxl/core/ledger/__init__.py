"""Ledger-SPT: self-financing cash account, costs, lots (seed 000, sec. 4).

Public API: :class:`FeeModel`, :func:`kappa_interval` (the one kappa
implementation), :func:`largest_kappa`, :func:`cash_after`, lot booking
(:func:`fifo_trade`, :func:`average_trade`, :class:`FifoBook`) and :func:`warmup`.
"""

from __future__ import annotations

from pyxl.core.ledger.fees import FeeModel
from pyxl.core.ledger.kappa import cash_after, kappa_interval, largest_kappa
from pyxl.core.ledger.lots import FifoBook, average_trade, fifo_trade

__all__ = [
    "FeeModel",
    "kappa_interval",
    "largest_kappa",
    "cash_after",
    "FifoBook",
    "fifo_trade",
    "average_trade",
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
    fifo_trade(0, 2.0, 10.0, 1, 0.1, 0.0, book.lots, book.head, book.count, basis,
               book.overflow)
    average_trade(0, 2.0, 10.0, 0.0, np.zeros(1), basis)
