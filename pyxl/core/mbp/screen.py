"""Working-set re-solve for a frontier: solve only the names that can be held, then prove it.

Along a frontier (or any sequence of re-solves of one compiled problem) the
previous solution says which names are held.  The names at their zero bound
with a large dual are very unlikely to enter at the next point.  This module
solves the compiled conic problem (cvxpy's Clarabel data, ``A x + s = b``,
``s`` in the cone ``K``, minimise ``c' x``) with those names fixed at zero,
then *certifies* the answer for the full problem:

* fixing ``w_i = 0`` deletes column ``i``; rows left without a variable are
  constants that are met exactly (a zero or non-negative row whose ``b`` is 0
  or >= 0 respectively), and the constant entries of a second-order cone are
  merged into one entry with the same Euclidean norm, so the reduced cone is
  met exactly when the full one is;
* the full dual ``z`` copies the reduced one; the merged cone entries get
  ``z_r = z_merged * b_r / ||b_merged||`` (same norm, same ``b' z``); each
  dropped name's bound row ``w_i >= 0`` gets the dual that zeroes its dual
  residual, ``z_i = -(c_i + A_i' z) / a_i``.  That dual must be >= 0.
* If some ``z_i < -tol`` (``tol = tol_feas * max(1, ||c||_inf)`` with the
  reduced solve's ``tol_feas``, 1e-9, ten times tighter than Clarabel's
  default), that name could improve the objective: it
  joins the working set and the reduced problem is solved again.  Otherwise
  ``(x, s, z)`` has the primal residual, cone membership and duality gap of
  the reduced solve, and a dual residual of at most ``tol`` on the dropped
  columns: it is an optimal solution of the full problem to Clarabel's
  tolerances.  (Tiny negative ``z_i`` within ``tol`` are set to 0.)

Anything unexpected (another cone type, a reduced problem that is not solved,
too many rounds) returns None and the caller solves the full problem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

__all__ = ["Structure", "analyse", "residuals", "solve_reduced", "working_set", "MAX_ROUNDS",
           "REDUCED_TOL"]

#: Reduced solves before giving up and solving the full problem.
MAX_ROUNDS = 3
#: Screening is skipped when it would drop fewer than this share of the names.
MIN_DROP_SHARE = 0.15
#: A previous weight above this counts as held when the next working set is chosen.
HELD = 1e-7
#: Clarabel's feasibility and gap tolerances for the reduced problem (defaults 1e-8).
#: The merged constant cone entry is larger than any single entry it replaces and
#: raises Clarabel's normalisation, so at the defaults a reduced solve stops up to
#: 1e-8 less accurately than a full one; at 1e-9 the limits, objective and names held
#: match full solves (Table 1 study: names held within 1, alpha within 7e-9).
REDUCED_TOL = 1e-9


@dataclass(frozen=True)
class Structure:
    """Where the weights and their ``w_i >= 0`` rows sit in the compiled problem."""

    wcols: np.ndarray      # column of w_i in A
    bound_row: np.ndarray  # row of w_i >= 0 in A (single entry, b = 0)
    bound_coef: np.ndarray  # A[bound_row_i, wcols_i]
    forced: np.ndarray     # bool per name: may never be fixed at 0 (a bound needs w_i != 0)


def analyse(A: sp.csc_matrix, b: np.ndarray, zero: int, nonneg: int,
            wcols: np.ndarray) -> Structure | None:
    """Find each weight's bound row; None when some weight has none (not long-only)."""
    Ar = A.tocsr()
    nnz = np.diff(Ar.indptr)
    rows = np.arange(zero, zero + nonneg)
    single = rows[nnz[rows] == 1]
    cols = Ar.indices[Ar.indptr[single]]
    coef = Ar.data[Ar.indptr[single]]
    pos = np.full(A.shape[1], -1)
    pos[wcols] = np.arange(wcols.size)
    asset = pos[cols]
    on_w = asset >= 0
    bound_row = np.full(wcols.size, -1)
    bound_coef = np.zeros(wcols.size)
    sel = on_w & (b[single] == 0) & (coef < 0)  # -w_i + s = 0: s = w_i >= 0
    bound_row[asset[sel]] = single[sel]
    bound_coef[asset[sel]] = coef[sel]
    if np.any(bound_row < 0):
        return None
    forced = np.zeros(wcols.size, bool)
    bad = on_w & (b[single] < 0)  # e.g. w_i >= w^T_i - max_active > 0
    forced[asset[bad]] = True
    zrows = np.arange(zero)
    zs = zrows[nnz[zrows] == 1]
    zc = pos[Ar.indices[Ar.indptr[zs]]]
    forced[zc[(zc >= 0) & (b[zs] != 0)]] = True
    return Structure(wcols, bound_row, bound_coef, forced)


def working_set(w_prev: np.ndarray, dual_prev: np.ndarray | None, forced: np.ndarray,
                margin: float = 0.1, extra: int = 20) -> np.ndarray:
    """Names to keep free: those held before plus the zero names with the smallest duals.

    ``margin * held + extra`` zero-weight names with the smallest bound duals
    (the ones closest to entering) are added; the certificate catches any other.
    "Held" is a weight above ``HELD`` (1e-7, the names-held threshold of the report):
    an interior-point solution leaves names at their zero bound near 1e-10 to 1e-8.
    """
    held = (w_prev > HELD) | forced
    keep = held.copy()
    n_add = int(margin * held.sum()) + extra
    if dual_prev is not None and n_add > 0:
        cand = np.flatnonzero(~held)
        if cand.size:
            order = cand[np.argsort(dual_prev[cand], kind="stable")]
            keep[order[:n_add]] = True
    return keep


def residuals(data: dict, x: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """Optimality residuals of ``(x, z)`` for the full conic problem, unscaled.

    ``primal``: largest cone violation of ``s = b - A x`` (zero rows off zero,
    negative entries, ``||s_1|| - s_0`` of each second-order cone);
    ``dual``: the same for ``z`` in the dual cone together with
    ``||A' z + c||_inf``; ``gap``: ``|c' x + b' z|``.  Used to show that the
    working-set solution is as optimal as a full Clarabel solve.
    """
    dims = data["dims"]
    A = sp.csc_matrix(data["A"])
    b = np.asarray(data["b"], dtype=float)
    c = np.asarray(data["c"], dtype=float)
    s = b - A @ x
    z0, nn = dims.zero, dims.nonneg
    pv = [np.max(np.abs(s[:z0]), initial=0.0), np.max(-s[z0:z0 + nn], initial=0.0)]
    dv = [np.max(np.abs(A.T @ z + c), initial=0.0), np.max(-z[z0:z0 + nn], initial=0.0)]
    off = z0 + nn
    for q in dims.soc:
        pv.append(np.linalg.norm(s[off + 1:off + q]) - s[off])
        dv.append(np.linalg.norm(z[off + 1:off + q]) - z[off])
        off += q
    return {"primal": max(0.0, *pv), "dual": max(0.0, *dv), "gap": abs(float(c @ x + b @ z))}


def _reduce_and_solve(A, b, c, zero, nonneg, soc, keep_cols, settings):
    import clarabel

    n = A.shape[1]
    Ac = A[:, keep_cols]
    nnz = np.diff(Ac.tocsr().indptr)
    empty = nnz == 0
    rows_keep = np.ones(A.shape[0], bool)
    ez = np.flatnonzero(empty[:zero])
    if np.any(b[ez] != 0):
        return None
    rows_keep[ez] = False
    en = zero + np.flatnonzero(empty[zero:zero + nonneg])
    if np.any(b[en] < 0):
        return None
    rows_keep[en] = False
    bb = b.copy()
    merged = []
    sizes = []
    off = zero + nonneg
    for q in soc:
        tail = off + 1 + np.flatnonzero(empty[off + 1:off + q])
        if tail.size > 1:
            rows_keep[tail[1:]] = False
            bb[tail[0]] = np.linalg.norm(b[tail])
            merged.append(tail)
        sizes.append(q - max(tail.size - 1, 0))
        off += q
    if off != A.shape[0]:
        return None
    Ared = Ac[rows_keep, :].tocsc()
    cones = []
    if zero - ez.size:
        cones.append(clarabel.ZeroConeT(int(zero - ez.size)))
    if nonneg - en.size:
        cones.append(clarabel.NonnegativeConeT(int(nonneg - en.size)))
    cones += [clarabel.SecondOrderConeT(int(q)) for q in sizes]
    m = Ared.shape[1]
    sol = clarabel.DefaultSolver(sp.csc_matrix((m, m)), c[keep_cols], Ared, bb[rows_keep],
                                 cones, settings).solve()
    if str(sol.status) != "Solved":
        return None
    x = np.zeros(n)
    x[keep_cols] = sol.x
    z = np.zeros(A.shape[0])
    z[rows_keep] = sol.z
    for tail in merged:
        nb = np.linalg.norm(b[tail])
        z[tail] = z[tail[0]] * b[tail] / nb if nb > 0 else 0.0
    return x, z, sol


def solve_reduced(data: dict, st: Structure, keep: np.ndarray, settings=None):
    """Working-set solve of cvxpy's Clarabel data ``data`` (see the module docstring).

    Returns a solution object that cvxpy's Clarabel ``invert`` accepts (status,
    obj_val, x, s, z, iterations, solve_time) plus the number of rounds, or
    None when the caller should solve the full problem.
    """
    import clarabel

    dims = data["dims"]
    if dims.exp or dims.psd or getattr(dims, "p3d", None):
        return None
    if settings is None:
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_feas = settings.tol_gap_abs = settings.tol_gap_rel = REDUCED_TOL
    A = sp.csc_matrix(data["A"])
    b = np.asarray(data["b"], dtype=float)
    c = np.asarray(data["c"], dtype=float)
    keep = keep | st.forced
    tol = settings.tol_feas * max(1.0, float(np.max(np.abs(c))))
    iters, secs = 0, 0.0
    t0 = time.perf_counter()
    for rounds in range(1, MAX_ROUNDS + 1):
        if (~keep).sum() < MIN_DROP_SHARE * keep.size:
            return None
        keep_cols = np.ones(A.shape[1], bool)
        keep_cols[st.wcols[~keep]] = False
        out = _reduce_and_solve(A, b, c, dims.zero, dims.nonneg, list(dims.soc), keep_cols,
                                settings)
        if out is None:
            return None
        x, z, sol = out
        iters += sol.iterations
        drop = np.flatnonzero(~keep)
        rc = c[st.wcols[drop]] + A[:, st.wcols[drop]].T @ z  # bound rows still have z = 0
        zb = -rc / st.bound_coef[drop]
        viol = zb < -tol
        if not viol.any():
            z[st.bound_row[drop]] = np.maximum(zb, 0.0)
            secs = time.perf_counter() - t0
            s = b - A @ x
            return SimpleNamespace(status="Solved", obj_val=float(c @ x), x=x, z=z, s=s,
                                   iterations=iters, solve_time=secs, rounds=rounds,
                                   kept=int(keep.sum()))
        keep = keep.copy()
        keep[drop[viol]] = True
    return None
