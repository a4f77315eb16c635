r"""The MNVH update rule, seed 000 eq. 1, with its timing made explicit.

.. math::

    q_{i,t+1} = \lambda q_{i,t} + \beta \frac{w_i}{p_{i,t}} (R_t - r_{i,t}),
    \qquad r_{i,t} = \frac{p_{i,t+1}}{p_{i,t}} - 1,\quad R_t = \sum_j w_j r_{j,t}.

``r_t`` needs ``p_{t+1}``, so the target ``q_{t+1}`` is known only at bar
``t+1`` and trades there at ``p_{t+1}`` at the earliest (the engine's
``exec_lag=1`` trades it one bar later still).  ``beta`` is in currency
("absolute" mode, eq. 1 as written); the engine's "nav" mode passes
``beta * NAV`` instead (eq. 4's ``beta * V_t``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mnvh_target", "mnvh_step"]


@njit(cache=True, fastmath={"reassoc"})
def mnvh_target(q: np.ndarray, p_prev: np.ndarray, p_now: np.ndarray, w: np.ndarray,
                lam: float, beta: float, out: np.ndarray) -> float:
    """Write eq. 1's target ``lam*q + beta*(w/p_prev)*(R - r)`` into ``out``; return ``R``.

    Parameters
    ----------
    q : array (N,)
        Positions held at t (shares).
    p_prev, p_now : array (N,)
        Prices at t and t+1 (> 0).
    w : array (N,)
        Target notional weights known at t (sum 1, may be negative).
    lam : float
        Inventory decay in [0, 1].
    beta : float
        Trading intensity in currency (already multiplied by NAV in "nav" mode).
    out : array (N,)
        Output buffer (must not alias ``q``; holds the returns between the two passes).
    """
    n = q.shape[0]
    R = 0.0
    for i in range(n):
        r = p_now[i] / p_prev[i] - 1.0
        out[i] = r
        R += w[i] * r
    for i in range(n):
        out[i] = lam * q[i] + beta * (w[i] / p_prev[i]) * (R - out[i])
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
