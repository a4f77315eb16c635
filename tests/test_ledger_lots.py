"""Lot accounting: FIFO and moving-average cost against hand-worked examples and identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.ledger import FifoBook, average_trade, fifo_trade


class Fifo:
    def __init__(self, cap=64):
        self.b = FifoBook(1, cap)
        self.basis = np.zeros(1)
        self.q = 0.0
        self.bar = 0

    def trade(self, x, p, cost=0.0):
        self.bar += 1
        r = fifo_trade(0, x, p, self.bar, cost, self.q, self.b.lots, self.b.head, self.b.count,
                       self.basis, self.b.overflow)
        self.q += x
        return r

    def lots(self):
        lots = self.b.open_lots()
        return list(zip(lots["qty"].tolist(), lots["price"].tolist(), strict=True))


class Avg:
    def __init__(self):
        self.avg = np.zeros(1)
        self.basis = np.zeros(1)
        self.q = 0.0

    def trade(self, x, p):
        r = average_trade(0, x, p, self.q, self.avg, self.basis)
        self.q += x
        return r


def test_fifo_hand_example():
    f = Fifo()
    assert f.trade(10, 100.0) == 0.0
    assert f.trade(5, 110.0) == 0.0
    # sell 12: 10 from the 100 lot (+200), 2 from the 110 lot (+20)
    assert f.trade(-12, 120.0) == pytest.approx(220.0)
    assert f.lots() == [(3.0, 110.0)]
    assert f.basis[0] == pytest.approx(330.0)
    # sell 5 through zero: close 3 at a loss of 20 each, open a short of 2 at 90
    assert f.trade(-5, 90.0) == pytest.approx(-60.0)
    assert f.lots() == [(-2.0, 90.0)]
    # buy back 1 of the short at 40: +50
    assert f.trade(1, 40.0) == pytest.approx(50.0)
    assert f.lots() == [(-1.0, 90.0)]


def test_fifo_records_fee_per_lot():
    f = Fifo()
    f.trade(10, 100.0, cost=2.0)
    f.trade(-4, 100.0, cost=1.0)
    lots = f.b.open_lots()
    assert lots["qty"].tolist() == [6.0] and lots["bar"].tolist() == [1]
    assert lots["fee"][0] == pytest.approx(1.2)  # 6/10 of the opening cost


def test_average_hand_example():
    a = Avg()
    a.trade(10, 100.0)
    a.trade(10, 110.0)
    assert a.avg[0] == pytest.approx(105.0)
    assert a.trade(-5, 120.0) == pytest.approx(75.0)
    assert a.avg[0] == pytest.approx(105.0)  # reducing keeps the average
    # sell 20 through zero: realise 15*(100-105), new short of 5 at 100
    assert a.trade(-20, 100.0) == pytest.approx(-75.0)
    assert a.avg[0] == 100.0 and a.q == -5.0
    assert a.basis[0] == pytest.approx(-500.0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50).filter(lambda x: abs(x) > 1e-6),
                          st.floats(1.0, 200.0)), min_size=1, max_size=40),
       st.floats(1.0, 200.0))
def test_realised_plus_unrealised_is_trading_pnl(trades, p_last):
    """Both methods: sum(realised) + (q p_last - basis) = q p_last - sum(x p) (cash identity)."""
    f, a = Fifo(), Avg()
    rf = ra = 0.0
    spent = 0.0
    for x, p in trades:
        rf += f.trade(x, p)
        ra += a.trade(x, p)
        spent += x * p
    q = sum(x for x, _ in trades)
    want = q * p_last - spent
    scale = sum(abs(x) * p for x, p in trades) + abs(q) * p_last
    assert rf + (f.q * p_last - f.basis[0]) == pytest.approx(want, abs=1e-9 * scale)
    assert ra + (a.q * p_last - a.basis[0]) == pytest.approx(want, abs=1e-9 * scale)
    # the open FIFO lots add up to the position and to the basis
    lots = f.lots()
    assert sum(q for q, _ in lots) == pytest.approx(f.q, abs=1e-9 * (1 + abs(f.q)) + 1e-9)
    assert sum(q * px for q, px in lots) == pytest.approx(f.basis[0], abs=1e-9 * scale)
    assert all((lq > 0) == (f.q > 0) for lq, _ in lots)
