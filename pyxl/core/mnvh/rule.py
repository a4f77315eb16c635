r"""The MNVH update rule, seed 000 eq. 1, with its timing made explicit.

.. math::

    q_{i,t+1} = \lambda q_{i,t} + \beta \frac{w_i}{p_{i,t}} (R_t - r_{i,t}),
    \qquad r_{i,t} = \frac{p_{i,t+1}}{p_{i,t}} - 1,\quad R_t = \sum_j w_j r_{j,t}.

``r_t`` needs ``p_{t+1}``, so the target ``q_{t+1}`` is known only at bar
``t+1`` and trades there at ``p_{t+1}`` at the earliest (the engine's
``exec_lag=1`` trades it one bar later still).  ``beta`` is in currency
("absolute" mode, eq. 1 as written); the engine's "nav" mode passes
``beta * NAV`` instead (eq. 4's ``beta * V_t``).

Rounding: both divisions by ``p_{i,t}`` use its reciprocal ``u_i = 1 / p_{i,t}``
(rounded once): ``r_i = (p_{i,t+1} - p_{i,t}) u_i`` and ``w_i u_i``.  Each price
is inverted once in a whole backtest (the engine carries ``1 / p`` from one bar
to the next), which halves the divisions, the costliest operation of the rule.
The return is the price change times ``u_i``, not ``p_{i,t+1} u_i - 1``:

* a price that did not move gives ``r = 0`` exactly.  ``p (1/p)`` is not always 1
  in binary (``49 * (1/49) = 1 - 2^-53``), and the old form's ``r = -1.1e-16``
  made a book with ``lam = 1`` trade 1e-13 shares, and pay the fixed fee, on a
  bar where no price moved (a forward-filled holiday), where the exact rule does
  not trade; with whole lots it could tip a trade of exactly half a lot;
* the change ``p_{i,t+1} - p_{i,t}`` is exact when the price at most doubles or
  halves (Sterbenz), so ``r`` is within about one unit in the last place *of r*;
  ``p u - 1`` was within one unit in the last place *of 1*, i.e. 1e-13 relative
  on a return of 1e-3.  :func:`mnvh_return` and :func:`mnvh_position` are the one
implementation: the engine's kernel inlines them per asset, and
:func:`mnvh_target` / :func:`mnvh_step` (the ``MNVH_STEP`` formula) loop over them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mnvh_return", "mnvh_position", "mnvh_target", "mnvh_step"]

#: Strict IEEE arithmetic (``fastmath=False`` set explicitly, not inherited from the
#: kernel): the kernel stores these values in loops that LLVM may run in their vector or
#: their scalar version, which must agree (see "Same inputs, same bits" in
#: :mod:`pyxl.core.mnvh.kernel`).
_RULE = {"fastmath": False, "error_model": "numpy", "cache": True}


@njit(**_RULE)
def mnvh_return(p_now: float, p_prev: float, inv_prev: float) -> float:
    """``r = p_now / p_prev - 1`` as ``(p_now - p_prev) * inv_prev`` (``inv_prev = 1 / p_prev``).

    Exactly 0 when the price did not move (see the module notes).
    """
    return (p_now - p_prev) * inv_prev


@njit(**_RULE)
def mnvh_position(q: float, w: float, inv_prev: float, lam: float, beta: float, R: float,
                  r: float) -> float:
    """Eq. 1 for one asset: ``lam * q + beta * (w * inv_prev) * (R - r)`` (shares).

    ``inv_prev = 1 / p_prev``; ``R = sum_j w_j r_j`` over the basket.
    """
    return lam * q + beta * (w * inv_prev) * (R - r)


@njit(**_RULE)
def mnvh_target(q: np.ndarray, p_prev: np.ndarray, p_now: np.ndarray, w: np.ndarray,
                lam: float, beta: float, out: np.ndarray) -> float:
    """Write eq. 1's target ``lam*q + beta*(w/p_prev)*(R - r)`` into ``out``; return ``R``.

    Parameters
    ----------
    q : array (N,)
        Positions held at t (shares).
    p_prev, p_now : array (N,)
        Prices at t and t+1 (> 0; a zero price gives inf/NaN, it does not raise).
    w : array (N,)
        Target notional weights known at t (sum 1, may be negative).
    lam : float
        Inventory decay in [0, 1].
    beta : float
        Trading intensity in currency (already multiplied by NAV in "nav" mode).
    out : array (N,)
        Output buffer (must not alias ``q``; holds the returns between the two passes).

    The divisions by ``p_prev`` go through ``1 / p_prev`` (see the module notes),
    exactly as in the backtest kernel.
    """
    n = q.shape[0]
    inv = np.empty(n)
    R = 0.0
    for i in range(n):
        inv[i] = 1.0 / p_prev[i]
        r = mnvh_return(p_now[i], p_prev[i], inv[i])
        out[i] = r
        R += w[i] * r
    for i in range(n):
        out[i] = mnvh_position(q[i], w[i], inv[i], lam, beta, R, out[i])
    return R


def mnvh_step(q, p_prev, p_now, w, lam: float, beta: float) -> np.ndarray:
    """Eq. 1 for one step on plain arrays: returns ``q_{t+1}`` (shares).

    See :func:`mnvh_target`; ``beta`` in currency units.
    """
    q = np.ascontiguousarray(q, dtype=np.float64).ravel()
    out = np.empty_like(q)
    mnvh_target(q, np.ascontiguousarray(p_prev, dtype=np.float64).ravel(),
                np.ascontiguousarray(p_now, dtype=np.float64).ravel(),
                np.ascontiguousarray(w, dtype=np.float64).ravel(), float(lam), float(beta), out)
    return out
