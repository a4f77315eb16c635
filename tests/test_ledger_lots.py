"""Lot accounting: FIFO and moving-average cost against hand-worked examples and identities."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.ledger import FifoBook, average_cost_step, fifo_book_trades


class Fifo:
    def __init__(self, cap=64):
        self.b = FifoBook(1, cap)
        self.basis = np.zeros(1)
        self.q = 0.0
        self.bar = 0

    def trade(self, x, p, cost=0.0):
        """Book ``x`` at ``p`` with total costs ``cost`` (passed as a fixed fee)."""
        self.bar += 1
        r = fifo_book_trades(self.bar, np.array([p]), np.array([x]), np.array([self.q]),
                             0.0, cost, np.zeros(1), False, self.b.lots, self.b.head,
                             self.b.tail, self.b.offs, self.basis, self.b.overflow,
                             np.empty(3, dtype=np.int64))
        self.q += x
        return r

    def lots(self):
        lots = self.b.open_lots(np.array([self.q]))
        return list(zip(lots["qty"].tolist(), lots["price"].tolist(), strict=True))


class Avg:
    def __init__(self):
        self.avg = np.zeros(1)
        self.basis = np.zeros(1)
        self.q = 0.0

    def trade(self, x, p):
        r, self.avg[0] = average_cost_step(x, p, self.q, self.avg[0])
        self.q += x
        self.basis[0] = self.q * self.avg[0]
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
    lots = f.b.open_lots(np.array([f.q]))
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


def _deque_fifo(trades):
    """Independent FIFO: a list of [signed qty, price] lots; returns (realised list, lots)."""
    lots, q, out = [], 0.0, []
    for x, p in trades:
        r = 0.0
        rem = x
        while lots and rem != 0.0 and (lots[0][0] > 0) != (rem > 0):
            lq, lp = lots[0]
            if abs(rem) >= abs(lq):
                r += lq * (p - lp)
                rem += lq
                lots.pop(0)
            else:
                r -= rem * (p - lp)
                lots[0][0] = lq + rem
                rem = 0.0
        if rem != 0.0:
            lots.append([rem, p])
        q += x
        out.append(r)
    return out, lots


_trade = st.tuples(st.sampled_from([-7.0, -3.0, -1.5, -1.0, 1.0, 2.0, 2.5, 6.0]),
                   st.sampled_from([50.0, 80.0, 100.0, 125.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_trade, min_size=1, max_size=60), st.integers(2, 8))
def test_fifo_queue_matches_a_deque_fifo_through_compaction(trades, cap):
    """Lot by lot equal to an independent deque FIFO, with a small capacity so the queue
    is compacted often; an overflow is flagged only when more than ``cap`` lots are open."""
    f = Fifo(cap)
    real = []
    most_open = 0
    for k, (x, p) in enumerate(trades):
        real.append(f.trade(x, p))
        most_open = max(most_open, len(_deque_fifo(trades[:k + 1])[1]))
    want_real, want_lots = _deque_fifo(trades)
    if most_open > cap:
        assert f.b.overflow[0] == 1
        return
    assert f.b.overflow[0] == 0
    assert real == pytest.approx(want_real, abs=1e-9)
    got = f.lots()
    assert len(got) == len(want_lots)
    for (gq, gp), (wq, wp) in zip(got, want_lots, strict=True):
        assert gq == pytest.approx(wq, abs=1e-9) and gp == wp


def test_book_trades_books_every_asset_like_single_trades():
    """The one-bar, many-asset FIFO calls equal the asset-by-asset results."""
    rng = np.random.default_rng(7)
    T, N = 40, 5
    X = np.round(rng.normal(0.0, 3.0, (T, N)), 1) * (rng.random((T, N)) < 0.7)
    P = 100.0 + np.round(rng.normal(0.0, 5.0, (T, N)), 2)
    book = FifoBook(N, T)
    basis_f = np.zeros(N)
    singles = [Fifo(T) for _ in range(N)]
    q = np.zeros(N)
    for s in range(T):
        rf = fifo_book_trades(s, P[s], X[s], q, 0.0, 0.0, np.zeros(N), False,
                              book.lots, book.head, book.tail, book.offs, basis_f,
                              book.overflow, np.empty(3 * N, dtype=np.int64))
        want_f = sum(singles[i].trade(X[s, i], P[s, i]) for i in range(N) if X[s, i] != 0)
        assert rf == pytest.approx(want_f, abs=1e-9)
        q += X[s]
    assert basis_f == pytest.approx([b.basis[0] for b in singles], abs=1e-9)
    lots = book.open_lots(q)
    for i in range(N):
        mine = lots["qty"][lots["asset"] == i].tolist()
        assert mine == pytest.approx([lq for lq, _ in singles[i].lots()], abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 6), st.sampled_from([3, 64]))
def test_replay_books_a_run_like_a_deque_fifo(seed, n, cap):
    """fifo_replay over a whole (T, N) trade matrix: per-bar realised PnL, open basis
    and the open lots equal an independent per-asset deque FIFO, including bars where
    nothing trades."""
    from pyxl.core.ledger import fifo_replay

    rng = np.random.default_rng(seed)
    T = 30
    # multiples of 1/4 share: exact in binary, so lot sizes are exact too
    X = np.round(4.0 * rng.normal(0.0, 3.0, (T, n))) / 4.0 * (rng.random((T, n)) < 0.6)
    X[0] = 0.0
    X[rng.random(T) < 0.2] = 0.0  # whole bars without a trade
    P = 100.0 + np.round(rng.normal(0.0, 5.0, (T, n)), 2)
    real_f, bt_f = np.zeros(T), np.zeros(T)
    book = FifoBook(n, cap)
    rows = np.flatnonzero(np.any(X != 0.0, axis=1))  # the bars that trade
    fifo_replay(P[rows], X, rows, 0.0, 0.0, np.zeros((1, n)), False, *book.arrays(), real_f,
                bt_f)
    q = np.cumsum(X, axis=0)
    most_open = max(len(_deque_fifo([(X[k, i], P[k, i]) for k in range(1, s + 1)
                                     if X[k, i] != 0.0])[1])
                    for s in range(1, T) for i in range(n))
    assert bool(book.overflow[0]) == (most_open > cap)
    if most_open > cap:
        return  # the booking is void: the engine rebooks with more room
    for s in range(1, T):
        want_f, basis = 0.0, 0.0
        for i in range(n):
            trades = [(X[k, i], P[k, i]) for k in range(1, s + 1) if X[k, i] != 0.0]
            per_bar, lots = _deque_fifo(trades)
            if X[s, i] != 0.0:
                want_f += per_bar[-1]
            basis += sum(lq * lp for lq, lp in lots)
        assert real_f[s] == pytest.approx(want_f, abs=1e-9)
        assert bt_f[s] == pytest.approx(basis, abs=1e-9)
    lots = book.open_lots(q[-1])
    for i in range(n):
        want = _deque_fifo([(X[k, i], P[k, i]) for k in range(1, T) if X[k, i] != 0.0])[1]
        mine = lots["qty"][lots["asset"] == i].tolist()
        assert mine == pytest.approx([lq for lq, _ in want], abs=1e-9)
        assert lots["price"][lots["asset"] == i].tolist() == [lp for _, lp in want]
