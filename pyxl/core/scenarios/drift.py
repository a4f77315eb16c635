"""Global drift delta (seed 002, step 4).

    delta = (W^T W + rho I)^{-1} W^T (r* - W r_bar)

W (K x N) holds the RT portfolio weights, r* their per-period targets from the
geometric conversion, r_bar the realised per-period mean of every asset over
all paths and periods.  ``delta`` is added to every period of every path.

With ``rho = 0`` the matrix W^T W is singular whenever K < N, so the seed's
formula is read as its limit rho -> 0+: the minimum-norm least-squares
solution ``pinv(W) (r* - W r_bar)``.  When W has full row rank (K <= N) this
solves W delta = r* - W r_bar exactly, so every RT portfolio's realised mean
after the shift equals its target.

With ``rho > 0`` the seed's formula is evaluated through the SVD W = U diag(s) V^T
as ``V diag(s / (s^2 + rho)) U^T (r* - W r_bar)``, the same vector in exact
arithmetic.  Solving the N x N system W^T W + rho I directly is not stable when
K < N and rho is small: its condition number is about max(s)^2 / rho, so a ridge of
1e-14 lost 0.2 % of delta and 1e-20 failed as a singular matrix.
"""

from __future__ import annotations

import numpy as np

__all__ = ["drift_delta"]


def drift_delta(W: np.ndarray, r_star: np.ndarray, r_bar: np.ndarray, ridge: float = 0.0
                ) -> np.ndarray:
    """Per-asset per-period shift delta (N,) for K RT portfolios.

    Parameters
    ----------
    W : (K, N) array
        RT portfolio weights (decimals).
    r_star : (K,) array
        Per-period targets r*_k = (1 + w_k^T mu_ann)^(1/P) - 1 (decimal per period).
    r_bar : (N,) array
        Realised per-period mean of every asset over all paths (decimal per period).
    ridge : float
        rho >= 0 of the seed's delta = (W^T W + rho I)^{-1} W^T (r* - W r_bar); 0 is the
        limit rho -> 0+ (minimum-norm least squares).

    Returns
    -------
    (N,) array
        delta, decimal per period.
    """
    W = np.asarray(W, dtype=float)
    rhs = np.asarray(r_star, dtype=float) - W @ np.asarray(r_bar, dtype=float)
    if ridge > 0.0:
        U, s, Vt = np.linalg.svd(W, full_matrices=False)
        return Vt.T @ ((s / (s * s + ridge)) * (U.T @ rhs))
    return np.linalg.lstsq(W, rhs, rcond=None)[0]
