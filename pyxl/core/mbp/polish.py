"""Exact MBP weights: Newton on the face the conic solver's answer lies on.

The MBP objective ``alpha' w`` is linear, and the optimum lies on the boundary of the
tracking-error ellipsoids, where the objective is flat to first order.  An
interior-point solver that stops at a duality gap of ~1e-9 therefore leaves the
weights ~1e-6 off (a weight that is 0 at the optimum shows as 1e-7..1e-6).  As
:func:`pyxl.core.kelly.portfolio._polish_quadratic` does for Kelly weights, the
solver's answer ``w0`` names the constraints that are active at the optimum:

* bounds: ``w_i`` at its lower bound ``lo_i`` (0 long-only, ``w^T_i - max_active``)
  or upper bound ``hi_i`` (``max_weight``, ``w^T_i + max_active``), chosen when the
  distance to the bound is below the bound's dual (an interior-point answer has
  ``distance x dual`` equal to its small barrier parameter for every bound);
* tracking-error limits within a relative ``1e-5`` of their value.

On that face every active limit is an equality: the linear ones (budget, segment
neutrality ``W = W^T``, the bounds) as they are, each TE limit squared,

    market       (e' F e + sum_i s_i (w_i - w^T_i)^2) / te^2        = 1,  e = B'(w - w^T)
    within m     (e' F e + sum_{G_m} s_i (w_i - W_m y**_i)^2) / te_m^2 = W_m^2,
                 e = B_m' w_{G_m} - W_m B_m' y**_m                   (seed eq. 5 times W_m)
    segment      (W - W^T)' Y' Sigma Y (W - W^T) / te^2              = 1  (seed eq. 4)

and Newton's method solves the KKT system of ``maximise alpha' w`` on that face
(SQP form, exact Hessian ``sum_j mu_j grad^2 g_j``), starting from ``w0`` and
least-squares multipliers.  The factor exposures ``e`` and the segment weights
``W`` are variables tied to ``w`` by linear rows, so the system stays sparse
(``B`` sparse, ``F`` only K x K) and is solved by a sparse LU.

A bound or limit that the face optimum breaks joins the face and Newton runs again
(at most a few times).  The answer is **accepted only if** Newton converged (KKT
residual below ~1e-13 relative), every constraint holds (inactive bounds strictly,
TE limits to 1e-12 relative), every active TE limit has a multiplier >= 0 and every
active bound a reduced cost of the right sign (to ``1e-9`` of max |alpha|), so the
point is a KKT point of the convex problem and therefore its optimum; and
``alpha' w`` is not below the solver's by more than ``1e-12`` (relative to
max |alpha| x sum |w|).  Otherwise :func:`polish` returns None and the solver's
answer is kept unchanged.  Weights at an active bound are set to the bound
exactly (0.0 for a name not held).

Not polished (the solver's answer is kept): a turnover limit or penalty (``|w - h|``
is not smooth), and a non-neutral within-segment limit on a segment the portfolio
leaves (W_m near 0: the cone's apex).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pyxl.core.mbp.model import MBPData

__all__ = ["Polished", "polish", "bounds", "one_blas_thread", "ACTIVE_RTOL"]

#: A TE limit whose value at ``w0`` is within this relative distance is put on the face.
ACTIVE_RTOL = 1e-5
#: A weight starts on the face of a bound when its distance to the bound is below this
#: times the bound's dual (normalised to max |alpha| = 1).  An interior-point answer has
#: distance x dual ~ its barrier parameter for every bound; on the synthetic universe
#: log10(distance / dual) is below -3.6 for the weights at 0 at the optimum and above
#: -3.1 for the others.  Only a first guess: the face is corrected below.
FACE_RATIO = 10.0 ** -3.5
#: Newton stops when the KKT residual (relative: alpha scaled to max |alpha| = 1,
#: every TE limit to 1) is below this.
KKT_TOL = 1e-13
#: Tolerance on the sign of a multiplier or reduced cost (units of max |alpha|).
SIGN_TOL = 1e-9
#: Largest loss of ``alpha' w`` against the solver's answer (relative, see module doc).
OBJ_RTOL = 1e-12
_MAX_NEWTON = 30
#: Why the last :func:`polish` kept the solver's answer ("" when it polished).
last_refusal = ""


def _refuse(reason: str) -> None:
    global last_refusal
    last_refusal = reason
    return None
_MAX_FACES = 12


@dataclass(frozen=True)
class Polished:
    """A polished optimum: weights and the multipliers of the active limits.

    ``mu`` maps a limit key (``te_total``, ``te_segment``, ``te_within_m``) to the
    multiplier of its squared, normalised form (see the module docstring), in units
    of max |alpha|; ``iterations`` counts Newton steps over all faces; ``residual``
    is the final relative KKT residual.
    """

    weights: np.ndarray
    mu: dict
    iterations: int
    residual: float


def one_blas_thread():
    """A context that runs BLAS on one thread (threadpoolctl, when installed).

    The dense systems here are small (a few hundred unknowns); OpenBLAS's threads then
    cost more than they save, and on a busy machine a 234 x 234 LU took 143 ms on its
    threads against 0.4 ms on one.  Without threadpoolctl this does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def bounds(data: MBPData, long_only: bool, max_weight: float | None,
           max_active: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-asset lower and upper weight bounds implied by the limits (+-inf: none)."""
    n = data.n
    lo = np.zeros(n) if long_only else np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    if max_weight is not None and max_weight < 1:
        hi = np.minimum(hi, max_weight)
    if max_active is not None:
        lo = np.maximum(lo, data.bench_w - max_active)
        hi = np.minimum(hi, data.bench_w + max_active)
    return lo, hi


@dataclass
class _Cone:
    key: str
    kind: str      # "market", "within", "segment"
    m: int         # segment index for "within"
    t: float       # the limit (annual TE)


class _Face:
    """The KKT system of ``max alpha' w`` on one face, in variables (w, W, e_1..e_J)."""

    def __init__(self, data: MBPData, a: np.ndarray, cones: list[_Cone],
                 fixed: dict[int, float], budget: bool, neutral: bool):
        d = self.d = data
        N, M, K = d.n, d.n_segments, d.k
        self.cones, self.fixed = cones, fixed
        econes = [j for j, c in enumerate(cones) if c.kind != "segment"]
        self.eoff = {j: N + M + K * r for r, j in enumerate(econes)}
        self.nv = N + M + K * len(econes)
        self.a = np.zeros(self.nv)
        self.a[:N] = a
        B = sp.csr_matrix(d.exposures)
        Bt = B.T.tocsr()
        rows: list[sp.spmatrix] = []
        rhs: list[np.ndarray] = []
        # segment sums S w - W = 0
        S = sp.csr_matrix((np.ones(N), (d.segment, np.arange(N))), shape=(M, N))
        rows.append(sp.hstack([S, -sp.identity(M), sp.csr_matrix((M, self.nv - N - M))]))
        rhs.append(np.zeros(M))
        if neutral:
            rows.append(sp.hstack([sp.csr_matrix((M, N)), sp.identity(M),
                                   sp.csr_matrix((M, self.nv - N - M))]))
            rhs.append(d.seg_bench.copy())
        elif budget:  # with neutrality the budget is implied (sum W^T = 1)
            rows.append(sp.hstack([sp.csr_matrix(np.ones((1, N))),
                                   sp.csr_matrix((1, self.nv - N))]))
            rhs.append(np.ones(1))
        for j in econes:
            c, off = cones[j], self.eoff[j]
            ecols = sp.csr_matrix((np.ones(K), (np.arange(K), off - N - M + np.arange(K))),
                                  shape=(K, self.nv - N - M))
            Wcols = np.zeros((K, M))
            if c.kind == "market":   # e - B'w = -B'w^T
                Bpart = -Bt
                r = -(Bt @ d.bench_w)
            else:                    # e - B_m'w_m + W_m B_m'y_m = 0
                mask = np.zeros(N)
                mask[d.members[c.m]] = 1.0
                Bpart = -sp.csr_matrix(Bt.multiply(mask[None, :]))
                Wcols[:, c.m] = -(Bpart @ d.y_bench)
                r = np.zeros(K)
            rows.append(sp.hstack([Bpart, sp.csr_matrix(Wcols), ecols]))
            rhs.append(r)
        C = sp.vstack(rows).tocsc()
        dC = np.concatenate(rhs)
        # the weights at a bound leave the system: their columns' terms move to the right
        fx = np.array(sorted(fixed), dtype=np.int64)
        self.fx = fx
        self.fvals = np.array([fixed[int(i)] for i in fx], dtype=float)
        keep = np.ones(self.nv, bool)
        keep[fx] = False
        self.cols = np.flatnonzero(keep)
        self.pos = np.full(self.nv, -1, dtype=np.int64)  # variable -> free numbering
        self.pos[self.cols] = np.arange(self.cols.size)
        self.Cfull = C
        self.C = C[:, self.cols].tocsc()
        self.dC = dC - C[:, fx] @ self.fvals
        # segment-TE matrix Q = Y' Sigma Y (M x M)
        Y = np.zeros((N, M))
        Y[np.arange(N), d.segment] = d.y_bench
        GY = d.G @ Y
        S_spec = np.bincount(d.segment, weights=d.y_bench**2 * d.spec_var, minlength=M)
        self.Q = GY.T @ GY + np.diag(S_spec)
        self.sy = d.spec_var * d.y_bench

    # -- each cone's g, gradient and Hessian (normalised so that g = 0 on the limit) --
    def _parts(self, j: int, x: np.ndarray):
        d, c = self.d, self.cones[j]
        N, M, K = d.n, d.n_segments, d.k
        if c.kind == "segment":
            dv = x[N:N + M] - d.seg_bench
            sc = 1.0 / c.t**2
            g = 0.5 * sc * dv @ self.Q @ dv - 0.5
            grad = np.zeros(self.nv)
            grad[N:N + M] = sc * (self.Q @ dv)
            ii, jj = np.meshgrid(N + np.arange(M), N + np.arange(M), indexing="ij")
            hess = (sc * self.Q.ravel(), ii.ravel(), jj.ravel())
            return g, grad, hess
        off = self.eoff[j]
        e = x[off:off + K]
        Fe = d.factor_cov @ e
        kk, ll = np.meshgrid(off + np.arange(K), off + np.arange(K), indexing="ij")
        if c.kind == "market":
            idx = np.arange(N)
            r = x[:N] - d.bench_w
            sc = 1.0 / c.t**2
            s = d.spec_var
            g = sc * 0.5 * (e @ Fe + np.sum(s * r * r)) - 0.5
            gi = np.concatenate([idx, off + np.arange(K)])
            gv = sc * np.concatenate([s * r, Fe])
            hi = np.concatenate([idx, kk.ravel()])
            hj = np.concatenate([idx, ll.ravel()])
            hv = sc * np.concatenate([s, d.factor_cov.ravel()])
        else:
            m = c.m
            idx = d.members[m]
            Wm = x[N + m]
            y = d.y_bench[idx]
            s = d.spec_var[idx]
            r = x[idx] - Wm * y
            Wb = d.seg_bench[m]
            sc = 1.0 / (c.t * Wb) ** 2
            g = sc * 0.5 * (e @ Fe + np.sum(s * r * r)) - 0.5 * (Wm / Wb) ** 2
            gW = -sc * np.sum(s * y * r) - Wm / Wb**2
            gi = np.concatenate([idx, [N + m], off + np.arange(K)])
            gv = np.concatenate([sc * s * r, [gW], sc * Fe])
            sy = sc * self.sy[idx]
            hi = np.concatenate([idx, idx, np.full(idx.size, N + m), [N + m], kk.ravel()])
            hj = np.concatenate([idx, np.full(idx.size, N + m), idx, [N + m], ll.ravel()])
            hv = np.concatenate([sc * s, -sy, -sy, [sc * np.sum(s * y * y) - 1.0 / Wb**2],
                                 sc * d.factor_cov.ravel()])
        grad = np.zeros(self.nv)
        np.add.at(grad, gi, gv)
        return g, grad, (hv, hi, hj)

    def full(self, xk: np.ndarray) -> np.ndarray:
        """All variables from the free ones (the fixed weights at their bounds)."""
        x = np.zeros(self.nv)
        x[self.cols] = xk
        x[self.fx] = self.fvals
        return x

    def evaluate(self, x: np.ndarray, mu: np.ndarray | None):
        """``g`` (J,), Jacobian (J x nv, all variables) and, with ``mu``, the Hessian of
        ``mu' g`` on the free variables."""
        gs, grads, hv, hi, hj = [], [], [], [], []
        for j in range(len(self.cones)):
            g, grad, (v, i, k) = self._parts(j, x)
            gs.append(g)
            grads.append(grad)
            if mu is not None:
                hv.append(mu[j] * v)
                hi.append(i)
                hj.append(k)
        J = sp.csr_matrix(np.array(grads)) if grads else sp.csr_matrix((0, self.nv))
        H = None
        if mu is not None:
            nk = self.cols.size
            if hv:  # entries between free variables only, in their numbering
                v, i, k = np.concatenate(hv), self.pos[np.concatenate(hi)], \
                    self.pos[np.concatenate(hj)]
                on = (i >= 0) & (k >= 0)
                H = sp.csc_matrix((v[on], (i[on], k[on])), shape=(nk, nk))
            else:
                H = sp.csc_matrix((nk, nk))
        return np.array(gs), J, H

    def solve_kkt(self, H, Jk, rhs: np.ndarray) -> np.ndarray | None:
        """Solve ``[H C' J'; C 0 0; J 0 0] sol = rhs`` (free variables); None if singular.

        The free weights come first and their Hessian block is diagonal (each TE
        limit's specific part), so they are eliminated and the dense Schur complement
        of size (segments + factor blocks + rows) is solved; a free weight without
        curvature (on no active limit) falls back to a sparse LU of the whole system.
        """
        A = sp.vstack([self.C, Jk]).tocsr()
        At = A.T.tocsr()
        nk = H.shape[0]

        def kmul(v: np.ndarray) -> np.ndarray:
            return np.concatenate([H @ v[:nk] + At @ v[nk:], A @ v[:nk]])

        p = int(np.searchsorted(self.cols, self.d.n))  # free weights: cols[:p]
        D = H.diagonal()[:p]
        solve = None
        if p and np.all(D > 1e-12 * max(float(np.max(np.abs(D))), 1e-300)):
            Hs = H.tocsr()
            Ac = A.tocsc()
            P = sp.hstack([Hs[:p, p:], At[:p]]).tocsr()   # p x (nz + rows)
            S = np.zeros((P.shape[1], P.shape[1]))
            nz = nk - p
            S[:nz, :nz] = Hs[p:, p:].toarray()
            Az = Ac[:, p:].toarray()
            S[:nz, nz:] = Az.T
            S[nz:, :nz] = Az
            S -= (P.T @ sp.diags(1.0 / D) @ P).toarray()
            try:
                with warnings.catch_warnings():  # singular: the sparse LU below decides
                    warnings.simplefilter("ignore", sla.LinAlgWarning)
                    lu = sla.lu_factor(S, check_finite=True)
            except (ValueError, np.linalg.LinAlgError):
                lu = None
            if lu is not None and np.all(np.abs(np.diag(lu[0])) > 0):
                Pt = P.T.tocsr()

                def solve(r: np.ndarray) -> np.ndarray:
                    t = r[:p] / D
                    vl = sla.lu_solve(lu, r[p:] - Pt @ t)
                    return np.concatenate([t - (P @ vl) / D, vl])
        if solve is None:
            Kmat = sp.bmat([[H, A.T], [A, None]], format="csc")
            try:
                solve = spla.splu(Kmat).solve
            except RuntimeError:  # exactly singular: the face does not fix the point
                return None
        sol = solve(rhs)
        if not np.all(np.isfinite(sol)):
            return None
        # iterative refinement: the saddle-point system is badly scaled
        for _ in range(2):
            sol = sol + solve(rhs - kmul(sol))
        return sol if np.all(np.isfinite(sol)) else None

    def reduced_cost(self, x, lam, mu, J) -> np.ndarray:
        """``-a + C'lam + J'mu`` on every variable: 0 on the free ones at a KKT point;
        on a weight at its lower bound >= 0 (raising it cannot gain), at its upper <= 0."""
        return -self.a + self.Cfull.T @ lam + J.T @ mu

    def residual(self, x, lam, mu, g, J) -> float:
        """Largest KKT residual (stationarity on the free variables, rows, limits)."""
        dual = self.reduced_cost(x, lam, mu, J)[self.cols]
        prim = self.C @ x[self.cols] - self.dC
        return float(max(np.max(np.abs(dual), initial=0.0), np.max(np.abs(prim), initial=0.0),
                         np.max(np.abs(g), initial=0.0)))


def _newton(face: _Face, x0: np.ndarray):
    """Newton (SQP) on ``face`` from ``x0``; returns (x, lam, mu, iterations, residual)."""
    nk, nc = face.cols.size, face.C.shape[0]
    ak = face.a[face.cols]
    x = face.full(x0[face.cols])
    g, J, _ = face.evaluate(x, None)
    nj = J.shape[0]
    # least-squares multipliers at x0: [I C' J'; C 0 0; J 0 0] [r; lam; mu] = [a; 0; 0]
    sol = face.solve_kkt(sp.identity(nk, format="csc"), J[:, face.cols],
                         np.concatenate([ak, np.zeros(nc + nj)]))
    if sol is None:
        return None
    mu = sol[nk + nc:]
    g, J, H = face.evaluate(x, mu)
    best = np.inf
    for it in range(1, _MAX_NEWTON + 1):
        rhs = np.concatenate([ak, face.dC - face.C @ x[face.cols], -g])
        sol = face.solve_kkt(H, J[:, face.cols], rhs)
        if sol is None:
            return None
        x = face.full(x[face.cols] + sol[:nk])
        lam, mu = sol[nk:nk + nc], sol[nk + nc:]
        g, J, H = face.evaluate(x, mu)
        res = face.residual(x, lam, mu, g, J)
        step = float(np.max(np.abs(sol[:nk]), initial=0.0))
        if res <= KKT_TOL and step <= 1e-12:
            return x, lam, mu, it, res
        if it > 8 and res >= best:  # no further progress
            return (x, lam, mu, it, res) if res <= KKT_TOL else None
        best = min(best, res)
    return None


def _flat_free(d: MBPData, active: list[_Cone], fixed: dict[int, float]) -> np.ndarray:
    """Free weights that no active TE limit covers (no curvature on the face)."""
    covered = np.zeros(d.n, bool)
    for c in active:
        if c.kind == "market":
            covered[:] = True
        elif c.kind == "within":
            covered[d.members[c.m]] = True
    covered[np.array(sorted(fixed), dtype=np.int64)] = True
    return np.flatnonzero(~covered)


def _te_values(data: MBPData, cones: list[_Cone], w: np.ndarray) -> np.ndarray:
    """Each limit's value at ``w`` divided by the limit (numpy, from the weights)."""
    out = []
    for c in cones:
        if c.kind == "market":
            v = data.te(w - data.bench_w)
        elif c.kind == "segment":
            v = data.segment_te(w)
        else:
            Wm = float(w[data.members[c.m]].sum())
            tv = data.te(data.within_active(w, c.m))
            # a segment left empty meets its limit (the cone's apex, 0 <= 0)
            v = tv / Wm if Wm > 0 else (0.0 if tv == 0.0 else np.inf)
        out.append(v / c.t)
    return np.array(out)


def polish(data: MBPData, alpha: np.ndarray, w0: np.ndarray, *, te_total: float | None,
           te_segment: float | None, te_within: list[float | None], neutral: bool,
           budget: bool, lo: np.ndarray, hi: np.ndarray,
           dual_lo: np.ndarray | None = None, dual_hi: np.ndarray | None = None
           ) -> Polished | None:
    """The exact optimum on the face active at the solver's answer ``w0``, or None.

    Parameters
    ----------
    data : MBPData
        Benchmark, segments and risk model.
    alpha : (N,) array
        Expected annual active returns (only the direction matters).
    w0 : (N,) array
        The conic solver's weights.
    te_total, te_segment : float or None
        Market TE and (non-neutral) segment TE limits, annual decimals.
    te_within : list of float or None
        Within-segment limit per segment (None: no limit).
    neutral, budget : bool
        Segment neutrality ``W = W^T``; fully invested ``sum w = 1``.
    lo, hi : (N,) arrays
        Weight bounds (:func:`bounds`).
    dual_lo, dual_hi : (N,) arrays, optional
        The solver's duals of the bounds, in units of max |alpha| (>= 0).  A bound is
        put on the face when ``w0`` is closer to it than its dual; without duals,
        when closer than ``1e-7``.

    Returns
    -------
    Polished or None
        None when any acceptance condition fails (module docstring): keep ``w0``.
    """
    d = data
    N = d.n
    scale = float(np.max(np.abs(alpha)))
    if not np.isfinite(scale) or scale <= 0.0:
        return _refuse("alpha zero")
    a = np.asarray(alpha, float) / scale
    w0 = np.asarray(w0, float)
    cones: list[_Cone] = []
    if te_total is not None:
        cones.append(_Cone("te_total", "market", -1, float(te_total)))
    if te_segment is not None and not neutral:
        cones.append(_Cone("te_segment", "segment", -1, float(te_segment)))
    for m, t in enumerate(te_within):
        if t is not None:
            cones.append(_Cone(f"te_within_{m}", "within", m, float(t)))
    ratio0 = _te_values(d, cones, w0)
    active = [c for c, r in zip(cones, ratio0, strict=True) if r >= 1.0 - ACTIVE_RTOL]
    for c in cones:  # a within limit at the cone's apex (segment left) is not smooth
        if c.kind == "within" and (w0[d.members[c.m]].sum() <= 1e-4 * d.seg_bench[c.m]):
            return _refuse("apex")
    dl = np.full(N, 1e-7 / FACE_RATIO) if dual_lo is None else np.maximum(dual_lo, 0.0)
    dh = np.full(N, 1e-7 / FACE_RATIO) if dual_hi is None else np.maximum(dual_hi, 0.0)
    fixed: dict[int, float] = {}
    at_lo = np.isfinite(lo) & (w0 - lo < FACE_RATIO * dl)
    at_hi = np.isfinite(hi) & (hi - w0 < FACE_RATIO * dh) & ~at_lo
    fixed.update({int(i): float(lo[i]) for i in np.flatnonzero(at_lo)})
    fixed.update({int(i): float(hi[i]) for i in np.flatnonzero(at_hi)})
    M, K = d.n_segments, d.k
    obj0 = float(a @ w0)
    iters = 0
    for _ in range(_MAX_FACES):
        face = _Face(d, a, active, fixed, budget, neutral)
        x0 = np.zeros(face.nv)
        x0[:N] = w0
        x0[N:N + M] = d.seg_sums(w0)
        for j, c in enumerate(active):  # e from its definition row at w0
            if c.kind == "market":
                x0[face.eoff[j]:face.eoff[j] + K] = d.exposures.T @ (w0 - d.bench_w)
            elif c.kind == "within":
                idx = d.members[c.m]
                x0[face.eoff[j]:face.eoff[j] + K] = (
                    d.exposures[idx].T @ (w0[idx] - x0[N + c.m] * d.y_bench[idx]))
        out = _newton(face, x0)
        if out is None:
            # a singular face: free weights on no active limit (a linear programme there,
            # e.g. two names with near-equal alpha) leave a direction without curvature.
            # The one nearest its bound, relative to that bound's dual, goes to the bound.
            flat = _flat_free(d, active, fixed)
            if flat.size == 0:
                return _refuse("newton failed")
            with np.errstate(invalid="ignore", divide="ignore"):
                rl = np.where(np.isfinite(lo[flat]), (w0[flat] - lo[flat]) / dl[flat], np.inf)
                rh = np.where(np.isfinite(hi[flat]), (hi[flat] - w0[flat]) / dh[flat], np.inf)
            rl, rh = np.nan_to_num(rl, nan=np.inf), np.nan_to_num(rh, nan=np.inf)
            k = int(np.argmin(np.minimum(rl, rh)))
            if not np.isfinite(min(rl[k], rh[k])):
                return _refuse("newton failed")
            i = int(flat[k])
            fixed[i] = float(lo[i] if rl[k] <= rh[k] else hi[i])
            continue
        x, lam, mu, it, res = out
        iters += it
        w = x[:N].copy()
        for i, v in fixed.items():
            w[i] = v
        free = np.ones(N, bool)
        free[face.fx] = False
        # a bound or limit off the face that the face optimum breaks joins the face
        grow = False
        below = free & (w < lo)
        above = free & (w > hi)
        if below.any() or above.any():
            fixed.update({int(i): float(lo[i]) for i in np.flatnonzero(below)})
            fixed.update({int(i): float(hi[i]) for i in np.flatnonzero(above)})
            grow = True
        off = [c for c in cones if c not in active]
        broke = [c for c, r in zip(off, _te_values(d, off, w), strict=True) if r > 1.0 + 1e-12]
        if broke:
            active = active + broke
            grow = True
        if grow:
            continue
        # optimality of the face: limits' multipliers >= 0, bounds' reduced costs signed;
        # a constraint with the wrong sign leaves the face (the solver's answer named it
        # active, but the face optimum says it is not) and Newton runs again
        rc = face.reduced_cost(x, lam, mu, face.evaluate(x, None)[1])[face.fx]
        on_lo = np.isfinite(lo[face.fx]) & (face.fvals == lo[face.fx])
        wrong = (on_lo & (rc < -SIGN_TOL)) | (~on_lo & (rc > SIGN_TOL))
        drop = [c for c, v in zip(active, mu, strict=True) if v < -SIGN_TOL]
        if wrong.any() or drop:
            for i in face.fx[wrong]:
                del fixed[int(i)]
            active = [c for c in active if c not in drop]
            continue
        # every constraint, recomputed from the weights
        if np.any(w < lo) or np.any(w > hi):
            return _refuse("bound broken")
        if np.any(_te_values(d, cones, w) > 1.0 + 1e-12):
            return _refuse("te broken")
        if budget and abs(w.sum() - 1.0) > 1e-13:
            return _refuse("budget")
        if neutral and np.max(np.abs(d.seg_sums(w) - d.seg_bench)) > 1e-13:
            return _refuse("neutral")
        if float(a @ w) < obj0 - OBJ_RTOL * max(1.0, float(np.abs(w0).sum())):
            return _refuse("objective")
        mus = {c.key: float(v) * scale for c, v in zip(active, mu, strict=True)}
        global last_refusal
        last_refusal = ""
        return Polished(weights=w, mu=mus, iterations=iters, residual=res)
    return _refuse("too many faces")
