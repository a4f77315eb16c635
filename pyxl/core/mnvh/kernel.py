"""The numba kernel of the MNVH + Ledger-SPT backtest (one implementation for every caller).

See :mod:`pyxl.core.mnvh.engine` for the semantics; this module holds only the
compiled loop so :func:`run_backtest` and :func:`pyxl.core.mnvh.grid.run_grid`
share it.

Developer notes:

* numba's on-disk cache is keyed on *this* file's timestamp only.  After editing
  a jitted function it calls (``pyxl/core/ledger/kappa.py``,
  ``pyxl/core/ledger/lots.py``, ``pyxl/core/mnvh/rule.py``) run ``pyxl warmup``,
  which clears the cache whenever any core source changed (:mod:`pyxl.numba_cache`).
* The per-bar loop creates no array views and calls no jitted function with
  array arguments on the common path: each view or array argument costs numba an
  atomic reference-count increment and decrement, and those atomics were a third
  of the kernel's time (about 1.2 ns per asset-step on T=2520 x N=200).
  Rows are read as ``P[s, i]``; the eq. 1 rule comes in as the scalar functions
  of :mod:`pyxl.core.mnvh.rule`, which LLVM inlines.
* Same inputs, same bits.  The kernel is compiled with ``fastmath={"reassoc"}`` so that
  LLVM can split the per-asset sums into vector lanes.  LLVM vectorises a loop that
  stores into one array while reading others only behind a run-time check that the
  arrays do not overlap within a few vector widths, and falls back to the plain scalar
  loop when they might; the check compares addresses, so which loop runs depends on
  where the allocator happened to put the arrays.  Under ``reassoc`` the two loops sum
  in different orders and may even evaluate a product like ``beta (w u)(R - r)`` in a
  different order, so the same backtest run twice in one process gave a kappa that
  differed in the last bit now and then (one book in about 1,000, depending on what
  ran before).  Hence two rules, checked on the compiled code by
  ``tests/test_fp_determinism.py``:

  - a loop that stores per asset sums nothing in floating point; the sums run in a
    separate loop that only reads, which LLVM vectorises without any check, so its
    order depends on the number of assets only;
  - every value such a loop stores is computed in strict IEEE arithmetic: by scalar
    helpers compiled with ``fastmath=False`` (``_STRICT``; :mod:`pyxl.core.mnvh.rule`,
    the lot rule of :mod:`pyxl.core.ledger.board_lots`, the moving-average step),
    which LLVM inlines without changing their instructions' flags.  Vector and scalar
    code then give the same value element by element.

  The split costs 0.2-0.45 ns per asset-step (10-20 %), nearly all of it in the mark
  pass, whose divisions no longer overlap its sums (every other split measured free);
  results are the same in every run, on every thread, for every grid point.
* ``error_model="numpy"``: a float division by zero would give inf/NaN instead
  of raising, which lets LLVM vectorise the divisions (the Python error model
  puts a zero test in front of each one).  No denominator here can be zero for
  inputs that passed validation: prices are > 0 (checked in the first pass of
  every bar, see ``simulate``), ``peak >= cash0 > 0`` and ``G / g0`` runs only
  when ``g0 > G > 0``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pyxl.core.ledger.board_lots import LOT_GROSS_TOL, lot_cap, lot_delever_scale, lot_scale
from pyxl.core.ledger.kappa import kappa_interval
from pyxl.core.ledger.lots import average_cost_step
from pyxl.core.mnvh.rule import mnvh_position, mnvh_return

# risk-event codes (names in engine.EVENT_NAMES)
EV_MAX_POSITION = 1
EV_GROSS_CAP = 2
EV_CASH_LIMIT = 3
EV_KAPPA_ZERO = 4
EV_FORCED_DELEVER = 5
EV_DRAWDOWN_STOP = 6
EV_INSOLVENT = 7
EV_CASH_SHORTFALL = 8

_BISECT = 200

#: Only re-association is relaxed in the kernel (lets LLVM vectorise the per-asset sums);
#: no NaN/inf assumptions, no approximate division.  See "Same inputs, same bits" in the
#: module notes for where it may act.
_FAST = {"reassoc"}

#: Flags of the scalar helpers that compute every value a per-asset loop stores: strict
#: IEEE arithmetic (``fastmath=False`` set explicitly, so numba does not let them inherit
#: the kernel's ``reassoc``).  LLVM inlines them and keeps their instructions' flags.
_STRICT = {"cache": True, "fastmath": False, "error_model": "numpy"}

#: Returned by :func:`simulate` (minus the bar) when a price is not finite and > 0.
BAD_PRICE = -1

#: Relative tolerance within which cash is on its floor: below it by less is rounding,
#: not a breach; above it by less is rounding, not room for a trade (a kappa drawn from
#: such room, 1e-10 say, scaled a trade by noise).
FLOOR_TOL = 1e-12

#: Relative margin of the gross and position caps: gross <= max_gross x NAV_pre x
#: (1 + CAP_TOL) meets the gross cap, and a target beyond the position cap by at most
#: that fraction is not clipped.  With the position cap binding on every asset, gross is
#: n x max_position x NAV up to the last binary digit; without the margin a book whose
#: caps agree (n x max_position = max_gross) logged a spurious gross_cap event with
#: kappa 1 - 3e-16 on most such bars, and a position left on its cap (lam = 1, prices
#: unchanged) a max_position event decided by that digit.  The same margin as the
#: whole-lot rule's.
CAP_TOL = LOT_GROSS_TOL

#: A proposed trade whose notional ``|p dq|`` is at most this fraction of the pre-trade
#: NAV is rounding, not a trade: it is not executed and pays no fixed fee (1e-12 of
#: NAV is 0.0001 yen on 100,000,000 yen).  Eq. 1's target is a sum whose terms can
#: cancel exactly (``R = r_i``, or ``lam = 1`` with the price unchanged); in binary they
#: leave a residue of a few units in the last place of the position, about 1e-16 of
#: its notional at a leverage of 1.  A liquidation closes every position whatever its size.
TRADE_DUST = 1e-12


@njit(**_STRICT)
def _recip(a: float) -> float:
    """``1 / a`` (strict IEEE division, no fast-math, for a value the kernel stores)."""
    return 1.0 / a


@njit(**_STRICT)
def _trade_x(t: float, q: float, p: float, dust: float) -> float:
    """The proposed trade ``t - q`` (shares), 0 when its notional ``|p (t - q)|`` is at
    most ``dust`` (currency; see ``TRADE_DUST``)."""
    x = t - q
    return 0.0 if abs(p * x) <= dust else x


@njit(**_STRICT)
def _times(a: float, b: float) -> float:
    """``a b`` (strict IEEE product, for a value the kernel stores)."""
    return a * b


@njit(**_STRICT)
def _plus(a: float, b: float) -> float:
    """``a + b`` (strict IEEE sum, for a value the kernel stores)."""
    return a + b


@njit(**_STRICT)
def _cap_shares(lim_notional: float, p: float) -> float:
    """The position cap in shares, ``lim_notional / p``."""
    return lim_notional / p


@njit(**_STRICT)
def _capped(t: float, lim: float) -> tuple[float, int]:
    """The target ``t`` (shares) under the position cap ``lim``: ``(+-lim, 1)`` when it is
    beyond the cap by more than the margin ``CAP_TOL`` (binary rounding alone clips
    nothing), else ``(t, 0)``."""
    limt = lim * (1.0 + CAP_TOL)
    if t > limt:
        return lim, 1
    if t < -limt:
        return -lim, 1
    return t, 0


@njit(**_STRICT)
def _hedge_coef(b: float, p: float, ph: float) -> float:
    """Hedge units per share, ``b p / ph``."""
    return b * p / ph


@njit(**_STRICT)
def _unusable(a: float, ia: float) -> int:
    """1 unless the price ``a`` (with ``ia = 1/a``) is finite, > 0 and invertible, else 0.

    Written as a > 0 and 1/a > 0 (1/inf = 0) and 1/a < inf (a positive price too
    small to invert): the one-line "0 < a < inf" became an integer class test
    costing 0.15-0.3 ns per asset-step.
    """
    return (not (a > 0.0)) + (not (ia > 0.0)) + (not (ia < np.inf))


@njit(cache=True, fastmath=_FAST)
def _mark(short: float, mtm: float, val: float, gross: float, q: float, a: float,
          b: float) -> tuple[float, float, float, float]:
    """Add a position of ``q`` shares marked from ``b`` to ``a`` to the bar's sums: short
    notional at ``b`` (``min(q, 0) b``, for the borrow fee), MTM ``q (a - b)``, value
    ``q a`` and gross ``|q a|`` (currency)."""
    v = q * a
    return short + min(q, 0.0) * b, mtm + q * (a - b), val + v, gross + abs(v)


@njit(cache=True, fastmath=_FAST)
def _gross_at(q: np.ndarray, dq: np.ndarray, p: np.ndarray, k: float) -> float:
    g = 0.0
    for i in range(q.shape[0]):
        g += abs(q[i] + k * dq[i]) * p[i]
    return g


@njit(**_STRICT)
def _gross_bisect(q, dq, p, G, a, b):
    """``gross(a) <= G < gross(b)``: last feasible point between a and b."""
    for _ in range(_BISECT):
        m = 0.5 * (a + b)
        if m == a or m == b:
            break
        if _gross_at(q, dq, p, m) <= G:
            a = m
        else:
            b = m
    return a


@njit(**_STRICT)
def gross_interval(q: np.ndarray, dq: np.ndarray, p: np.ndarray, G: float, Gt: float,
                   g0: float, g1: float) -> tuple[bool, float, float]:
    """Scales ``k`` in [0, 1] whose gross ``sum_i |q_i + k dq_i| p_i`` (convex in k) meets
    the cap ``G``.

    A gross meets the cap when it is ``<= Gt = G (1 + CAP_TOL)``, so binary rounding
    alone does not scale a trade.  When the cap binds, the scale is bisected to ``G``
    itself (or to the gross at the feasible end, when that is already within the margin
    above ``G``, so a trade never adds to it): the book ends on the cap, not on the
    margin's edge, where the next bar's gross, summed in another order, could overshoot
    by an ulp and force a deleveraging.  ``g0``, ``g1``: gross at ``k = 0`` and ``1``.
    """
    if g0 <= Gt and g1 <= Gt:
        return True, 0.0, 1.0
    if g0 <= Gt:
        hi = _gross_bisect(q, dq, p, max(G, g0), 0.0, 1.0)
        return hi > 0.0, 0.0, hi
    if g1 <= Gt:
        lo = _gross_bisect(q, dq, p, max(G, g1), 1.0, 0.0)
        return True, lo, 1.0
    # both ends infeasible: golden-section search for the minimum of the convex function
    a, b = 0.0, 1.0
    invphi = 0.6180339887498949
    c = b - invphi * (b - a)
    d = a + invphi * (b - a)
    fc = _gross_at(q, dq, p, c)
    fd = _gross_at(q, dq, p, d)
    for _ in range(80):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = _gross_at(q, dq, p, c)
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = _gross_at(q, dq, p, d)
    km = c if fc <= fd else d
    gm = _gross_at(q, dq, p, km)
    if gm > Gt:
        return False, 1.0, 0.0
    lo = _gross_bisect(q, dq, p, max(G, gm), km, 0.0)
    hi = _gross_bisect(q, dq, p, max(G, gm), km, 1.0)
    return True, lo, hi


@njit(cache=True, fastmath=_FAST, nogil=True, error_model="numpy")
def simulate(P, W, n_sig, lam, beta, nav_mode, bscale, abeta, has_hedge,
             cash0, min_cash, max_gross, max_pos, dd_stop, exec_lag,
             lin_fee, lin_slip, fixed_fee, kimp, use_impact, cash_per, debit_per, borrow_per,
             store, q_out, tr_out,
             kappa_o, cash_o, nav_o, gross_o, net_o, mtm_o, fees_o, slip_o, fin_o,
             delev_o, turn_o, ev_t, ev_k, ev_d, lot_avg, avg, real_o, unreal_o,
             use_lots, lots):
    """Run the backtest; fill the output arrays in place and return the number of events.

    ``P`` is (T, M) with ``M = n_sig + has_hedge`` (hedge asset last), ``W`` (T, n_sig)
    or (1, n_sig) for constant weights.
    Row 0 is the initial state (cash only); bar ``s >= 1`` accrues financing for
    ``s-1 -> s``, marks to ``P[s]``, decides eq. 1 from ``r_{s-1} = P[s]/P[s-1] - 1``
    (computed as ``(P[s] - P[s-1]) * (1/P[s-1])``, see :mod:`pyxl.core.mnvh.rule`) and row
    ``s-1`` of the weights, and trades at ``P[s]`` (``exec_lag=0``) or at ``P[s+1]``
    (``exec_lag=1``).

    The signal-asset prices are validated here, in the first pass over each row
    (a separate pass over T x N costs about 0.5 ns per asset-step): if a price in
    row ``s`` is not finite and > 0 the run stops before using that row and
    returns ``BAD_PRICE - s`` (< 0); the outputs are then incomplete.

    With ``store`` the end-of-bar positions and the executed trades go to rows
    ``s`` of ``q_out`` and ``tr_out`` (T, M), written in the first pass (no trade)
    and again by the execution pass when the bar trades; without it, to an
    internal scratch row, through the same code, so the sums compile identically
    either way (grid points equal single runs bit for bit) and ``q_out``/``tr_out``
    are not touched.

    With ``lot_avg`` the trades are booked at moving-average cost
    (:func:`pyxl.core.ledger.lots.average_cost_step`) in a pass of their own before
    the execution pass (which stays the same code, so NAV does not depend on the lot
    method): ``avg`` (M,) holds the average costs, ``real_o``/``unreal_o`` (T,) get
    the realised and unrealised PnL.  FIFO lots are booked from the stored trades
    afterwards (:func:`pyxl.core.ledger.lots.fifo_replay`); matching costs about
    10 ns per trade, which only callers reading the FIFO columns should pay.

    With ``use_lots`` every position is kept in whole board lots of ``lots`` (M,)
    shares (0: that asset stays fractional), by the rule of
    :mod:`pyxl.core.ledger.board_lots`: the kappa-scaled trade is rounded to whole
    lots and the scale bisected down when the rounding breaks a limit; forced
    deleveraging closes whole lots; a fractional hedge takes up the legs' rounding
    (``hb`` holds ``beta_i p_i / p_hedge`` for the bar); the position cap is rounded
    down to whole lots.
    Without it nothing on the common path changes (one test per bar).
    """
    T, M = P.shape
    n = n_sig
    w_rows = W.shape[0]  # 1: constant weights
    q = np.zeros(M)
    tgt = np.zeros(M)
    dq = np.zeros(M)
    pend = np.zeros(M)
    xlot = np.zeros(M)  # whole-lot trade (use_lots)
    rl = np.zeros(M)  # moving-average lots: realised PnL per asset of the bar
    # a fractional hedge offsets the whole-lot legs' rounding (board_lots.net_hedge):
    # hb_i = beta_i p_i / p_hedge for the bar.  h_net starts as np.int64, not the literal
    # -1: numba would type the lot rule's functions (which take it) for Literal[int](-1)
    # first and compile each of them twice
    h_net = np.int64(-1)
    if has_hedge and use_lots and not lots[n] > 0.0:
        for i in range(n):
            if lots[i] > 0.0:
                h_net = n
    hb = np.zeros(M)
    inv = np.empty((2, M))  # row s % 2 holds 1 / P[s] (each price is inverted once)
    # rows the execution pass writes: the outputs, or one scratch row per output
    scratch = np.empty((1 if store else 2, M))
    q_rows = q_out if store else scratch[:1]
    t_rows = tr_out if store else scratch[1:]
    has_pend = False
    cash = cash0
    peak = cash0
    stopped = False
    nev = 0
    shortfall_at = -1
    real = 0.0  # moving-average lots: realised PnL of the bar
    bsum = 0.0  # and the sum of the lot bases (changes only when a bar trades)
    cap_ev = ev_t.shape[0]
    lin = lin_fee + lin_slip
    gross_on = max_gross < np.inf
    pos_on = max_pos < np.inf
    dd_on = dd_stop < np.inf

    kappa_o[0] = np.nan
    cash_o[0] = cash
    nav_o[0] = cash
    gross_o[0] = 0.0
    net_o[0] = 0.0
    mtm_o[0] = 0.0
    fees_o[0] = 0.0
    slip_o[0] = 0.0
    fin_o[0] = 0.0
    delev_o[0] = 0.0
    turn_o[0] = 0.0
    if lot_avg:
        real_o[0] = 0.0
        unreal_o[0] = 0.0

    if store:
        for i in range(M):
            q_out[0, i] = 0.0
            tr_out[0, i] = 0.0
    nbad = 0
    for i in range(n):
        a = P[0, i]
        ia = _recip(a)
        inv[0, i] = ia
        nbad += _unusable(a, ia)
    if nbad > 0:
        return BAD_PRICE
    for s in range(1, T):
        wr = s - 1 if w_rows > 1 else 0
        cur = s & 1
        prv = 1 - cur
        # 1. financing for the period s-1 -> s, MTM, the pre-trade state and eq. 1's
        #    R: one pass stores (1 / p_s, checked, and the bar's "no trade" rows), the
        #    next only sums (see "Same inputs, same bits"; the returns r_{s-1} are
        #    recomputed where they are used, which is cheaper than storing them)
        if cash >= 0.0:
            fin = cash * cash_per
        else:
            fin = cash * debit_per
        short = 0.0
        mtm = 0.0
        val = 0.0
        g0 = 0.0
        R = 0.0
        # the bar's output rows start as "no trade" (the pre-trade position, trade 0) in
        # this division-bound pass, where the stores cost least; a trade overwrites them
        row = s if store else 0
        for i in range(n):
            a = P[s, i]
            q_rows[row, i] = q[i]
            t_rows[row, i] = 0.0
            ia = _recip(a)
            inv[cur, i] = ia
            nbad += _unusable(a, ia)
        if nbad > 0:
            return BAD_PRICE - s
        # the bar's sums, in a pass that stores nothing (see "Same inputs, same bits")
        for i in range(n):
            a = P[s, i]
            b = P[s - 1, i]
            short, mtm, val, g0 = _mark(short, mtm, val, g0, q[i], a, b)
            R += W[wr, i] * mnvh_return(a, b, inv[prv, i])
        if has_hedge:
            q_rows[row, n] = q[n]
            t_rows[row, n] = 0.0
            short, mtm, val, g0 = _mark(short, mtm, val, g0, q[n], P[s, n], P[s - 1, n])
        fin += borrow_per * short
        cash += fin
        nav_pre = cash + val
        slack = cash - min_cash
        if abs(slack) < FLOOR_TOL * (abs(cash) + g0 + abs(min_cash) + 1.0):
            slack = 0.0  # on the floor up to rounding of the previous kappa-trade

        # 2. stops
        liquidate = False
        if not stopped:
            if nav_pre <= 0.0:
                stopped = True
                if nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = EV_INSOLVENT
                    ev_d[nev] = nav_pre
                    nev += 1
            elif dd_on and nav_pre < peak * (1.0 - dd_stop):
                stopped = True
                if nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = EV_DRAWDOWN_STOP
                    ev_d[nev] = 1.0 - nav_pre / peak
                    nev += 1
            if stopped:
                liquidate = True

        # 3. target positions
        if stopped:
            for i in range(M):
                tgt[i] = 0.0
        else:
            if exec_lag == 0:
                beff = beta * bscale[s - 1]
                if nav_mode:
                    beff *= nav_pre
                for i in range(n):
                    tgt[i] = mnvh_position(q[i], W[wr, i], inv[prv, i], lam, beff, R,
                                            mnvh_return(P[s, i], P[s - 1, i], inv[prv, i]))
            elif has_pend:
                for i in range(n):
                    tgt[i] = pend[i]
            else:
                for i in range(n):
                    tgt[i] = q[i]
            if pos_on:
                nclip = 0
                lim_notional = max_pos * nav_pre
                if lim_notional < 0.0:
                    lim_notional = 0.0
                for i in range(n):
                    lim = _cap_shares(lim_notional, P[s, i])
                    if use_lots and lots[i] > 0.0:
                        lim = lot_cap(lim, lots[i])  # whole lots within the cap
                    t, c = _capped(tgt[i], lim)
                    tgt[i] = t
                    nclip += c
                if nclip > 0 and nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = EV_MAX_POSITION
                    ev_d[nev] = nclip
                    nev += 1
            if has_hedge:
                expo = 0.0
                for i in range(n):
                    expo += abeta[s - 1, i] * tgt[i] * P[s, i]
                tgt[n] = -expo / P[s, n]

        # 4. proposed trade and its cost aggregates
        S = 0.0
        A = 0.0
        B = 0.0
        nnz = 0
        dust = 0.0 if liquidate else TRADE_DUST * nav_pre
        for i in range(M):
            x = _trade_x(tgt[i], q[i], P[s, i], dust)
            dq[i] = x
            nnz += x != 0.0
        for i in range(M):  # stores nothing
            v = P[s, i] * dq[i]
            S += v
            A += abs(v)
        turn1 = A  # notional of the full trade
        A *= lin
        if use_impact:
            for i in range(M):
                B += kimp[s, i] * P[s, i] * dq[i] * dq[i]

        # 5. kappa (self-financing through the cash account) or forced deleveraging
        kap = 1.0
        delta = 0.0
        lot_done = False  # dq holds the executed whole-lot trade (scale 1)
        if nnz > 0 and not liquidate:
            if h_net >= 0:  # the bar's hedge coefficients, read by the lot rule only
                for i in range(n):
                    hb[i] = _hedge_coef(abeta[s - 1, i], P[s, i], P[s, n])
            okc, loc, hic = kappa_interval(slack, S, A, B, fixed_fee * nnz)
            G = max_gross * nav_pre  # the whole-lot rule adds LOT_GROSS_TOL itself
            Gt = G * (1.0 + CAP_TOL)
            okg, log_, hig = True, 0.0, 1.0
            if gross_on:
                ps = P[s]
                g1 = _gross_at(q, dq, ps, 1.0)
                okg, log_, hig = gross_interval(q, dq, ps, G, Gt, g0, g1)
            lo = loc if loc > log_ else log_
            hi = hic if hic < hig else hig
            # a scale whose trade is dust in all (notional <= TRADE_DUST x NAV) is no trade
            feasible = okc and okg and lo <= hi and hi * turn1 > dust
            kind = EV_GROSS_CAP if hig < hic else EV_CASH_LIMIT
            if feasible and use_lots:
                # whole lots: the scale whose rounded trade meets the limits (<= hi)
                kl, why = lot_scale(q, dq, P[s], lots, lo, hi, slack, G, gross_on, kimp, s,
                                    use_impact, lin, fixed_fee, xlot, hb, h_net)
                if kl > 0.0:
                    hi = kl
                    if why != 0:
                        kind = EV_GROSS_CAP if why == 2 else EV_CASH_LIMIT
                    for i in range(M):
                        dq[i] = xlot[i]
                    lot_done = True
                else:
                    feasible = False
            if feasible:
                kap = hi
                if kap < 1.0 and nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = kind
                    ev_d[nev] = kap
                    nev += 1
            elif slack >= 0.0 and (not gross_on or g0 <= Gt):
                kap = 0.0
                if nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = EV_KAPPA_ZERO
                    ev_d[nev] = 0.0
                    nev += 1
            else:
                # forced deleveraging: scale every position by (1 - delta), smallest delta
                # that restores the cash floor and the gross cap (see engine docs)
                kap = 0.0
                S2 = -val
                A2 = lin * g0
                B2 = 0.0
                nnz2 = 0
                for i in range(M):
                    if q[i] != 0.0:
                        nnz2 += 1
                        if use_impact:
                            B2 += kimp[s, i] * P[s, i] * q[i] * q[i]
                okd, lod, hid = kappa_interval(slack, S2, A2, B2, fixed_fee * nnz2)
                dg = 0.0
                if gross_on and g0 > Gt:  # restore the cap itself, not its margin
                    dg = 1.0 - G / g0 if G > 0.0 else 1.0
                if okd:
                    dc = lod  # 0 unless fixed fees need a larger sale to be paid for
                elif slack >= 0.0:
                    dc = 0.0  # no delta keeps cash on its floor: the gross cap wins
                else:
                    # even a full liquidation cannot restore the floor: liquidate and stop
                    dc = 1.0
                    stopped = True
                delta = dc if dc > dg else dg
                if delta > 1.0:
                    delta = 1.0
                if nnz2 == 0:
                    delta = 0.0
                for i in range(M):
                    dq[i] = _times(-delta, q[i])
                # the floor is not met after the deleveraging: from the continuous
                # interval, or with whole lots from the rounded trade itself
                below = not okd or delta > hid
                if use_lots:
                    # whole lots: at least delta of each position is closed; when the
                    # rounding breaks the floor, delta is raised to the smallest fraction
                    # found whose whole-lot deleveraging keeps it (-1: none; dq closes delta)
                    dl = lot_delever_scale(q, lots, delta, P[s], kimp, s, use_impact, lin,
                                           fixed_fee, slack, dq, G, gross_on, hb, h_net)
                    below = dl < 0.0
                    if dl > delta:
                        delta = dl
                    lot_done = True
                # with nothing held this branch means cash below its floor (NAV < 0 has
                # stopped the run before): no deleveraging to log, only the shortfall
                if nnz2 > 0 and nev < cap_ev:
                    ev_t[nev] = s
                    ev_k[nev] = EV_FORCED_DELEVER
                    ev_d[nev] = delta
                    nev += 1
                if (nnz2 > 0 and below) or (nnz2 == 0 and slack < 0.0):
                    # the floor is not (or no longer) met: e.g. buying back shorts to cut
                    # gross spends more cash than the floor leaves, or nothing is held
                    # and financing took cash below its floor
                    if nev < cap_ev:
                        ev_t[nev] = s
                        ev_k[nev] = EV_CASH_SHORTFALL
                        shortfall_at = nev  # detail: cash - min_cash after the trade
                        nev += 1
                nnz = nnz2
        if liquidate:
            kap = 1.0

        # 6. execute at P[s]: moving-average lots (a pass of their own), then cash,
        #    costs, positions and the end-of-bar marks in one vectorisable pass (FIFO
        #    lots are booked from the stored trades afterwards, see
        #    pyxl.core.mnvh.engine)
        scale = kap if delta == 0.0 else 1.0
        if lot_done:
            scale = 1.0
        if nnz == 0:
            scale = 0.0
        flow = 0.0
        fees = 0.0
        slip = 0.0
        turn = 0.0
        gross = g0  # no trade: positions, value and gross are the pre-trade ones
        if lot_avg and scale != 0.0:
            # moving-average lots (they need the pre-trade positions)
            real = 0.0
            bsum = 0.0
            for i in range(M):
                r, a = average_cost_step(_times(scale, dq[i]), P[s, i], q[i], avg[i])
                rl[i] = r
                avg[i] = a
            for i in range(M):  # stores nothing
                real += rl[i]
                bsum += (q[i] + scale * dq[i]) * avg[i]
        if scale != 0.0:
            val = 0.0
            gross = 0.0
            nfix = 0
            for i in range(M):
                x = _times(scale, dq[i])
                qn = _plus(q[i], x)
                q[i] = qn
                t_rows[row, i] = x
                q_rows[row, i] = qn
                nfix += x != 0.0
            for i in range(M):  # stores nothing
                pi = P[s, i]
                v = t_rows[row, i] * pi
                flow += v
                turn += abs(v)
                w = q[i] * pi
                val += w
                gross += abs(w)
            fees += fixed_fee * nfix + lin_fee * turn
            slip = lin_slip * turn
            if use_impact:
                for i in range(M):
                    x = scale * dq[i]
                    slip += kimp[s, i] * P[s, i] * x * x
            cash -= flow + fees + slip
        if shortfall_at >= 0:
            ev_d[shortfall_at] = cash - min_cash
            shortfall_at = -1
        nav = cash + val
        if nav > peak:
            peak = nav
        kappa_o[s] = kap
        cash_o[s] = cash
        nav_o[s] = nav
        gross_o[s] = gross
        net_o[s] = val
        mtm_o[s] = mtm
        fees_o[s] = fees
        slip_o[s] = slip
        fin_o[s] = fin
        delev_o[s] = delta
        turn_o[s] = turn
        if lot_avg:
            real_o[s] = real
            unreal_o[s] = val - bsum
            real = 0.0

        # 8. exec_lag = 1: decide now, trade at the next bar
        if exec_lag == 1 and not stopped:
            beff = beta * bscale[s - 1]
            if nav_mode:
                beff *= nav
            for i in range(n):
                pend[i] = mnvh_position(q[i], W[wr, i], inv[prv, i], lam, beff, R,
                                        mnvh_return(P[s, i], P[s - 1, i], inv[prv, i]))
            has_pend = True
    return nev
