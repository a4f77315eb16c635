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
"""

from __future__ import annotations

import numpy as np

__all__ = ["drift_delta"]


def drift_delta(W: np.ndarray, r_star: np.ndarray, r_bar: np.ndarray, ridge: float = 0.0
                ) -> np.ndarray:
    """Per-asset per-period shift delta (N,) for K RT portfolios (see module doc)."""
    W = np.asarray(W, dtype=float)
    rhs = np.asarray(r_star, dtype=float) - W @ np.asarray(r_bar, dtype=float)
    if ridge > 0.0:
        N = W.shape[1]
        return np.linalg.solve(W.T @ W + ridge * np.eye(N), W.T @ rhs)
    return np.linalg.lstsq(W, rhs, rcond=None)[0]
