"""Pure-Python reference of the MNVH + Ledger-SPT backtest (same semantics as the engine).

Written independently of the numba kernel (plain floats and lists, its own kappa
search, ``collections.deque`` FIFO lots) so tests can compare two
implementations, and the benchmark can measure the speed-up of the engine over
straightforward Python.  See :mod:`pyxl.core.mnvh.engine` for the semantics.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from pyxl.core.mnvh.engine import MNVHConfig, lot_sizes, rolling_vol
from pyxl.core.mnvh.kernel import CAP_TOL, FLOOR_TOL, TRADE_DUST

__all__ = ["ReferenceResult", "reference_backtest"]


@dataclass
class ReferenceResult:
    """Same per-bar columns as :class:`~pyxl.core.mnvh.engine.BacktestResult` (numpy arrays)."""

    q: np.ndarray
    trades: np.ndarray
    hedge_q: np.ndarray | None
    kappa: np.ndarray
    delever: np.ndarray
    cash: np.ndarray
    nav: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    mtm: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    financing: np.ndarray
    realised: np.ndarray
    unrealised: np.ndarray
    turnover: np.ndarray
    events: list


def _cash_feasible_set(slack, S, A, B, F):
    """(lo, hi) of positive kappas with slack - F - k(S+A) - k^2 B >= 0, or None."""
    c0 = slack - F
    D = S + A

    def g(k):
        return c0 - k * D - k * k * B

    if B == 0.0:
        if D > 0.0:
            if c0 <= 0.0:
                return None
            hi = min(1.0, c0 / D)
            while hi > 0.0 and g(hi) < 0.0:
                hi = math.nextafter(hi, 0.0)
            return (0.0, hi) if hi > 0.0 else None
        if D < 0.0:
            if c0 >= 0.0:
                return (0.0, 1.0)
            lo = c0 / D
            while lo <= 1.0 and g(lo) < 0.0:
                lo = math.nextafter(lo, 2.0)
            return (lo, 1.0) if lo <= 1.0 else None
        return (0.0, 1.0) if c0 >= 0.0 else None
    top = min(1.0, max(0.0, -D / (2.0 * B)))
    if g(top) < 0.0 or (top == 0.0 and c0 <= 0.0):
        return None

    def last_ok(ok, bad):
        for _ in range(200):
            mid = 0.5 * (ok + bad)
            if mid in (ok, bad):
                break
            if g(mid) >= 0.0:
                ok = mid
            else:
                bad = mid
        return ok

    hi = 1.0 if g(1.0) >= 0.0 else last_ok(top, 1.0)
    lo = 0.0 if c0 >= 0.0 else last_ok(top, 0.0)
    return (lo, hi) if hi > 0.0 else None


def _gross_set(q, dq, p, cap, capt, g0, g1):
    """Scales meeting the gross cap: gross <= ``capt`` (the cap plus its margin) meets
    it; a binding cap is bisected to ``cap``, or to the feasible end's gross when that
    is within the margin above it."""
    def f(k):
        return sum(abs(a + k * b) * c for a, b, c in zip(q, dq, p, strict=True))

    def last_ok(target, ok, bad):
        for _ in range(200):
            mid = 0.5 * (ok + bad)
            if mid in (ok, bad):
                break
            if f(mid) <= target:
                ok = mid
            else:
                bad = mid
        return ok

    if g0 <= capt and g1 <= capt:
        return (0.0, 1.0)
    if g0 <= capt:
        hi = last_ok(max(cap, g0), 0.0, 1.0)
        return (0.0, hi) if hi > 0.0 else None
    if g1 <= capt:
        return (last_ok(max(cap, g1), 1.0, 0.0), 1.0)
    a, b = 0.0, 1.0
    r = 0.6180339887498949
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(80):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = f(d)
    km = c if fc <= fd else d
    gm = f(km)
    if gm > capt:
        return None
    return (last_ok(max(cap, gm), km, 0.0), last_ok(max(cap, gm), km, 1.0))


def _nearest(x):
    """Nearest integer to the float ``x``, a tie away from zero (exact, through Decimal)."""
    return float(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _whole_lots(q, dq, lots, k, hb=None):
    """Trade landing each position on the nearest whole lot of ``q + k dq`` (a tie away
    from zero, as Excel's ROUND); with ``hb`` (beta_i p_i / p_hedge per leg) the
    fractional hedge, last, takes up the legs' rounding."""
    x = [L * _nearest((a + k * b) / L) - a if L > 0.0 else k * b
         for a, b, L in zip(q, dq, lots, strict=True)]
    return x if hb is None else _hedge_takes_up(x, dq, k, hb, q[-1])


def _hedge_takes_up(x, v, c, hb, qh):
    """``x`` with its last (hedge) entry set so that the book's beta exposure is that of
    the trade ``c v``: ``c v_h - sum_i hb_i (x_i - c v_i)`` over the legs; 0 when that is
    within 1e-12 of the hedge position ``qh`` plus its terms' magnitudes (noise)."""
    terms = [hb[i] * (x[i] - c * v[i]) for i in range(len(hb))]
    xh = c * v[-1] - sum(terms)
    size = abs(qh) + abs(c * v[-1]) + sum(abs(t) for t in terms)
    x[-1] = 0.0 if abs(xh) <= 1e-12 * size else xh
    return x


def _scan(q, dq, lots, lo, hi, most=512):
    """Scales inside (lo, hi), ascending: one inside each interval between the points
    where some position crosses a half lot, when there are at most ``most`` of them,
    else ``most`` evenly spaced ones."""
    n_cross = sum(math.floor(abs(b) * (hi - lo) / L) + 1
                  for b, L in zip(dq, lots, strict=True) if L > 0.0 and b != 0.0)
    if n_cross > most:
        return [lo + (hi - lo) * ((j + 0.5) / most) for j in range(most)]
    cuts = {lo, hi}
    for a, b, L in zip(q, dq, lots, strict=True):
        if L > 0.0 and b != 0.0:
            u = sorted(((a + lo * b) / L, (a + hi * b) / L))
            h = math.floor(u[0] - 0.5) + 0.5
            while h < u[1]:
                k = (h * L - a) / b
                if h > u[0] and lo < k < hi:
                    cuts.add(k)
                h += 1.0
    cuts = sorted(cuts)
    return [0.5 * (x + y) for x, y in zip(cuts[:-1], cuts[1:], strict=True) if y > x]


def _kept_lots(a, L, d):
    """Whole lots kept of the position ``a`` when at least ``d`` of it is closed: the floor
    of ``(1 - d)|a|/L`` (1e-9 lot of slack for binary rounding), and for ``d > 0`` one lot
    fewer than held at most, as the exact floor gives."""
    j = math.floor((1.0 - d) * abs(a) / L + 1e-9)
    return max(min(j, _nearest(abs(a) / L) - 1) if d > 0.0 else j, 0)


def _delever_scan(q, lots, delta, most=512):
    """Fractions in (delta, 1], ascending, one inside each interval between the points
    where some kept position drops a whole lot (when at most ``most``; else ``most``
    evenly spaced), then 1 (a full liquidation)."""
    kept = [(_kept_lots(a, L, delta), abs(a) / L)
            for a, L in zip(q, lots, strict=True) if L > 0.0 and a != 0.0]
    if sum(j for j, _ in kept) > most:
        pts = [delta + (1.0 - delta) * ((j + 1.0) / most) for j in range(most)]
        pts[-1] = 1.0
        return pts
    cuts = {delta, 1.0}
    for j0, m in kept:
        for j in range(int(j0), 0, -1):
            d = 1.0 - (j - 1e-9) / m
            if delta < d < 1.0:
                cuts.add(d)
    cuts = sorted(cuts)
    return [0.5 * (x + y) for x, y in zip(cuts[:-1], cuts[1:], strict=True) if y > x] + [1.0]


def _needs(q, x, now, lin, fixed, kimp_row):
    """Cash the trade ``x`` takes with its costs, and the gross after it."""
    need = sum(now[i] * x[i] + lin * abs(now[i] * x[i]) + (fixed if x[i] != 0.0 else 0.0)
               + (kimp_row[i] * now[i] * x[i] ** 2 if kimp_row else 0.0)
               for i in range(len(x)))
    return need, sum(abs(q[i] + x[i]) * now[i] for i in range(len(x)))


class _Fifo:
    def __init__(self):
        self.lots = deque()  # [qty, price]
        self.basis = 0.0

    def trade(self, q_before, x, p):
        real = 0.0
        rem = x
        if q_before != 0.0 and (q_before > 0.0) != (x > 0.0):
            while self.lots and rem != 0.0:
                lot = self.lots[0]
                if abs(rem) >= abs(lot[0]):
                    real += lot[0] * (p - lot[1])
                    self.basis -= lot[0] * lot[1]
                    rem += lot[0]
                    self.lots.popleft()
                else:
                    real += -rem * (p - lot[1])
                    self.basis += rem * lot[1]
                    lot[0] += rem
                    rem = 0.0
            if not self.lots:
                self.basis = 0.0
        if rem != 0.0:
            self.lots.append([rem, p])
            self.basis += rem * p
        return real


class _Average:
    def __init__(self):
        self.avg = 0.0
        self.basis = 0.0

    def trade(self, q_before, x, p):
        real = 0.0
        q_after = q_before + x
        if q_before == 0.0 or (q_before > 0.0) == (x > 0.0):
            self.avg = (abs(q_before) * self.avg + abs(x) * p) / (abs(q_before) + abs(x))
        elif abs(x) <= abs(q_before):
            real = -x * (p - self.avg)
            if abs(x) == abs(q_before) or q_after == 0.0:
                self.avg = 0.0
                q_after = 0.0
        else:
            real = q_before * (p - self.avg)
            self.avg = p
        self.basis = q_after * self.avg
        return real


def reference_backtest(prices, weights, config: MNVHConfig | None = None, *, beta_scale=None,
                       hedge_prices=None, asset_betas=None, adv=None, vol=None
                       ) -> ReferenceResult:
    """Backtest in plain Python; arguments as :func:`~pyxl.core.mnvh.engine.run_backtest`."""
    cfg = MNVHConfig() if config is None else config
    P = np.asarray(prices, dtype=float)
    T, N = P.shape
    W = np.broadcast_to(np.asarray(weights, dtype=float), (T, N)).tolist()
    bscale = [1.0] * T if beta_scale is None else [float(v) for v in beta_scale]
    hedged = hedge_prices is not None
    M = N + (1 if hedged else 0)
    rows = P.tolist()
    if hedged:
        h = [float(v) for v in hedge_prices]
        rows = [r + [h[s]] for s, r in enumerate(rows)]
        betas_hedge = (np.ones((T, N)) if asset_betas is None else
                       np.broadcast_to(np.asarray(asset_betas, dtype=float), (T, N))).tolist()
    fm = cfg.fees
    kimp = None
    if fm.impact_coef > 0.0:
        V = rolling_vol(P) if vol is None else np.broadcast_to(np.asarray(vol, float), (T, N))
        A_ = np.broadcast_to(np.asarray(adv, dtype=float), (T, N))
        kimp = [list(fm.impact_coef * V[s] / A_[s]) + ([0.0] if hedged else [])
                for s in range(T)]
    cash_rate, debit_rate, borrow_rate = fm.per_period()
    fee_r, spread_r, fixed = fm.fee_rate, fm.half_spread, fm.fixed_fee
    gross_cap = math.inf if cfg.max_gross is None else cfg.max_gross
    pos_cap = math.inf if cfg.max_position is None else cfg.max_position
    dd = cfg.drawdown_stop
    books = [_Fifo() if cfg.lot_method == "fifo" else _Average() for _ in range(M)]
    use_lots, lot_arr = lot_sizes(cfg, N, hedged)
    lots = [float(v) for v in lot_arr]

    q = [0.0] * M
    cash = cfg.cash0
    peak = cash
    stopped = False
    pending = None
    events = []
    out = {k: [0.0] * T for k in ("kappa", "delever", "cash", "nav", "gross", "net", "mtm",
                                 "fees", "slippage", "financing", "realised", "unrealised",
                                 "turnover")}
    out["kappa"][0] = math.nan
    out["cash"][0] = out["nav"][0] = cash
    q_hist = [[0.0] * M]
    tr_hist = [[0.0] * M]

    def signal(qq, s, nav_value):
        b = cfg.beta * bscale[s - 1] * (nav_value if cfg.beta_mode == "nav" else 1.0)
        prev, now, w = rows[s - 1], rows[s], W[s - 1]
        rets = [now[i] / prev[i] - 1.0 for i in range(N)]
        R = sum(w[i] * rets[i] for i in range(N))
        return [cfg.lam * qq[i] + b * (w[i] / prev[i]) * (R - rets[i]) for i in range(N)]

    for s in range(1, T):
        prev, now = rows[s - 1], rows[s]
        fin = cash * (cash_rate if cash >= 0.0 else debit_rate)
        fin -= borrow_rate * sum(-q[i] * prev[i] for i in range(M) if q[i] < 0.0)
        mtm = sum(q[i] * (now[i] - prev[i]) for i in range(M) if q[i] != 0.0)
        cash += fin
        value = sum(q[i] * now[i] for i in range(M) if q[i] != 0.0)
        g0 = sum(abs(q[i] * now[i]) for i in range(M) if q[i] != 0.0)
        nav_pre = cash + value
        slack = cash - cfg.min_cash
        if abs(slack) < FLOOR_TOL * (abs(cash) + g0 + abs(cfg.min_cash) + 1.0):
            slack = 0.0  # on the floor up to rounding
        liquidate = False
        if not stopped:
            if nav_pre <= 0.0:
                stopped = liquidate = True
                events.append((s, "insolvent", nav_pre))
            elif dd is not None and nav_pre < peak * (1.0 - dd):
                stopped = liquidate = True
                events.append((s, "drawdown_stop", 1.0 - nav_pre / peak))
        if stopped:
            target = [0.0] * M
        else:
            if cfg.exec_lag == 0:
                target = signal(q, s, nav_pre)
            elif pending is not None:
                target = list(pending)
            else:
                target = q[:N]
            if pos_cap < math.inf:
                clipped = 0
                for i in range(N):
                    lim = max(pos_cap * nav_pre, 0.0) / now[i]
                    if use_lots and lots[i] > 0.0:
                        lim = lots[i] * math.floor(lim / lots[i] + 1e-9)  # 1e-9 lot: binary
                    if target[i] > lim * (1.0 + CAP_TOL):  # beyond it by more than rounding
                        target[i] = lim
                        clipped += 1
                    elif target[i] < -lim * (1.0 + CAP_TOL):
                        target[i] = -lim
                        clipped += 1
                if clipped:
                    events.append((s, "max_position", float(clipped)))
            if hedged:
                b = betas_hedge[s - 1]
                target = target + [-sum(b[i] * target[i] * now[i] for i in range(N)) / now[N]]
        # a trade of at most TRADE_DUST of NAV in notional is rounding, not a trade
        dust = 0.0 if liquidate else TRADE_DUST * nav_pre
        dq = [target[i] - q[i] for i in range(M)]
        dq = [0.0 if abs(now[i] * dq[i]) <= dust else dq[i] for i in range(M)]
        moving = [i for i in range(M) if dq[i] != 0.0]
        S = sum(now[i] * dq[i] for i in moving)
        A = sum((fee_r + spread_r) * abs(now[i] * dq[i]) for i in moving)
        B = sum(kimp[s][i] * now[i] * dq[i] ** 2 for i in moving) if kimp else 0.0
        kappa, delta = 1.0, 0.0
        lot_trade = None
        hb = None  # whole-lot legs with a fractional hedge: the hedge takes up their rounding
        if hedged and use_lots and lots[N] <= 0.0 and any(L > 0.0 for L in lots[:N]):
            bb = betas_hedge[s - 1]
            hb = [bb[i] * now[i] / now[N] for i in range(N)]
        if moving and not liquidate:
            cset = _cash_feasible_set(slack, S, A, B, fixed * len(moving))
            gset = (0.0, 1.0)
            cap = gross_cap * nav_pre
            capt = cap * (1.0 + CAP_TOL)  # the continuous checks' margin (binary rounding)
            if gross_cap < math.inf:
                g1 = sum(abs(q[i] + dq[i]) * now[i] for i in range(M))
                gset = _gross_set(q, dq, now, cap, capt, g0, g1)
            # a scale whose trade is dust in all is no trade
            turn = sum(abs(now[i] * dq[i]) for i in moving)
            ok = (cset is not None and gset is not None and max(cset[0], gset[0])
                  <= min(cset[1], gset[1]) and min(cset[1], gset[1]) * turn > dust)
            kind = "gross_cap" if ok and gset[1] < cset[1] else "cash_limit"
            lot_trade = None
            if ok and use_lots:
                def fails(k, dq=dq, kimp_row=kimp[s] if kimp else None, cap=cap, now=now,
                          slack=slack, hb=hb):
                    """The limit the whole-lot trade of scale k breaks, or None."""
                    need, g = _needs(q, _whole_lots(q, dq, lots, k, hb), now,
                                     fee_r + spread_r, fixed, kimp_row)
                    if slack - need < 0.0:
                        return "cash_limit"
                    if gross_cap < math.inf and g > cap * (1.0 + 1e-12):  # binary rounding
                        return "gross_cap"
                    return None

                lo_k, hi_k = max(cset[0], gset[0]), min(cset[1], gset[1])
                why = fails(hi_k)
                good = bad = None
                if why is None:
                    k_lot = hi_k
                elif lo_k < hi_k:
                    if fails(lo_k) is None:
                        good, bad = lo_k, hi_k
                    else:
                        # scan the rounded trades strictly between, from the top
                        pts = _scan(q, dq, lots, lo_k, hi_k)
                        for j in range(len(pts) - 1, -1, -1):
                            if fails(pts[j]) is None:
                                good = pts[j]
                                bad = pts[j + 1] if j + 1 < len(pts) else hi_k
                                break
                if why is not None and good is not None:
                    kind = why
                    for _ in range(200):
                        mid = 0.5 * (good + bad)
                        if mid in (good, bad):
                            break
                        if fails(mid) is None:
                            good = mid
                        else:
                            bad = mid
                    k_lot = good
                elif why is not None:
                    k_lot = -1.0
                if k_lot > 0.0:
                    lot_trade = _whole_lots(q, dq, lots, k_lot, hb)
                    kappa_lot = k_lot
                else:
                    ok = False
            if ok:
                kappa = min(cset[1], gset[1]) if lot_trade is None else kappa_lot
                if lot_trade is not None:
                    dq = lot_trade  # executed as it is
                if kappa < 1.0:
                    events.append((s, kind, kappa))
            elif slack >= 0.0 and (gross_cap == math.inf or g0 <= capt):
                kappa = 0.0
                events.append((s, "kappa_zero", 0.0))
            else:
                kappa = 0.0
                held = [i for i in range(M) if q[i] != 0.0]
                B2 = sum(kimp[s][i] * now[i] * q[i] ** 2 for i in held) if kimp else 0.0
                dset = _cash_feasible_set(slack, -value,
                                          (fee_r + spread_r) * g0, B2, fixed * len(held))
                d_gross = 0.0
                if gross_cap < math.inf and g0 > capt:  # restore the cap itself
                    d_gross = 1.0 - cap / g0 if cap > 0.0 else 1.0
                if dset is not None:
                    d_cash = dset[0]
                elif slack >= 0.0:
                    d_cash = 0.0
                else:
                    d_cash = 1.0
                    stopped = True
                delta = min(1.0, max(d_cash, d_gross)) if held else 0.0
                dq = [-delta * q[i] for i in range(M)]
                below = dset is None or delta > dset[1]
                if use_lots:
                    def closing(d, now=now, kimp_row=kimp[s] if kimp else None, slack=slack,
                                hb=hb, cap=cap):
                        """Keep at most (1 - d) of each position, in whole lots (a
                        fractional hedge taking up their rounding); and whether that
                        keeps the cash floor and the gross cap."""
                        x = [math.copysign(L * _kept_lots(a, L, d), a) - a if L > 0.0
                             else -d * a for a, L in zip(q, lots, strict=True)]
                        if hb is not None:
                            x = _hedge_takes_up(x, q, -d, hb, q[-1])
                        need, g = _needs(q, x, now, fee_r + spread_r, fixed, kimp_row)
                        return x, slack - need >= 0.0 and not (
                            gross_cap < math.inf and g > cap * (1.0 + 1e-12))

                    dq, kept = closing(delta)
                    if not kept:
                        # raise delta to the smallest fraction whose whole lots keep the
                        # floor: scan the distinct whole-lot deleveragings from the bottom
                        pts = _delever_scan(q, lots, delta)
                        first = next((j for j, d in enumerate(pts) if closing(d)[1]), None)
                        if first is not None:
                            bad = pts[first - 1] if first > 0 else delta
                            good = pts[first]
                            for _ in range(200):
                                mid = 0.5 * (bad + good)
                                if mid in (bad, good):
                                    break
                                if closing(mid)[1]:
                                    good = mid
                                else:
                                    bad = mid
                            delta = good
                            dq, kept = closing(delta)
                    below = not kept
                    lot_trade = dq
                moving = held
                if held:  # with nothing held, cash is below its floor: only the shortfall
                    events.append((s, "forced_delever", delta))
                if (held and below) or (not held and slack < 0.0):
                    events.append((s, "cash_shortfall", None))  # detail after the trade
        if liquidate:
            kappa = 1.0
        step = kappa if delta == 0.0 else 1.0
        if lot_trade is not None:
            step = 1.0  # dq is the executed whole-lot trade
        fees = slip = real = turn = 0.0
        trades = [0.0] * M
        if moving and step > 0.0:
            for i in range(M):
                x = step * dq[i]
                if x == 0.0:
                    continue
                notional = x * now[i]
                f = fee_r * abs(notional) + fixed
                sl = spread_r * abs(notional) + (kimp[s][i] * now[i] * x * x if kimp else 0.0)
                cash -= notional + f + sl
                fees += f
                slip += sl
                turn += abs(notional)
                real += books[i].trade(q[i], x, now[i])
                q[i] += x
                trades[i] = x
        if events and events[-1][:2] == (s, "cash_shortfall"):
            events[-1] = (s, "cash_shortfall", cash - cfg.min_cash)
        value = sum(q[i] * now[i] for i in range(M))
        nav = cash + value
        peak = max(peak, nav)
        for k, v in (("kappa", kappa), ("delever", delta), ("cash", cash), ("nav", nav),
                     ("gross", sum(abs(q[i] * now[i]) for i in range(M))), ("net", value),
                     ("mtm", mtm), ("fees", fees), ("slippage", slip), ("financing", fin),
                     ("realised", real), ("turnover", turn),
                     ("unrealised", sum(q[i] * now[i] - books[i].basis for i in range(M)))):
            out[k][s] = v
        q_hist.append(list(q))
        tr_hist.append(trades)
        if cfg.exec_lag == 1 and not stopped:
            pending = signal(q, s, nav)
    qa = np.array(q_hist)
    ta = np.array(tr_hist)
    arrays = {k: np.array(v) for k, v in out.items()}
    return ReferenceResult(q=qa[:, :N], trades=ta[:, :N], hedge_q=qa[:, N] if hedged else None,
                           events=events, **arrays)
