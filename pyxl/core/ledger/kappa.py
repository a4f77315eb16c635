r"""The self-financing scale ``kappa`` of Ledger-SPT (seed 000, eq. 2, via the cash account).

Eq. 2 of the seed asks ``sum_i p_i dq_i + sum_i phi_i = 0``; under proportional
fees that equality only holds at ``kappa = 0`` (``S(kappa) = kappa S(1)``).  The
implementable reading (seed README) is the cash account: no external cash ever
flows in, the cash account pays for the trade and its costs, and ``kappa`` is
the **largest** scale in ``[0, 1]`` that keeps cash at or above its floor::

    g(kappa) = cash - min_cash - kappa * S - kappa * A - kappa**2 * B - F * [kappa > 0] >= 0

with ``S = sum_i p_i dq_i`` (signed trade value), ``A = sum_i c_i |dq_i| p_i``
(linear costs: commission + half spread), ``B = sum_i k_i p_i dq_i**2`` (impact,
quadratic in the trade) and ``F = fixed_fee * #{i: dq_i != 0}``.  ``F`` makes
``g`` jump at 0, so ``kappa = 0`` (no trade, no fee) is handled apart from the
interval ``(0, 1]`` on which ``g`` is a concave quadratic.

:func:`kappa_interval` is the one implementation: the engine and the Excel
formula ``LEDGER_KAPPA`` both call it.  Closed form when ``B = 0``; otherwise a
bisection bracketed by a feasible and an infeasible point, which is safe because
a concave function crosses zero at most once on each side of its maximum.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kappa_interval", "largest_kappa", "cash_after"]

_MAX_BISECT = 200

# fastmath=False is set explicitly: numba would otherwise compile these with the flags
# of their first caller, so the MNVH kernel's copy (reassoc) and LEDGER_KAPPA's could
# round differently.


@njit(cache=True, fastmath=False)
def _g(k: float, c0: float, D: float, B: float) -> float:
    return c0 - k * D - k * k * B


@njit(cache=True, fastmath=False)
def _bisect(a: float, b: float, c0: float, D: float, B: float) -> float:
    """Feasible end of a bracket: ``_g(a) >= 0 > _g(b)``; returns the last feasible point."""
    for _ in range(_MAX_BISECT):
        m = 0.5 * (a + b)
        if m == a or m == b:
            break
        if _g(m, c0, D, B) >= 0.0:
            a = m
        else:
            b = m
    return a


@njit(cache=True, fastmath=False)
def kappa_interval(slack: float, S: float, A: float, B: float, F: float
                   ) -> tuple[bool, float, float]:
    """Feasible positive scales of a trade under the cash floor.

    Parameters
    ----------
    slack : float
        ``cash - min_cash`` before the trade (currency).
    S : float
        Signed trade value ``sum_i p_i dq_i`` (currency; > 0 means cash is spent).
    A : float
        Linear costs of the full trade ``sum_i c_i |dq_i| p_i`` (currency, >= 0).
    B : float
        Quadratic (impact) costs of the full trade ``sum_i k_i p_i dq_i**2`` (>= 0).
    F : float
        Fixed fees of the trade, charged once for any ``kappa > 0`` (>= 0).

    Returns
    -------
    (ok, lo, hi) : (bool, float, float)
        ``ok`` is True when some ``kappa`` in ``(0, 1]`` satisfies the floor; then
        every ``kappa`` in ``[lo, hi]`` (``lo = 0`` meaning "arbitrarily close to 0")
        does and ``hi`` is the largest.  Both ends are verified with ``g >= 0`` in
        floating point.
    """
    c0 = slack - F
    D = S + A
    if B <= 0.0:
        if D > 0.0:
            if c0 <= 0.0:
                return False, 1.0, 0.0
            hi = c0 / D
            if hi >= 1.0:
                return True, 0.0, 1.0
            while hi > 0.0 and _g(hi, c0, D, 0.0) < 0.0:
                hi = np.nextafter(hi, 0.0)
            if hi <= 0.0:
                return False, 1.0, 0.0
            return True, 0.0, hi
        if D < 0.0:
            if c0 >= 0.0:
                return True, 0.0, 1.0
            lo = c0 / D
            if lo > 1.0:
                return False, 1.0, 0.0
            while lo <= 1.0 and _g(lo, c0, D, 0.0) < 0.0:
                lo = np.nextafter(lo, 2.0)
            if lo > 1.0:
                return False, 1.0, 0.0
            return True, lo, 1.0
        if c0 >= 0.0:
            return True, 0.0, 1.0
        return False, 1.0, 0.0
    # concave quadratic on (0, 1]: maximum at km
    km = -D / (2.0 * B)
    if km < 0.0:
        km = 0.0
    elif km > 1.0:
        km = 1.0
    if _g(km, c0, D, B) < 0.0:
        return False, 1.0, 0.0
    if km == 0.0 and c0 <= 0.0:
        # g decreasing on (0, 1] from g(0+) = c0 <= 0: only kappa -> 0 could work
        return False, 1.0, 0.0
    if _g(1.0, c0, D, B) >= 0.0:
        hi = 1.0
    else:
        hi = _bisect(km, 1.0, c0, D, B)
    if c0 >= 0.0:
        lo = 0.0
    else:
        # g(0) < 0 <= g(km): feasible end lies in (0, km]
        lo = km
        a, b = km, 0.0
        for _ in range(_MAX_BISECT):
            m = 0.5 * (a + b)
            if m == a or m == b:
                break
            if _g(m, c0, D, B) >= 0.0:
                a = m
            else:
                b = m
        lo = a
    if hi <= 0.0:
        return False, 1.0, 0.0
    return True, lo, hi


@njit(cache=True, fastmath=False)
def _largest_kappa(p: np.ndarray, dq: np.ndarray, cash: float, fee_rate: float,
                   fixed_fee: float, min_cash: float, impact: np.ndarray) -> float:
    S = 0.0
    A = 0.0
    B = 0.0
    nnz = 0
    for i in range(p.shape[0]):
        x = dq[i]
        if x != 0.0:
            nnz += 1
            v = p[i] * x
            S += v
            A += fee_rate * abs(v)
            B += impact[i] * p[i] * x * x
    if nnz == 0:
        return 1.0
    ok, lo, hi = kappa_interval(cash - min_cash, S, A, B, fixed_fee * nnz)
    if not ok:
        return 0.0
    return hi


def largest_kappa(p, dq, cash: float, fee_rate: float = 0.0, fixed_fee: float = 0.0,
                  min_cash: float = 0.0, impact=None) -> float:
    """Largest ``kappa`` in ``[0, 1]`` with ``cash_after(kappa) >= min_cash`` (LEDGER_KAPPA).

    ``cash_after(kappa) = cash - kappa * sum(p*dq) - sum_i phi_i(kappa*dq_i)`` with
    ``phi_i(x) = fee_rate*|x|*p_i + fixed_fee*[x != 0] + impact_i*p_i*x**2``.
    Returns 1 when ``dq`` is all zero and 0 when no positive ``kappa`` is feasible.

    Parameters
    ----------
    p : array (N,)
        Prices (> 0), currency per share.
    dq : array (N,)
        Proposed trade in shares (+ buy, - sell).
    cash : float
        Cash before the trade (currency).
    fee_rate : float
        Proportional cost, fraction of traded notional (include the half spread here).
    fixed_fee : float
        Currency per non-zero trade.
    min_cash : float
        Cash floor after trade and fees (currency; may be negative for a credit line).
    impact : array (N,), optional
        Quadratic impact coefficient per asset (price fraction per share traded).
    """
    p = np.ascontiguousarray(p, dtype=np.float64).ravel()
    dq = np.ascontiguousarray(dq, dtype=np.float64).ravel()
    imp = np.zeros_like(p) if impact is None else np.ascontiguousarray(impact, dtype=np.float64)
    return float(_largest_kappa(p, dq, float(cash), float(fee_rate), float(fixed_fee),
                                float(min_cash), imp))


def cash_after(kappa: float, p, dq, cash: float, fee_rate: float = 0.0, fixed_fee: float = 0.0,
               impact=None) -> float:
    """Cash after trading ``kappa * dq`` at ``p`` and paying its costs (plain numpy, for checks)."""
    p = np.asarray(p, dtype=float).ravel()
    x = kappa * np.asarray(dq, dtype=float).ravel()
    imp = np.zeros_like(p) if impact is None else np.asarray(impact, dtype=float)
    costs = fee_rate * np.abs(x) * p + fixed_fee * (x != 0) + imp * p * x * x
    return float(cash - np.sum(p * x) - np.sum(costs))
