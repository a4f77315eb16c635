r"""Trading in whole board lots (seed 000, sec. 1: "ロット調整", lot adjustment).

The seed's contribution is to make "self-financing, fees and lot adjustment"
exact in the ledger.  Exchanges trade most equities in board lots (100 shares
in Japan since 2018, 1 share for whole-share US brokers, a contract for a
future), so a position must be a whole multiple ``m L_i`` of the asset's lot
size ``L_i``.  ``L_i = 0`` leaves that asset fractional (the default for every
asset when no lot size is set).

The rule, applied after the continuous kappa of eq. 2 (:mod:`pyxl.core.ledger.kappa`):

* the executed trade at scale ``k`` is the one that lands the position on the
  nearest whole lot of the scaled target, a tie (exactly half a lot) away from
  zero as Excel's ``ROUND`` does (四捨五入), so a sheet can check a trade with
  ``=ROUND((q + k*dq)/L, 0)*L - q``::

      x_i(k) = L_i * round((q_i + k dq_i) / L_i) - q_i       (L_i > 0)
      x_i(k) = k dq_i                                       (L_i = 0)

  so one scalar still scales the whole proposed trade (the seed's kappa) and the
  lot adjustment comes last, asset by asset;
* ``k`` is the continuous kappa when its rounded trade keeps cash after trade
  and costs ``>= min_cash`` and gross ``<= max_gross x NAV`` (up to a relative
  ``LOT_GROSS_TOL`` = 1e-12, so a cap met exactly in decimals is not missed by the
  last binary digit).  Rounding up a buy
  by half a lot can break a floor that the continuous trade just met; then ``k``
  is bisected between the continuous kappa (infeasible once rounded) and the
  smallest feasible continuous scale (feasible once rounded) down to floating-point
  resolution, and the last feasible point is taken.  Each ``x_i(k)`` is a step
  function of ``k``, monotone but not the cash needed by their sum, so this is the
  edge of a feasible region of scales, not always the largest feasible scale.  When
  the smallest feasible continuous scale is infeasible once rounded too (e.g. the
  gross cap is met there exactly and a position rounds up), the rounded trades in
  between are scanned from the top: one point inside each interval between rounding
  breakpoints when there are at most ``LOT_SCAN`` of them (so every distinct rounded
  trade in the range is tried), else ``LOT_SCAN`` evenly spaced points; the bar has
  no whole-lot trade only when none of them is feasible;
* forced deleveraging closes at least the fraction ``delta`` of each position in
  whole lots: the position kept is ``sign(q_i) L_i floor((1 - delta)|q_i| / L_i)``
  (a tolerance of 1e-9 lot absorbs rounding in ``1 - delta``; for ``delta > 0`` at
  most one lot fewer than held, as the exact floor gives), so a full liquidation
  (``delta = 1``) closes everything and any ``delta > 0`` at least one lot.
  Closing whole lots can spend more cash than the continuous ``delta`` (buying
  back a whole lot of a short): when the rounded deleveraging breaks the cash
  floor, ``delta`` is raised to the smallest fraction found whose rounded
  deleveraging keeps it (every distinct whole-lot deleveraging is tried when there
  are at most ``LOT_SCAN``), so the floor is left broken only when none does;
* a fractional hedge takes up the legs' rounding (:func:`net_hedge`): its trade is
  the continuous one less the beta value of each leg's residual, so the book keeps
  the beta exposure of the continuous trade (0 at the neutral target);
* the position cap is rounded down to whole lots (with the same 1e-9-lot
  tolerance), so a clipped target stays within it after rounding.

Positions stay exact multiples of their lot size up to the rounding of one
product (``L_i * m``): every target is rounded afresh from the position, so no
error builds up over the run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["half_away", "round_to_lot", "lot_trade", "net_hedge", "lot_need", "lot_scale",
           "lot_delever", "lot_delever_scale", "lot_cap", "LOT_FLOOR_TOL", "LOT_GROSS_TOL",
           "HEDGE_DUST", "LOT_SCAN"]

#: Fraction of a lot below which ``(1 - delta)|q| / L`` (or the position cap over ``L``)
#: counts as the next whole lot.
LOT_FLOOR_TOL = 1e-9

#: Relative margin by which a whole-lot book's gross may exceed ``max_gross x NAV``: a
#: cap met exactly in decimals (0.58 x 3,000,000 = 1,740,000) is 1,739,999.9999999998 in
#: binary, and a whole-lot book exactly on it would otherwise be refused for that digit.
LOT_GROSS_TOL = 1e-12

#: Relative size (against the hedge position plus its terms' magnitudes) below which the
#: hedge's offsetting trade is cancellation noise and set to 0 (:func:`net_hedge`).
HEDGE_DUST = 1e-12

#: Most scales tried when neither end of the continuous feasible range is feasible once
#: rounded: every rounding interval when there are at most this many, else a grid.
LOT_SCAN = 512

# Compile time: numba compiles each jitted function as a library of its own, then
# optimises and generates its code again inside the library of every function that
# calls it.  The helpers that only glue two calls together (_lot_check, _delever_ok) or
# have one caller (_edge, _scan_points, _delever_points, _sort_head) are therefore
# inlined into their callers in numba's IR (inline="always"; about 0.5 s less on an
# empty cache).  Inlined code takes its caller's compiler flags, as a jitted function
# without flags of its own does when a caller compiles it.
#
# Flags: the functions here set ``fastmath`` explicitly, so that they do not inherit the
# kernel's ``reassoc``: strict IEEE arithmetic wherever a loop stores (LLVM may run the
# vector or the scalar version of such a loop depending on where the arrays lie, and
# the two must agree; see "Same inputs, same bits" in pyxl.core.mnvh.kernel), and
# ``reassoc`` only for lot_need, whose loop only sums.


@njit(cache=True, inline="always")
def half_away(x: float) -> float:
    """``x`` rounded to the nearest integer, a tie away from zero (Excel's ``ROUND(x, 0)``).

    ``x - trunc(x)`` is exact in floating point, so the tie test is too (the usual
    ``floor(x + 0.5)`` rounds 0.49999999999999994 up).  It has the sign of ``x``, so
    the step is chosen without a branch on ``x`` (loops over assets stay branch-free).
    """
    t = np.trunc(x)
    d = x - t
    # the step as arithmetic on the two tests: a conditional compiled to a branch, and
    # whether a scaled trade rounds up or down is a coin flip that the CPU mispredicts
    return t + ((d >= 0.5) * 1.0 - (d <= -0.5) * 1.0)


@njit(cache=True, inline="always")
def round_to_lot(v: float, L: float) -> float:
    """``v`` (shares) on its nearest whole multiple of the lot ``L`` (a tie away from zero,
    as Excel's ``ROUND``); ``v`` itself when ``L == 0``."""
    return L * half_away(v / L) if L > 0.0 else v


@njit(cache=True, inline="always")
def _lot_x(qi: float, di: float, L: float, k: float) -> float:
    """One asset's whole-lot trade of scale ``k``: ``L round((q + k dq)/L) - q`` (``k dq``
    when ``L == 0``)."""
    return round_to_lot(qi + k * di, L) - qi if L > 0.0 else k * di


@njit(cache=True, fastmath=False)
def net_hedge(v: np.ndarray, c: float, x: np.ndarray, hb: np.ndarray, h: int,
              qh: float) -> None:
    """Set the fractional hedge's trade ``x[h]`` so that the book keeps the beta exposure
    of the continuous trade ``c v``: ``x_h = c v_h - sum_{i != h} hb_i (x_i - c v_i)``.

    ``hb_i = beta_i p_i / p_h`` (hedge units per share of asset ``i``), so the rounding
    residual ``x_i - c v_i`` of each leg is offset in the hedge: the exposure after the
    trade, ``sum_i hb_i (q_i + x_i) + q_h + x_h``, equals that after ``c v`` exactly (in
    exact arithmetic), 0 when ``c v`` lands on the neutral target.  ``v`` is the
    proposed trade and ``c`` the scale, or ``v = q`` and ``c = -delta`` for a
    deleveraging.

    A result within ``HEDGE_DUST`` (1e-12) of the hedge position ``qh`` plus its
    terms' magnitudes is cancellation noise, not a trade, and is set to 0: ``v_h``
    itself is the target less the position, so a book already on its target leaves
    a residue of an ulp of the position (9e-13 units of a 5,160-unit hedge), which
    would pay a fixed fee, and whether it comes out as 0 or not depends on the order
    and fusing of the floating-point operations.
    """
    r = 0.0
    size = abs(qh) + abs(c * v[h])
    for i in range(x.shape[0]):
        if i != h:
            t = hb[i] * (x[i] - c * v[i])
            r += t
            size += abs(t)
    xh = c * v[h] - r
    x[h] = 0.0 if abs(xh) <= HEDGE_DUST * size else xh


@njit(cache=True, fastmath=False)
def lot_trade(q: np.ndarray, dq: np.ndarray, lots: np.ndarray, k: float,
              x: np.ndarray, hb: np.ndarray, h: int) -> None:
    """Write into ``x`` the whole-lot trade of scale ``k``: ``L round((q + k dq)/L) - q``;
    with ``h >= 0`` the fractional hedge ``h`` offsets the legs' rounding
    (:func:`net_hedge`)."""
    for i in range(q.shape[0]):
        x[i] = _lot_x(q[i], dq[i], lots[i], k)
    if h >= 0:
        net_hedge(dq, k, x, hb, h, q[h])


@njit(cache=True, fastmath={"reassoc"})
def lot_need(q: np.ndarray, x: np.ndarray, p: np.ndarray, kimp: np.ndarray, s: int,
             use_impact: bool, lin: float, fixed_fee: float) -> tuple[float, float]:
    """Cash the trade ``x`` takes (signed value plus costs, currency) and gross after it.

    ``sum_i p_i x_i + lin sum_i |p_i x_i| + fixed_fee #{x_i != 0} + sum_i k_i p_i x_i^2``
    (eq. 2's ``S + A + F + B`` of the actual trade) and ``sum_i |q_i + x_i| p_i``.
    """
    flow = 0.0
    turn = 0.0
    imp = 0.0
    nnz = 0
    g = 0.0
    for i in range(q.shape[0]):
        xi = x[i]
        v = xi * p[i]
        flow += v
        turn += abs(v)
        nnz += xi != 0.0
        if use_impact:
            imp += kimp[s, i] * p[i] * xi * xi
        g += abs(q[i] + xi) * p[i]
    return flow + lin * turn + fixed_fee * nnz + imp, g


@njit(cache=True, inline="always")
def _lot_check(q, dq, p, lots, k, x, slack, G, gross_on, kimp, s, use_impact, lin,
               fixed_fee, hb, h) -> int:
    """0 when the whole-lot trade of scale ``k`` (left in ``x``) is feasible, 1 when it
    breaks the cash floor, 2 when it breaks only the gross cap (over ``G`` by more
    than the relative ``LOT_GROSS_TOL``)."""
    lot_trade(q, dq, lots, k, x, hb, h)
    need, g = lot_need(q, x, p, kimp, s, use_impact, lin, fixed_fee)
    if slack - need < 0.0:
        return 1
    if gross_on and g > G * (1.0 + LOT_GROSS_TOL):
        return 2
    return 0


@njit(cache=True, inline="always")
def _sort_head(a: np.ndarray, n: int) -> None:
    """Sort the first ``n`` values of ``a`` in place, ascending (insertion sort: at most
    ``LOT_SCAN + 2`` values on a rare path, and far cheaper to compile than ``np.sort``)."""
    for j in range(1, n):
        v = a[j]
        k = j - 1
        while k >= 0 and a[k] > v:
            a[k + 1] = a[k]
            k -= 1
        a[k + 1] = v


@njit(cache=True, fastmath=False)
def _midpoints(bp: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Midpoints between consecutive distinct values of ``bp[:n]`` once sorted (one scale
    inside each interval where the rounded trade is constant): ``(out, m)`` with the
    midpoints, ascending, in ``out[:m]`` and the largest value in ``out[m]``.

    ``bp[:n]`` (the caller's scratch) is sorted in place.  One signature serves both
    scans, the largest value included or not (a flag would be typed as a literal, and
    each value compiled apart).
    """
    _sort_head(bp, n)
    out = np.empty(n)
    m = 0
    for j in range(n - 1):
        if bp[j + 1] > bp[j]:
            out[m] = 0.5 * (bp[j] + bp[j + 1])
            m += 1
    out[m] = bp[n - 1]
    return out, m


@njit(cache=True, fastmath=False)
def _even_points(start: float, width: float, offset: float) -> np.ndarray:
    """``LOT_SCAN`` evenly spaced points ``start + width (j + offset) / LOT_SCAN``, the
    grid both scans fall back on when there are more breakpoints than they try."""
    out = np.empty(LOT_SCAN)
    for j in range(LOT_SCAN):
        out[j] = start + width * ((j + offset) / LOT_SCAN)
    return out


@njit(cache=True, inline="always")
def _scan_points(q: np.ndarray, dq: np.ndarray, lots: np.ndarray, lo: float,
                 hi: float) -> np.ndarray:
    """Scales strictly inside ``(lo, hi)``, ascending, covering the distinct whole-lot
    trades there: the midpoints between consecutive rounding breakpoints (where some
    ``(q_i + k dq_i) / L_i`` crosses a half lot) when there are at most ``LOT_SCAN``,
    else ``LOT_SCAN`` evenly spaced points."""
    w = hi - lo
    count = 0.0
    for i in range(q.shape[0]):
        if lots[i] > 0.0 and dq[i] != 0.0:
            count += math.floor(abs(dq[i]) * w / lots[i]) + 1.0
    if count > LOT_SCAN:
        return _even_points(lo, w, 0.5)
    bp = np.empty(int(count) + 2)
    bp[0] = lo
    nb = 1
    for i in range(q.shape[0]):
        L = lots[i]
        d = dq[i]
        if L > 0.0 and d != 0.0:
            u0 = (q[i] + lo * d) / L
            u1 = (q[i] + hi * d) / L
            ua = u0 if u0 < u1 else u1
            ub = u1 if u0 < u1 else u0
            h = math.floor(ua - 0.5) + 0.5  # half lots in (ua, ub)
            while h < ub and nb < bp.shape[0] - 1:
                if h > ua:
                    k = (h * L - q[i]) / d
                    if lo < k < hi:
                        bp[nb] = k
                        nb += 1
                h += 1.0
    bp[nb] = hi
    pts, m = _midpoints(bp, nb + 1)
    return pts[:m]


@njit(cache=True, fastmath=False)
def lot_scale(q: np.ndarray, dq: np.ndarray, p: np.ndarray, lots: np.ndarray, lo: float,
              hi: float, slack: float, G: float, gross_on: bool, kimp: np.ndarray, s: int,
              use_impact: bool, lin: float, fixed_fee: float,
              x: np.ndarray, hb: np.ndarray, h: int) -> tuple[float, int]:
    """Scale in ``[lo, hi]`` whose whole-lot trade (left in ``x``) is feasible, and why
    ``hi`` was not (0: it was, 1: cash floor, 2: gross cap).  The scale is -1 if none.

    ``hi`` when its rounded trade keeps ``slack - need >= 0`` and gross ``<= G``;
    else the last feasible point of a bisection between ``lo`` and ``hi``; when ``lo``
    is infeasible once rounded too, between the highest feasible point of a scan
    (:func:`_scan_points`) and the scanned point above it (-1 when none is feasible).
    With ``h >= 0`` every trade tried has the fractional hedge ``h`` offset the legs'
    rounding (:func:`net_hedge`, ``hb`` its coefficients).
    """
    why = _lot_check(q, dq, p, lots, hi, x, slack, G, gross_on, kimp, s, use_impact, lin,
                     fixed_fee, hb, h)
    if why == 0:
        return hi, 0
    if lo >= hi:
        return -1.0, why
    n = q.shape[0]
    xb = np.empty(n)  # the trade at hi (a loop, not x.copy(): one array helper less)
    for i in range(n):
        xb[i] = x[i]
    a = lo
    b = hi
    if _lot_check(q, dq, p, lots, lo, x, slack, G, gross_on, kimp, s, use_impact, lin,
                  fixed_fee, hb, h) != 0:
        # both ends infeasible once rounded: scan the rounded trades in between, from
        # the top, for a feasible one (a) below an infeasible point (b)
        pts = _scan_points(q, dq, lots, lo, hi)
        a = -1.0
        for j in range(pts.shape[0] - 1, -1, -1):
            if _lot_check(q, dq, p, lots, pts[j], x, slack, G, gross_on, kimp, s,
                          use_impact, lin, fixed_fee, hb, h) == 0:
                a = pts[j]
                if j + 1 < pts.shape[0]:
                    b = pts[j + 1]
                    lot_trade(q, dq, lots, b, xb, hb, h)
                break
        if a < 0.0:
            return -1.0, why
    xa = np.empty(n)  # the trade at a
    for i in range(n):
        xa[i] = x[i]
    return _edge(q, dq, p, lots, a, b, xa, xb, slack, G, gross_on, kimp, s, use_impact, lin,
                 fixed_fee, x, hb, h), why


@njit(cache=True, inline="always")
def _edge(q, dq, p, lots, a, b, xa, xb, slack, G, gross_on, kimp, s, use_impact, lin,
          fixed_fee, x, hb, h) -> float:
    """Last scale in ``[a, b)`` whose whole-lot trade (left in ``x``) is feasible, given a
    feasible ``a`` and an infeasible ``b`` and their whole-lot trades ``xa`` and ``xb``
    (overwritten): a bisection, to floating-point resolution.

    When every asset that trades has a lot size, the rounded trade is constant between
    rounding breakpoints, so once ``a`` and ``b`` round to trades that differ by one lot
    of one asset only, every scale between them rounds to one of the two and the bisection
    goes on checking that asset's rounding alone (O(1) a step instead of a pass over
    the assets and the costs): the same steps and the same result as checking the
    whole trade, in about 10-15 passes over the assets instead of about 50.
    """
    n = q.shape[0]
    whole = h < 0  # a netted hedge moves with the scale between the legs' breakpoints
    for i in range(n):
        if dq[i] != 0.0 and not lots[i] > 0.0:
            whole = False
    for _ in range(200):
        if whole:
            nd = 0
            j = -1
            for i in range(n):  # without branches: about half differ on early steps
                differs = xa[i] != xb[i]
                nd += differs
                j = i if differs else j
            if nd == 1 and abs(xb[j] - xa[j]) <= lots[j] * (1.0 + 1e-9):
                # every scale in [a, b] rounds to xa or xb, which differ in asset j only,
                # by one lot: the rest of the bisection needs only asset j's rounding
                # (the same steps and result as checking the whole trade)
                for _ in range(200):
                    m = 0.5 * (a + b)
                    if m == a or m == b:
                        break
                    if round_to_lot(q[j] + m * dq[j], lots[j]) - q[j] == xa[j]:
                        a = m
                    else:
                        b = m
                for i in range(n):
                    x[i] = xa[i]
                return a
        m = 0.5 * (a + b)
        if m == a or m == b:
            break
        if _lot_check(q, dq, p, lots, m, x, slack, G, gross_on, kimp, s, use_impact, lin,
                      fixed_fee, hb, h) == 0:
            a = m
            for i in range(n):
                xa[i] = x[i]
        else:
            b = m
            for i in range(n):
                xb[i] = x[i]
    for i in range(n):
        x[i] = xa[i]
    return a


@njit(cache=True, inline="always")
def _lots_kept(aq: float, L: float, d: float) -> float:
    """Whole lots of ``L`` kept of a position of ``aq = |q|`` shares when at least the
    fraction ``d`` of it is closed: ``floor((1 - d) |q| / L)``, with a tolerance of
    ``LOT_FLOOR_TOL`` lot for the rounding of ``1 - d``, and for ``d > 0`` at most one
    lot fewer than held, as the exact floor gives (the tolerance alone kept every lot
    for ``d`` below about ``1e-9 L / |q|``)."""
    j = math.floor((1.0 - d) * aq / L + LOT_FLOOR_TOL)
    if d > 0.0:
        j = min(j, half_away(aq / L) - 1.0)
    return max(j, 0.0)


@njit(cache=True, fastmath=False)
def lot_cap(lim: float, L: float) -> float:
    """The position cap ``lim`` (shares) rounded down to whole lots of ``L``, with a
    tolerance of ``LOT_FLOOR_TOL`` lot: a cap met exactly in decimals (29 lots of 300
    under 0.29 x 3,000,000) keeps its last lot despite the binary rounding of ``lim``."""
    return L * math.floor(lim / L + LOT_FLOOR_TOL)


@njit(cache=True, fastmath=False)
def lot_delever(q: np.ndarray, lots: np.ndarray, delta: float, x: np.ndarray,
                hb: np.ndarray, h: int) -> None:
    """Write into ``x`` the deleveraging trade closing at least ``delta`` of each position
    in whole lots (``-delta q_i`` for an asset without a lot size); with ``h >= 0`` the
    fractional hedge ``h`` offsets the legs' rounding (:func:`net_hedge`)."""
    for i in range(q.shape[0]):
        L = lots[i]
        qi = q[i]
        if L > 0.0:
            m = _lots_kept(abs(qi), L, delta)
            x[i] = (L * m if qi > 0.0 else -L * m) - qi
        else:
            x[i] = -delta * qi
    if h >= 0:
        net_hedge(q, -delta, x, hb, h, q[h])


@njit(cache=True, inline="always")
def _delever_ok(q, lots, d, p, kimp, s, use_impact, lin, fixed_fee, slack, x, G,
                gross_on, hb, h) -> bool:
    """True when the whole-lot deleveraging of fraction ``d`` (left in ``x``) keeps
    ``slack - need >= 0`` and gross ``<= G``."""
    lot_delever(q, lots, d, x, hb, h)
    need, g = lot_need(q, x, p, kimp, s, use_impact, lin, fixed_fee)
    return slack - need >= 0.0 and not (gross_on and g > G * (1.0 + LOT_GROSS_TOL))


@njit(cache=True, inline="always")
def _delever_points(q: np.ndarray, lots: np.ndarray, delta: float) -> np.ndarray:
    """Fractions in ``(delta, 1]``, ascending, covering the distinct whole-lot
    deleveragings there: a midpoint between consecutive points where some kept
    ``floor((1 - d)|q_i| / L_i)`` drops a lot when there are at most ``LOT_SCAN``,
    else ``LOT_SCAN`` evenly spaced points; ``1`` (a full liquidation) last."""
    count = 0.0
    for i in range(q.shape[0]):
        if lots[i] > 0.0 and q[i] != 0.0:
            count += _lots_kept(abs(q[i]), lots[i], delta)
    w = 1.0 - delta
    if count > LOT_SCAN:
        out = _even_points(delta, w, 1.0)
        out[LOT_SCAN - 1] = 1.0
        return out
    bp = np.empty(int(count) + 2)
    bp[0] = delta
    nb = 1
    for i in range(q.shape[0]):
        L = lots[i]
        if L > 0.0 and q[i] != 0.0:
            m = abs(q[i]) / L
            j = _lots_kept(abs(q[i]), L, delta)  # lots kept at delta
            while j >= 1.0 and nb < bp.shape[0] - 1:
                d = 1.0 - (j - LOT_FLOOR_TOL) / m  # from here on, j - 1 lots are kept
                if delta < d < 1.0:
                    bp[nb] = d
                    nb += 1
                j -= 1.0
    bp[nb] = 1.0
    pts, m = _midpoints(bp, nb + 1)
    return pts[:m + 1]


@njit(cache=True, fastmath=False)
def lot_delever_scale(q: np.ndarray, lots: np.ndarray, delta: float, p: np.ndarray,
                      kimp: np.ndarray, s: int, use_impact: bool, lin: float,
                      fixed_fee: float, slack: float, x: np.ndarray, G: float,
                      gross_on: bool, hb: np.ndarray, h: int) -> float:
    """Fraction in ``[delta, 1]`` whose whole-lot deleveraging (left in ``x``) keeps the
    cash floor and the gross cap, or -1 when none of the scanned fractions does.

    ``delta`` when its rounded deleveraging keeps ``slack - need >= 0``.  Otherwise the
    fractions above it are scanned from the bottom (:func:`_delever_points`: every
    distinct whole-lot deleveraging when there are at most ``LOT_SCAN``, and always a
    full liquidation), and the first feasible one is bisected down against the point
    below it, to the smallest feasible fraction there.  Closing at least ``delta`` of
    every position keeps a gross cap met by the continuous ``delta``; a netted hedge
    (``h >= 0``) can grow by the legs' rounding when betas exceed 1, so gross is
    checked too (full liquidation meets it).  When -1 is returned, ``x`` holds the
    deleveraging of fraction ``delta``.
    """
    if _delever_ok(q, lots, delta, p, kimp, s, use_impact, lin, fixed_fee, slack, x, G,
                   gross_on, hb, h):
        return delta
    pts = _delever_points(q, lots, delta)
    a = delta  # infeasible
    b = -1.0  # feasible
    for j in range(pts.shape[0]):
        if _delever_ok(q, lots, pts[j], p, kimp, s, use_impact, lin, fixed_fee, slack, x,
                       G, gross_on, hb, h):
            b = pts[j]
            if j > 0:
                a = pts[j - 1]
            break
    if b < 0.0:
        lot_delever(q, lots, delta, x, hb, h)
        return -1.0
    for _ in range(200):
        m = 0.5 * (a + b)
        if m == a or m == b:
            break
        if _delever_ok(q, lots, m, p, kimp, s, use_impact, lin, fixed_fee, slack, x, G,
                       gross_on, hb, h):
            b = m
        else:
            a = m
    lot_delever(q, lots, b, x, hb, h)
    return b
