"""Multi-asset Kelly: closed form, constrained (cvxpy) and exact on scenarios.

Units: ``mu``, ``cov`` and ``rf`` in :func:`kelly_weights` are annual decimals
(arithmetic expected returns, covariance of returns).  In
:func:`kelly_scenario` the returns and ``rf`` are *per period* of the
scenarios (daily rows with a daily rf, yearly scenarios with a yearly rf).
Weights are fractions of equity: ``sum(w) = 1.5`` means 1.5x gross long
exposure financed by borrowing 0.5 at rf.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from pyxl.core.kelly.closed_form import _check_finite, scenario_probs
from pyxl.core.lazy_cvxpy import cp
from pyxl.errors import InfeasibleError, InputError

__all__ = ["check_covariance", "kelly_weights", "kelly_scenario", "scenario_growth"]

_PSD_TOL = 1e-10
#: Largest simple return per period :func:`kelly_scenario` accepts (a gain of a million
#: times the stake in one period).  No traded asset does that, so a larger cell is a
#: price or a typo; and the solvers, which stop at relative tolerances of about 1e-10,
#: cannot resolve scenario sets spanning more orders of magnitude than this above typical
#: returns of ~1e-2 (at 1e7 the conic solver already broke the leverage cap).
MAX_SCENARIO_RETURN = 1e6


def check_covariance(cov: np.ndarray, n: int, name: str = "cov") -> np.ndarray:
    """Validate a covariance: n x n, symmetric, positive semi-definite; return it symmetrised."""
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (n, n):
        raise InputError(name, f"is {cov.shape[0]}x{cov.shape[1]}, expected {n}x{n}",
                         "one row and column per asset in mu")
    if not np.all(np.isfinite(cov)):
        raise InputError(name, "contains NaN or infinite values", "enter a covariance matrix")
    scale = max(float(np.max(np.abs(cov))), 1e-300)
    if np.max(np.abs(cov - cov.T)) > 1e-8 * scale:
        raise InputError(name, "is not symmetric", "enter a covariance matrix")
    cov = 0.5 * (cov + cov.T)
    eig = np.linalg.eigvalsh(cov)
    if eig[-1] <= 0 and eig[0] >= -_PSD_TOL * max(abs(eig[0]), 1e-300):
        raise InputError(name, "is zero (no risk in any asset)",
                         "enter the assets' variances and covariances")
    if eig[0] < -_PSD_TOL * max(eig[-1], 1e-300) or eig[-1] <= 0:
        raise InputError(name, f"is not positive semi-definite (eigenvalue {eig[0]:.3g})",
                         "use a valid covariance (e.g. shrink it)")
    return cov


def _by_label(mu, cov, max_weight):
    """``cov`` (both axes) and ``max_weight`` in the order of a labelled ``mu`` Series.

    pandas inputs meet by label (:func:`pyxl.core.labels.target_order`): a covariance
    DataFrame in another ticker order than ``mu`` was used by position before, pairing
    each expected return with another asset's risk.  The weights come back in ``mu``'s
    order.
    """
    import pandas as pd

    from pyxl.core.labels import as_vector, in_order, square_in_order

    mu, max_weight = as_vector(mu), as_vector(max_weight)
    if isinstance(mu, pd.Series) and isinstance(cov, pd.DataFrame):
        cov = square_in_order(cov, [(mu.index, "labels of mu")], "cov")
    if isinstance(mu, pd.Series) and isinstance(max_weight, pd.Series):
        max_weight = in_order(max_weight, [(mu.index, "labels of mu")], "max_weight")
    return mu, cov, max_weight


def _asset_index(x):
    """The asset labels of a labelled input, else None: a Series' index (``mu``) or a
    DataFrame's columns (scenario ``returns``); a default 0..n-1 index labels nothing."""
    import pandas as pd

    from pyxl.core.labels import is_positional

    if isinstance(x, pd.DataFrame):
        idx = x.columns
    elif isinstance(x, pd.Series):
        idx = x.index
    else:
        return None
    return None if is_positional(idx) else idx


def _labelled(w: np.ndarray, labels):
    """``w`` as a Series named ``weight`` indexed by ``labels``, or ``w`` itself when None.

    Labelled inputs get labelled weights: the weights follow ``mu``'s (or the return
    columns') order after label alignment, which a caller labelling a bare array with
    ``cov.index`` instead would silently get wrong.
    """
    if labels is None:
        return w
    import pandas as pd

    return pd.Series(w, index=labels, name="weight")


def _caps_by_label(returns, max_weight, probs=None):
    """A ``max_weight`` Series in the order of a returns DataFrame's columns and a
    ``probs`` Series in the order of its rows, by label."""
    import pandas as pd

    from pyxl.core.labels import as_vector, in_order

    max_weight = as_vector(max_weight)
    if isinstance(returns, pd.DataFrame) and isinstance(max_weight, pd.Series):
        max_weight = in_order(max_weight, [(returns.columns, "return columns")], "max_weight")
    if isinstance(returns, pd.DataFrame) and isinstance(probs, pd.Series):
        probs = in_order(probs, [(returns.index, "return rows")], "probs")
    return max_weight, probs


def _constraints(w: cp.Variable, n: int, max_leverage: float | None, long_only: bool,
                 max_weight: np.ndarray | None, budget: float | None) -> list:
    cons = []
    if long_only:
        cons.append(w >= 0)
    if max_leverage is not None:
        cons.append(cp.norm1(w) <= max_leverage)
    if max_weight is not None:
        caps = np.broadcast_to(np.asarray(max_weight, float), (n,))
        finite = np.isfinite(caps)
        if np.any(finite):
            idx = np.flatnonzero(finite)
            cons.append(cp.abs(w[idx]) <= caps[idx])
    if budget is not None:
        cons.append(cp.sum(w) == budget)
    return cons


def _check_limits(n: int, max_leverage: float | None, long_only: bool,
                  max_weight: np.ndarray | None, budget: float | None) -> None:
    if max_leverage is not None and max_leverage < 0:
        raise InputError("max_leverage", f"must be >= 0, got {max_leverage:g}", "e.g. 2")
    if max_weight is not None:
        caps = np.broadcast_to(np.asarray(max_weight, float), (n,))
        if np.any(caps[np.isfinite(caps)] < 0):
            raise InputError("max_weight", "has a negative cap", "enter caps >= 0")
    if budget is not None:
        if long_only and budget < 0:
            raise InfeasibleError("budget", f"{budget:g} < 0 with long_only", "raise budget")
        if max_leverage is not None and abs(budget) > max_leverage + 1e-12:
            raise InfeasibleError("budget", f"|{budget:g}| exceeds max_leverage {max_leverage:g}",
                                  "raise max_leverage or lower budget")
        if max_weight is not None:
            caps = np.broadcast_to(np.asarray(max_weight, float), (n,))
            if np.all(np.isfinite(caps)) and abs(budget) > caps.sum() + 1e-12:
                raise InfeasibleError("max_weight", f"caps sum to {caps.sum():g} < budget "
                                      f"{budget:g}", "raise the caps")


def _solve(prob: cp.Problem, what: str, polished: bool = False) -> None:
    # At these tight tolerances Clarabel sometimes stops at its reduced ones
    # (OPTIMAL_INACCURATE).  A caller that polishes and checks the answer itself
    # (``polished``) does not need cvxpy's console warning about it.
    with warnings.catch_warnings():
        if polished:
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        try:
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        except cp.error.SolverError:
            prob.solve(solver=cp.SCS, eps=1e-9, max_iters=200_000)
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise InfeasibleError("limits", f"no {what} meets them together", "relax the limits")
    if prob.status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
        raise InputError("max_leverage", "growth is unbounded without a leverage cap",
                         "set max_leverage (some mix of the assets gains without risk)")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise InputError("limits", f"solver status {prob.status}", "check the inputs")


def kelly_weights(
    mu: np.ndarray, cov: np.ndarray, rf: float, fraction: float = 1.0,
    max_leverage: float | None = None, long_only: bool = False,
    max_weight: np.ndarray | None = None, budget: float | None = None,
) -> np.ndarray:
    """Growth-optimal (Kelly) weights for assets with annual ``mu`` and ``cov``.

    Maximises the approximate growth ``rf + w'(mu - rf) - w' Sigma w / (2 fraction)``.
    Without limits this is ``fraction * Sigma^{-1} (mu - rf)`` (closed form, no
    solver); with limits (long-only ``w >= 0``, gross leverage ``sum|w| <=
    max_leverage``, per-asset caps ``|w_i| <= max_weight_i``, budget ``sum w =
    budget``) it is solved by cvxpy/Clarabel.  Dividing the risk term by
    ``fraction`` is fractional Kelly (a log investor with risk aversion
    1/fraction); without limits it equals ``fraction`` times full Kelly.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Weights per unit of equity (length of ``mu``).  A Series named ``weight``,
        indexed by ``mu``'s labels, when ``mu`` is a labelled Series (or a one-column
        DataFrame); an array otherwise.
    """
    mu, cov, max_weight = _by_label(mu, cov, max_weight)
    labels = None if np.ndim(mu) != 1 else _asset_index(mu)  # a Series (not a 1x1 frame)
    mu = np.asarray(mu, dtype=float).ravel()
    n = mu.size
    if not np.all(np.isfinite(mu)):
        raise InputError("mu", "contains NaN or infinite values", "enter annual decimals")
    cov = check_covariance(cov, n)
    _check_finite("enter an annual decimal", rf=rf)
    if not (fraction > 0 and math.isfinite(fraction)):
        raise InputError("fraction", f"must be > 0, got {fraction:g}", "e.g. 0.5 for half Kelly")
    _check_finite("e.g. 2, or leave it out for no cap", max_leverage=max_leverage)
    _check_finite("e.g. 1, or leave it out", budget=budget)
    _check_limits(n, max_leverage, long_only, max_weight, budget)
    excess = mu - rf
    constrained = (max_leverage is not None or long_only or budget is not None
                   or (max_weight is not None
                       and np.any(np.isfinite(np.broadcast_to(max_weight, (n,))))))
    if not constrained:
        try:
            c = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise InputError("cov", "is singular", "drop a duplicate asset or add limits") from None
        w = np.linalg.solve(c.T, np.linalg.solve(c, excess))
        cond = np.linalg.cond(cov)
        if not math.isfinite(cond) or cond > 1e12:
            raise InputError("cov", f"is near-singular (condition {cond:.2g})",
                             "drop a duplicate asset or add limits")
        return _labelled(fraction * w, labels)
    w = cp.Variable(n)
    # w' cov w via a square-root factor keeps the problem DCP and well scaled
    eig, vec = np.linalg.eigh(cov)
    root = vec * np.sqrt(np.clip(eig, 0, None))
    objective = cp.Maximize(excess @ w - cp.sum_squares(root.T @ w) / (2 * fraction))
    prob = cp.Problem(objective, _constraints(w, n, max_leverage, long_only, max_weight, budget))
    _solve(prob, "weights")
    w0 = np.asarray(w.value, dtype=float)
    exact = _polish_quadratic(excess, cov, fraction, w0, max_leverage, long_only, max_weight,
                              budget)
    return _labelled(w0 if exact is None else exact, labels)


def _active_face(w0: np.ndarray, max_leverage: float | None, long_only: bool,
                 max_weight: np.ndarray | None
                 ) -> tuple[dict[int, float], bool, np.ndarray, np.ndarray | None]:
    """The limits active at an interior-point answer ``w0``, as a face to polish on.

    Returns ``(fixed, gross, signs, caps)``: weights held at 0 (long-only, or at the
    gross cap's kink) or at a cap, whether the gross cap binds (with ``signs``, the
    signs of ``w0``), and the per-asset caps broadcast to n (None without caps).
    """
    n = w0.size
    tol = 1e-6 * max(1.0, float(np.max(np.abs(w0))))
    caps = None if max_weight is None else np.broadcast_to(np.asarray(max_weight, float), (n,))
    fixed: dict[int, float] = {}
    if long_only:
        fixed.update({int(i): 0.0 for i in np.flatnonzero(w0 <= tol)})
    if caps is not None:
        for i in np.flatnonzero(np.isfinite(caps)):
            if abs(w0[i]) >= caps[i] - tol:
                fixed[int(i)] = float(np.sign(w0[i]) * caps[i])
    gross = max_leverage is not None and np.abs(w0).sum() >= max_leverage - tol
    signs = np.sign(w0)
    if gross:
        fixed.update({int(i): 0.0 for i in np.flatnonzero(np.abs(w0) <= tol) if i not in fixed})
    return fixed, gross, signs, caps


def _grow_face(w: np.ndarray, fixed: dict[int, float], gross: bool, signs: np.ndarray,
               caps: np.ndarray | None, max_leverage: float | None, long_only: bool
               ) -> tuple[bool, bool]:
    """Add to the face (``fixed``, in place) every limit a face optimum ``w`` breaks.

    Returns ``(added, gross)``: whether a limit was added, and whether the gross cap is
    now on the face.
    """
    feas = 1e-10 * max(1.0, float(np.max(np.abs(w))))
    added = False
    if long_only:
        for i in np.flatnonzero(w < -feas):
            fixed[int(i)] = 0.0
            added = True
    if caps is not None:
        for i in np.flatnonzero(np.abs(w) > caps + feas):
            fixed[int(i)] = float(np.sign(w[i]) * caps[i])
            added = True
    if max_leverage is not None and np.abs(w).sum() > max_leverage + feas:
        if gross:  # a free weight changed sign: pin the sign-changers at 0
            for i in np.flatnonzero(np.sign(w) * signs < 0):
                fixed[int(i)] = 0.0
        gross = True
        added = True
    return added, gross


def _vertex_if_optimal(w: np.ndarray, excess: np.ndarray, cov: np.ndarray, fraction: float,
                       fixed: dict[int, float], gross: bool, max_leverage: float | None,
                       long_only: bool, budget: float | None, better: bool
                       ) -> np.ndarray | None:
    """``w`` (every weight at 0 or a cap) if it is feasible and some gross-row price
    ``lam >= 0`` makes it a KKT point; else None.  A budget row leaves two prices
    undetermined: None (the solver's answer is kept)."""
    if budget is not None or not better:
        return None
    if gross and abs(np.abs(w).sum() - max_leverage) > 1e-10 * max(1.0, max_leverage):
        return None
    grad = excess - cov @ w / fraction
    lo, hi = 0.0, math.inf   # the gross row's price must lie in [lo, hi]
    for i, v in fixed.items():
        if v == 0.0:
            lo = max(lo, grad[i] if long_only else abs(grad[i]))
        else:
            hi = min(hi, float(np.sign(v) * grad[i]))
    if not gross:  # no price to spend: zeros must not gain, caps must not gain inward
        return w if lo <= 1e-9 and hi >= -1e-9 else None
    return w if lo <= hi + 1e-9 else None


def _polish_quadratic(excess: np.ndarray, cov: np.ndarray, fraction: float, w0: np.ndarray,
                      max_leverage: float | None, long_only: bool,
                      max_weight: np.ndarray | None, budget: float | None
                      ) -> np.ndarray | None:
    """The exact optimum of :func:`kelly_weights` with limits, on the face active at ``w0``.

    The objective ``q(w) = w'e - w' Sigma w / (2 fraction)`` is quadratic, so the
    conic solver's duality gap of about 1e-10 leaves the weights about its square root
    off (4e-7 to 1.3e-6 on a 5-asset long-only book, a weight that should be 0 at
    1e-6).  As :func:`_polish` does for scenarios, the limits active at ``w0`` (bounds
    at 0 or a cap, the gross cap with the current signs, the budget) become equalities,
    and the KKT system of the face
    ``[Sigma_FF / fraction, A'; A, 0] [w_F; lambda] = [e_F - Sigma_FX w_X / fraction; b]``
    is solved once.  A limit the result breaks joins the face and the solve is repeated
    (at most n + 2 times).  Accepted only if feasible for every limit, with the gross
    and budget rows' multipliers and the fixed weights' reduced gradients of the right
    sign (so the face is optimal, not merely better), and ``q`` at least that of ``w0``;
    else None (``w0`` is kept).
    """
    n = w0.size
    fixed, gross, signs, caps = _active_face(w0, max_leverage, long_only, max_weight)

    def q(v: np.ndarray) -> float:
        return float(excess @ v - v @ cov @ v / (2.0 * fraction))

    q0 = q(w0)
    for _ in range(n + 2):
        X = np.array(sorted(fixed), dtype=np.int64)
        F = np.array([i for i in range(n) if i not in fixed], dtype=np.int64)
        w = np.zeros(n)
        w[X] = [fixed[int(i)] for i in X]
        if F.size == 0:  # every weight at 0 or a cap: the face is a point
            return _vertex_if_optimal(w, excess, cov, fraction, fixed, gross, max_leverage,
                                      long_only, budget, q(w) >= q0 - 1e-15 * max(1.0, abs(q0)))
        rows, rhs = [], []
        if gross:
            rows.append(signs[F])
            rhs.append(max_leverage - np.abs(w[X]).sum())
        if budget is not None:
            rows.append(np.ones(F.size))
            rhs.append(budget - w[X].sum())
        A = np.array(rows).reshape(len(rows), F.size)
        k = A.shape[0]
        K = np.zeros((F.size + k, F.size + k))
        K[:F.size, :F.size] = cov[np.ix_(F, F)] / fraction
        K[:F.size, F.size:] = A.T
        K[F.size:, :F.size] = A
        top = excess[F] - cov[np.ix_(F, X)] @ w[X] / fraction
        try:
            sol = np.linalg.solve(K, np.concatenate([top, np.array(rhs, dtype=float)]))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(sol)):
            return None
        w[F] = sol[:F.size]
        lam = sol[F.size:]
        added, gross = _grow_face(w, fixed, gross, signs, caps, max_leverage, long_only)
        if added:
            continue
        # optimality of the face: the gross row's multiplier >= 0 (the cap binds), and no
        # fixed weight would gain by moving into the feasible set
        if gross and lam[0] < -1e-9:
            return None
        # gradient of q less the budget row's price; the gross row prices |w_i| at lam_g
        grad = excess - cov @ w / fraction - (lam[-1] if budget is not None else 0.0)
        lam_g = lam[0] if gross else 0.0
        for i in X:
            v = fixed[int(i)]
            if v == 0.0:  # held at 0: neither direction may gain (up; down unless long-only)
                if grad[i] - lam_g > 1e-9 or (not long_only and -grad[i] - lam_g > 1e-9):
                    return None
            elif np.sign(v) * grad[i] - lam_g < -1e-9:
                return None  # at its cap: moving inward would gain
        return w if q(w) >= q0 - 1e-15 * max(1.0, abs(q0)) else None
    return None


def scenario_growth(w: np.ndarray, returns: np.ndarray, rf: float = 0.0) -> float:
    """Mean log growth per period ``mean ln(1 + rf + (R - rf) w)``; ``-inf`` if any wealth <= 0."""
    wealth = 1.0 + rf + (np.asarray(returns, float) - rf) @ np.asarray(w, float)
    if np.any(wealth <= 0):
        return -math.inf
    return float(np.mean(np.log(wealth)))


def _check_bounded(excess: np.ndarray, max_leverage: float | None, long_only: bool,
                   max_weight: np.ndarray | None, budget: float | None) -> None:
    """Refuse scenario sets with a free lunch: a direction d that never loses.

    Growth is unbounded when some feasible direction ``d`` (``d >= 0`` if long-only,
    ``sum d = 0`` under a budget) has ``R d >= 0`` in every scenario and ``> 0`` in
    one; the solver would then walk off to huge weights.  A small LP finds it.
    """
    n = excess.shape[1]
    if max_leverage is not None:
        return
    if max_weight is not None and np.all(np.isfinite(np.broadcast_to(max_weight, (n,)))):
        return
    d = cp.Variable(n)
    cons = [excess @ d >= 0, cp.norm1(d) <= 1]
    if long_only:
        cons.append(d >= 0)
    if budget is not None:
        cons.append(cp.sum(d) == 0)
    if max_weight is not None:
        caps = np.broadcast_to(np.asarray(max_weight, float), (n,))
        idx = np.flatnonzero(np.isfinite(caps))
        if idx.size:
            cons.append(d[idx] == 0)
    lp = cp.Problem(cp.Maximize(cp.sum(excess @ d)), cons)
    lp.solve(solver=cp.CLARABEL)
    if lp.status != cp.OPTIMAL or d.value is None:
        return
    # The LP value alone is not a certificate: when only d = 0 is feasible the solver
    # returns a point ~1e-8 away from it whose value is noise.  A free lunch is a
    # direction that, scaled to unit gross size, never loses and gains somewhere.
    size = float(np.abs(d.value).sum())
    if size <= 1e-6:
        return
    gain = excess @ (d.value / size)
    scale = float(np.max(np.abs(excess))) or 1.0
    if gain.min() >= -1e-9 * scale and gain.sum() > 1e-7 * scale:
        raise InputError("returns", "some mix never loses in any scenario (growth unbounded)",
                         "set max_leverage or add scenarios with losses")


def _newton_kelly(x: np.ndarray, p: np.ndarray, tol: float = 1e-15,
                  max_iter: int = 200) -> np.ndarray | None:
    """Maximise ``p' ln(1 + x w)`` without limits by damped Newton; None if it does not converge.

    The objective is self-concordant, so Newton with a backtracking line search
    that stays inside the domain (every ``1 + x w > 0``) converges
    quadratically to the unique optimum when one exists.  With a free lunch
    (growth unbounded) the Newton decrement stays near 1 and the iteration
    cap returns None, so the caller can diagnose it.  Flat directions
    (``x d = 0`` in every scenario) are resolved by the minimum-norm step.
    """
    w = np.zeros(x.shape[1])
    wealth = np.ones(x.shape[0])
    f = 0.0
    for _ in range(max_iter):
        a = x / wealth[:, None]
        g = a.T @ p
        h = (a * p[:, None]).T @ a
        step = np.linalg.lstsq(h, g, rcond=1e-13)[0]
        dec = float(g @ step)
        if dec < 2 * tol:
            return w
        t = 1.0
        while t > 1e-12:
            wn = w + t * step
            xn = 1.0 + x @ wn
            if np.all(xn > 0):
                fn = float(p @ np.log(xn))
                if fn >= f + 0.25 * t * dec:
                    break
            t *= 0.5
        else:
            return None
        w, wealth, f = wn, xn, fn
    return None


def _face_newton(x: np.ndarray, p: np.ndarray, w0: np.ndarray, fixed: dict[int, float],
                 signs: np.ndarray | None, max_leverage: float | None, budget: float | None
                 ) -> np.ndarray | None:
    """Maximise ``p' ln(1 + x w)`` with ``w_i = fixed[i]``, ``signs' w = max_leverage``
    (when ``signs`` is given) and ``sum w = budget``, by equality-constrained Newton from ``w0``."""
    n = w0.size
    free = np.array([i for i in range(n) if i not in fixed], dtype=int)
    base = np.zeros(n)
    for i, v in fixed.items():
        base[i] = v
    rows, rhs = [], []
    if signs is not None:
        rows.append(signs[free])
        rhs.append(max_leverage - np.abs(base).sum())
    if budget is not None:
        rows.append(np.ones(free.size))
        rhs.append(budget - base.sum())
    c = np.array(rows) if rows else np.zeros((0, free.size))
    d = np.array(rhs, dtype=float)
    z = w0[free].copy()
    if c.shape[0] and free.size:
        z += c.T @ np.linalg.lstsq(c @ c.T, d - c @ z, rcond=None)[0]
    w = base.copy()
    w[free] = z
    wealth = 1.0 + x @ w
    if np.any(wealth <= 0):
        return None
    f = float(p @ np.log(wealth))
    xf = x[:, free]
    k = c.shape[0]
    for _ in range(100 if free.size else 0):
        a = xf / wealth[:, None]
        g = a.T @ p
        h = (a * p[:, None]).T @ a
        kkt = np.block([[h, c.T], [c, np.zeros((k, k))]])
        sol = np.linalg.lstsq(kkt, np.concatenate([g, np.zeros(k)]), rcond=1e-14)[0]
        step = sol[:free.size]
        dec = float(g @ step)
        if dec < 2e-15:
            # The decrement is in growth units: on a flat face it is below 2e-15 while the
            # weights are still about sqrt(2e-15 / curvature) off (3.7e-7 on 60 monthly
            # scenarios; the answer then moved with the scenarios' order).  Polishing starts
            # that close, so it stopped before any step.  Near the optimum a full Newton
            # step is exact to second order: take it once when it is a small refinement.
            wn = w.copy()
            wn[free] = w[free] + step
            xn = 1.0 + x @ wn
            small = np.max(np.abs(step), initial=0.0) <= 1e-4 * max(1.0, np.max(np.abs(w)))
            if small and np.all(xn > 0) and float(p @ np.log(xn)) >= f - 1e-15 * max(1.0, abs(f)):
                w = wn
            break
        t = 1.0
        while t > 1e-12:
            wn = w.copy()
            wn[free] = w[free] + t * step
            xn = 1.0 + x @ wn
            if np.all(xn > 0):
                fn = float(p @ np.log(xn))
                if fn >= f + 0.25 * t * dec:
                    break
            t *= 0.5
        else:
            break
        w, wealth, f = wn, xn, fn
    return w


def _polish(x: np.ndarray, p: np.ndarray, w0: np.ndarray, max_leverage: float | None,
            long_only: bool, max_weight: np.ndarray | None, budget: float | None
            ) -> np.ndarray | None:
    """Refine an interior-point solution by Newton on its active face; None if that fails.

    Interior-point methods stop at a small duality gap, which on flat problems
    (many scenarios, extreme returns) leaves weights off in the 4th-7th digit.
    The limits active at ``w0`` (bounds at 0 or at a cap, the gross cap with
    the current signs, the budget) become equalities and the growth is
    maximised on that face by equality-constrained Newton (KKT).  A limit the
    result breaks is added to the face and the step repeated (at most n
    times).  Accepted only if feasible for every limit and growing at least
    as fast as ``w0``.
    """
    n = w0.size
    fixed, gross, signs, caps = _active_face(w0, max_leverage, long_only, max_weight)
    w0_wealth = 1.0 + x @ w0
    f0 = float(p @ np.log(w0_wealth)) if np.all(w0_wealth > 0) else -math.inf
    for _ in range(n + 2):
        w = _face_newton(x, p, w0, fixed, signs if gross else None, max_leverage, budget)
        if w is None:
            return None
        added, gross = _grow_face(w, fixed, gross, signs, caps, max_leverage, long_only)
        if not added:
            feas = 1e-10 * max(1.0, float(np.max(np.abs(w))))
            if budget is not None and abs(w.sum() - budget) > feas:
                return None
            f = float(p @ np.log(1.0 + x @ w))
            return w if f >= f0 - 1e-15 else None
    return None


def _barrier_kelly(x: np.ndarray, p: np.ndarray, max_leverage: float | None, long_only: bool,
                   max_weight: np.ndarray | None, budget: float | None,
                   gap: float = 1e-9, max_newton: int = 300) -> np.ndarray | None:
    """Log-barrier interior-point method for scenario Kelly with linear limits.

    Handles long-only (with or without a gross cap, which is then ``sum w <=
    max_leverage``), per-asset caps and a budget.  Minimises ``-t p' ln(1 + x w)
    - sum ln(h - G w)`` subject to ``sum w = budget`` by equality-constrained
    Newton, raising ``t`` twenty-fold until the duality gap ``m / t`` is below
    ``gap``.  Returns None for a long-short book with a gross cap (the
    non-smooth ``sum |w|``; the conic solver is faster there, see the
    benchmark), when no strictly feasible start is at hand, or when Newton does
    not converge (e.g. unbounded growth); the caller then uses the conic
    solver, which also diagnoses infeasibility and unboundedness.
    """
    t_len, n = x.shape
    if max_leverage is not None and not long_only:
        return None
    caps = None if max_weight is None else np.broadcast_to(np.asarray(max_weight, float), (n,))
    finite = np.zeros(n, bool) if caps is None else np.isfinite(caps)
    eye = np.eye(n)
    g_rows: list[np.ndarray] = []
    h_vals: list[float] = []
    if long_only:
        g_rows += list(-eye)
        h_vals += [0.0] * n
        if max_leverage is not None:
            g_rows.append(np.ones(n))
            h_vals.append(float(max_leverage))
    for i in np.flatnonzero(finite):
        g_rows += [eye[i], -eye[i]]
        h_vals += [float(caps[i]), float(caps[i])]
    g_mat = np.array(g_rows).reshape(-1, n)
    h_vec = np.array(h_vals)
    m = h_vec.size
    a_mat = np.ones((1, n)) if budget is not None else np.zeros((0, n))
    k = a_mat.shape[0]
    # strictly feasible start: equal weights summing to the budget, or small/zero weights
    room = [1.0]
    if max_leverage is not None:
        room.append(float(max_leverage))
    if np.any(finite):
        room.append(float(np.min(caps[finite])))
    if budget is not None:
        w = np.full(n, budget / n)
    else:
        w = np.full(n, 0.25 * min(room) / n) if long_only else np.zeros(n)
    wealth, sl = 1.0 + x @ w, h_vec - g_mat @ w
    if np.any(wealth <= 0) or np.any(sl <= 0):
        return None
    t = 1.0
    newton = 0
    while True:
        def phi(wl: np.ndarray, ss: np.ndarray, t: float = t) -> float:
            return -t * float(p @ np.log(wl)) - float(np.sum(np.log(ss)))

        f = phi(wealth, sl)
        while True:
            newton += 1
            if newton > max_newton:
                return None
            a = x / wealth[:, None]
            grad = -t * (a.T @ p) + g_mat.T @ (1.0 / sl)
            hess = t * (a * p[:, None]).T @ a + (g_mat / (sl * sl)[:, None]).T @ g_mat
            kkt = np.block([[hess, a_mat.T], [a_mat, np.zeros((k, k))]])
            rhs = np.concatenate([-grad, np.zeros(k)])
            try:
                dw = np.linalg.solve(kkt, rhs)[:n]
            except np.linalg.LinAlgError:
                dw = np.linalg.lstsq(kkt, rhs, rcond=1e-14)[0][:n]
            dec = float(-grad @ dw)
            # relative to phi: at large t, phi ~ t and an absolute 1e-12 sits below its
            # rounding, so the decrement is noise (even negative) and Newton never stops
            if dec / 2 <= 1e-12 * max(1.0, abs(f)):
                break
            step = 1.0
            while step > 1e-14:
                wn = w + step * dw
                xn, sn = 1.0 + x @ wn, h_vec - g_mat @ wn
                if np.all(xn > 0) and np.all(sn > 0):
                    fn = phi(xn, sn)
                    # fn < f: at large t the Armijo margin drops below f's resolution
                    # and a null step would pass; stop this centring step instead
                    if fn <= f - 0.25 * step * dec and fn < f:
                        break
                step *= 0.5
            else:
                break
            w, wealth, sl, f = wn, xn, sn, fn
        if m == 0 or m / t < gap:
            return w
        t *= 20.0


def kelly_scenario(
    returns: np.ndarray, rf: float = 0.0, max_leverage: float | None = None,
    long_only: bool = False, max_weight: np.ndarray | None = None, budget: float | None = None,
    probs: np.ndarray | None = None,
) -> np.ndarray:
    """Exact Kelly weights on discrete scenarios.

    Maximises ``sum_t p_t ln(1 + rf + (R_t - rf)' w)`` under the same limits as
    :func:`kelly_weights`: without limits by damped Newton (fast, exact to
    1e-15 in the Newton decrement); with long-only / cap / budget limits by a
    log-barrier interior-point method (duality gap 1e-9); a long-short gross
    cap, or a barrier without a strictly feasible start or without
    convergence, goes to an exponential-cone program (cvxpy/Clarabel).  Either
    answer is then polished by Newton on its active face (:func:`_polish`).  The log's domain
    keeps every scenario's wealth strictly positive, so no weight vector that
    can be wiped out by one of the scenarios is ever returned.

    Parameters
    ----------
    returns : (T, N) array
        Simple returns per period, one row per scenario (history rows or paths), each
        in [-1, :data:`MAX_SCENARIO_RETURN`] (see there why the bound is principled).
    rf : float
        Risk-free rate per period of the scenarios.
    probs : (T,) array, optional
        Scenario probabilities or weights >= 0 (divided by their sum; default equal).
        With a returns DataFrame, a ``probs`` Series meets its rows by label and a
        ``max_weight`` Series its columns.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Weights per unit of equity, one per column of ``returns``: a Series named
        ``weight``, indexed by the columns, when ``returns`` is a DataFrame with
        labelled columns; an array otherwise.
    """
    max_weight, probs = _caps_by_label(returns, max_weight, probs)
    import pandas as pd

    labels = _asset_index(returns) if isinstance(returns, pd.DataFrame) else None
    r = np.asarray(returns, dtype=float)
    if r.ndim == 1:
        r = r[:, None]
    t, n = r.shape
    if t < 2:
        raise InputError("returns", f"has {t} scenario", "give at least 2 rows")
    if not np.all(np.isfinite(r)):
        raise InputError("returns", "contains NaN or infinite values", "clean the data")
    # -100 % (a default) is a valid simple return; only below it is impossible
    if np.any(r < -1):
        raise InputError("returns", "has a return below -100 %",
                         "enter simple returns (0.01 = 1 %)")
    if np.any(r > MAX_SCENARIO_RETURN):
        i, j = (int(k) for k in np.argwhere(r > MAX_SCENARIO_RETURN)[0])
        raise InputError("returns", f"{r[i, j]:g} at row {i + 1}, column {j + 1} is a gain of "
                         f"more than {MAX_SCENARIO_RETURN:g} times the stake in one period",
                         "enter simple returns as decimals (0.01 = 1 %), not prices")
    if not (math.isfinite(rf) and rf > -1):
        raise InputError("rf", f"must be a finite rate > -1 per period, got {rf:g}",
                         "enter the risk-free rate per period (0 for excess returns)")
    _check_finite("e.g. 2, or leave it out for no cap", max_leverage=max_leverage)
    _check_finite("e.g. 1, or leave it out", budget=budget)
    p = scenario_probs(probs, t)
    _check_limits(n, max_leverage, long_only, max_weight, budget)
    try:
        return _labelled(_scenario_optimum(r, rf, p, max_leverage, long_only, max_weight,
                                           budget), labels)
    except InputError:
        raise
    except (np.linalg.LinAlgError, cp.error.SolverError, ValueError, FloatingPointError) as e:
        # a numerical breakdown (not a limit the user set): the scenarios are the cause
        raise InputError("returns", f"the optimiser broke down on these scenarios "
                         f"({type(e).__name__})", "check the returns for typos") from None


def _scenario_optimum(r: np.ndarray, rf: float, p: np.ndarray, max_leverage: float | None,
                      long_only: bool, max_weight: np.ndarray | None, budget: float | None
                      ) -> np.ndarray:
    """The solver part of :func:`kelly_scenario` (inputs already validated)."""
    n = r.shape[1]
    excess = r - rf
    free = (max_leverage is None and not long_only and budget is None
            and (max_weight is None
                 or not np.any(np.isfinite(np.broadcast_to(max_weight, (n,))))))
    if free:
        w_newton = _newton_kelly(excess / (1.0 + rf), p)
        if w_newton is not None:
            return w_newton
    x = excess / (1.0 + rf)
    w_barrier = _barrier_kelly(x, p, max_leverage, long_only, max_weight, budget)
    if w_barrier is not None:
        polished = _polish(x, p, w_barrier, max_leverage, long_only, max_weight, budget)
        return w_barrier if polished is None else polished
    _check_bounded(excess, max_leverage, long_only, max_weight, budget)
    w = cp.Variable(n)
    # divide by (1 + rf) so the log argument is 1 + x'w: well scaled, same argmax
    growth = p @ cp.log(1.0 + excess @ w / (1.0 + rf))
    prob = cp.Problem(cp.Maximize(growth),
                      _constraints(w, n, max_leverage, long_only, max_weight, budget))
    _solve(prob, "weights", polished=True)
    if w.value is None:
        raise InputError("returns", "no solution found", "check the scenarios")
    out = np.asarray(w.value, dtype=float)
    polished = _polish(excess / (1.0 + rf), p, out, max_leverage, long_only, max_weight, budget)
    if polished is not None:
        out = polished
    if np.any(1.0 + rf + excess @ out <= 0):  # numerical safety: never return a ruinous vector
        raise InputError("returns", "optimum sits on the ruin boundary", "set max_leverage")
    return out
