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
``W`` are variables tied to ``w`` by linear rows, and the free weights, whose
Hessian block is diagonal, are eliminated segment by segment: each Newton step solves a
dense Schur complement on (W, e, multipliers), a few hundred unknowns, assembled with
numpy (:class:`_System`; no sparse matrix is built unless a free weight has no
curvature).  The later steps of a face refine against the current matrix with the
first step's LU factorisation (:data:`REUSE_TOL`).

A bound or limit that the face optimum breaks joins the face and Newton runs again
(at most a few times).  A budget or neutrality row whose weights are all at a bound (a
degenerate vertex of the linear programme that a non-binding TE limit leaves, e.g.
``max_active`` names half up and half down, or a one-name segment whose benchmark
weight is ``max_weight``) keeps one weight free, its basic variable
(:func:`_basic_per_row`); a weight freed for the sign of its reduced cost stays free and
another flat weight goes to its bound instead (a simplex pivot).  The answer is
**accepted only if** Newton converged (KKT
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
import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pyxl.core.mbp.model import MBPData

__all__ = ["Polished", "polish", "bounds", "one_blas_thread", "ACTIVE_RTOL",
           "ACTIVE_RTOL_RETRY"]

#: A TE limit whose value at ``w0`` is within this relative distance is put on the face.
ACTIVE_RTOL = 1e-5
#: When Newton fails on that face, it is tried once more with the limits within this
#: distance on it: a long-short answer left a binding within-segment limit 1.4e-5
#: below its value, and without it the face has no curvature in that segment.  A
#: limit put on the face wrongly gets a negative multiplier and leaves it again.
ACTIVE_RTOL_RETRY = 1e-3
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


_blas_controller = None


def one_blas_thread():
    """A context that runs BLAS on one thread (threadpoolctl, a runtime dependency).

    The dense systems here are small (a few hundred unknowns); OpenBLAS's threads then
    cost more than they save, and on a busy machine a 234 x 234 LU took 143 ms on its
    threads against 0.4 ms on one.  Without threadpoolctl (an install that lacks it)
    this does nothing.  The ``ThreadpoolController`` that finds the BLAS libraries is
    made once: making it (``threadpool_limits`` does, each call) scans the loaded
    libraries, about 1 ms, every solve.
    """
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - optional
            return contextlib.nullcontext()
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


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


class _Model:
    """What every face of one problem shares: per-segment exposures and constants."""

    def __init__(self, d: MBPData):
        self.d = d
        self.Bseg = [np.ascontiguousarray(d.exposures[idx]) for idx in d.members]
        #: B_m' y**_m (the within-segment e rows' W_m column) and B' w^T
        self.By = [B.T @ d.y_bench[idx] for B, idx in zip(self.Bseg, d.members, strict=True)]
        self.Bw = d.exposures.T @ d.bench_w
        # segment-TE matrix Q = Y' Sigma Y (M x M), Y the N x M matrix of y**_m columns
        GY = np.stack([d.G[:, idx] @ d.y_bench[idx] for idx in d.members], axis=1)
        S_spec = np.bincount(d.segment, weights=d.y_bench**2 * d.spec_var,
                             minlength=d.n_segments)
        self.Q = GY.T @ GY + np.diag(S_spec)
        self.sy = d.spec_var * d.y_bench
        #: sum_{G_m} s_i y_i^2: the W_m W_m entry of a within limit's Hessian
        self.syy = np.bincount(d.segment, weights=self.sy * d.y_bench, minlength=d.n_segments)
        self._rows: dict = {}

    def rows(self, cones: list[_Cone], budget: bool, neutral: bool) -> _Rows:
        """The :class:`_Rows` of a face with these limits (kept: a frontier meets the
        same few faces' rows again and again)."""
        key = (tuple((c.kind, c.m) for c in cones), budget, neutral)
        got = self._rows.get(key)
        if got is None:
            if len(self._rows) >= 16:
                self._rows.clear()
            got = self._rows[key] = _Rows(self, cones, budget, neutral)
        return got


_model_cache: tuple | None = None


def _model(d: MBPData) -> _Model:
    """The :class:`_Model` of ``d``, kept for the last ``d`` polished (a frontier or a
    Table 1 study polishes one problem many times).  Keyed on the object through a weak
    reference; valid because :class:`MBPData`'s arrays are read-only."""
    global _model_cache
    hit = _model_cache
    if hit is not None and hit[0]() is d:
        return hit[1]
    mdl = _Model(d)
    _model_cache = (weakref.ref(d), mdl)
    return mdl


@dataclass
class _Eval:
    """The limits on the face at one point: values ``g`` (J,), gradients and, with
    multipliers, the Hessian of ``mu' g``.

    A gradient's weight part is ``gm`` (the market limit's, (N,)) or ``gs`` (each
    within limit's on its own segment, (N,)); its part on (W, e) is the row of ``Jz``.
    The Hessian is ``diag(D)`` on the weights, ``hW`` (N,) between ``w_i`` and the
    ``W_m`` of its segment, and ``Hzz`` on (W, e).
    """

    g: np.ndarray
    Jz: np.ndarray
    gm: np.ndarray
    gs: np.ndarray
    D: np.ndarray | None = None
    hW: np.ndarray | None = None
    Hzz: np.ndarray | None = None


class _Rows:
    """The linear rows of a face and where each row meets the weights.

    The rows are the segment sums ``S w - W = 0``, neutrality ``W = W^T`` (or the budget
    ``1'w = 1``) and, per market or within limit, the exposure rows
    ``e - B_j' w (+ W_m B_m' y**_m) = r``, in variables (w, W, e_1..e_J).  They are
    stored as their small dense part on (W, e) (``Cz``) and, for the weights, per
    segment as columns of the segment's matrix ``X_m = [B_m, 1, gm, gs, hW]`` (``gm``,
    ``gs``: the market and within limits' gradients, ``hW`` the Hessian's ``w_i W_m``
    entries), so that no sparse matrix is built: a weight's entry in a row is
    ``+-X_m[i, c]``.  They depend only on which limits are on the face (and on
    neutrality and the budget), not on which weights are at a bound, so one problem
    keeps them (:meth:`_Model.rows`).
    """

    def __init__(self, mdl: _Model, cones: list[_Cone], budget: bool, neutral: bool):
        d = mdl.d
        N, M, K = d.n, d.n_segments, d.k
        econes = [j for j, c in enumerate(cones) if c.kind != "segment"]
        self.eoff = {j: N + M + K * r for r, j in enumerate(econes)}
        self.nv = N + M + K * len(econes)
        nz = self.nz = M + K * len(econes)
        nc = self.nc = M + (M if neutral else 1 if budget else 0) + K * len(econes)
        J = len(cones)
        self.ns = nz + nc + J       # unknowns besides the free weights: W, e, multipliers
        Cz = np.zeros((nc, nz))
        rc = np.zeros(nc)
        Cz[np.arange(M), np.arange(M)] = -1.0          # S w - W = 0
        r = M
        budget_row = -1
        if neutral:                                     # W = W^T (implies the budget)
            Cz[r + np.arange(M), np.arange(M)] = 1.0
            rc[r:r + M] = d.seg_bench
            r += M
        elif budget:
            budget_row = r
            rc[r] = 1.0
            r += 1
        erow = {}
        for j in econes:
            c, zo = cones[j], self.eoff[j] - N
            erow[j] = r
            Cz[r + np.arange(K), zo + np.arange(K)] = 1.0
            if c.kind == "market":                      # e - B'w = -B'w^T
                rc[r:r + K] = -mdl.Bw
            else:                                       # e - B_m'w_m + W_m B_m'y_m = 0
                Cz[r:r + K, c.m] = mdl.By[c.m]
            r += K
        self.Cz, self.rc = Cz, rc
        self.CC = Cz @ Cz.T
        # per segment: the rows (positions in [W, e, rows]) with a weight part, which
        # column of X_m it is and its sign; the first na of them are rows of A = [C; J],
        # the last (when a within limit is active) the Hessian's w_i-W_m column
        self.seg = []
        xc_of = {"market": K + 1, "within": K + 2}
        for m in range(M):
            pos, xc, cf = [nz + m], [K], [1.0]
            if budget_row >= 0:
                pos.append(nz + budget_row)
                xc.append(K)
                cf.append(1.0)
            for j in econes:
                if cones[j].kind == "market" or cones[j].m == m:
                    pos += list(nz + erow[j] + np.arange(K))
                    xc += list(range(K))
                    cf += [-1.0] * K
            hcol = False
            for j, c in enumerate(cones):
                if c.kind == "market" or (c.kind == "within" and c.m == m):
                    pos.append(nz + nc + j)
                    xc.append(xc_of[c.kind])
                    cf.append(1.0)
                    hcol |= c.kind == "within"
            na = len(pos)
            if hcol:
                pos.append(m)
                xc.append(K + 3)
                cf.append(1.0)
            pos_a, xc_a, cf_a = (np.array(pos), np.array(xc), np.array(cf))
            ra = pos_a[:na] - nz
            self.seg.append({
                "pos": pos_a, "xc": xc_a, "cf": cf_a, "na": na,
                "ix": np.ix_(xc_a, xc_a), "ipos": np.ix_(pos_a, pos_a),
                "sign": np.outer(cf_a, cf_a), "ra": ra,
                "ix_a": np.ix_(xc_a[:na], xc_a[:na]), "ipos_a": np.ix_(ra, ra)})


class _Face:
    """The KKT system of ``max alpha' w`` on one face: its rows (:class:`_Rows`) and the
    weights at a bound (``fixed``, NaN for a free weight)."""

    def __init__(self, mdl: _Model, a: np.ndarray, cones: list[_Cone],
                 fixed: np.ndarray, budget: bool, neutral: bool):
        d = self.d = mdl.d
        self.mdl = mdl
        K = d.k
        self.cones = cones
        rows = mdl.rows(cones, budget, neutral)
        self.eoff, self.nv, self.nz, self.nc, self.ns = (
            rows.eoff, rows.nv, rows.nz, rows.nc, rows.ns)
        self.Cz, self.rc, self.CC = rows.Cz, rows.rc, rows.CC
        self.a = a
        # the weights at a bound are fixed; the others are free, grouped by segment
        isfree = np.isnan(fixed)
        self.fx = fx = np.flatnonzero(~isfree)
        self.fvals = fixed[fx]
        self.seg = []
        self.free_sl = []
        start = 0
        for m, idx in enumerate(d.members):
            fm = isfree[idx]
            nf = int(fm.sum())
            self.free_sl.append(slice(start, start + nf))
            start += nf
            # X_m on the free weights: [B_m, 1] here, the last three columns per solve
            X = np.empty((nf, K + 4))
            X[:, :K] = mdl.Bseg[m][fm]
            X[:, K] = 1.0
            self.seg.append({**rows.seg[m], "idx": idx, "free": idx[fm], "X": X,
                             "B": mdl.Bseg[m]})
        self.free = np.concatenate([s["free"] for s in self.seg])   # free weights
        self.p = self.free.size
        self.nx = K + 4

    def x0(self, w0: np.ndarray) -> np.ndarray:
        """All variables at the solver's weights: W and each e from their rows."""
        d, mdl = self.d, self.mdl
        N, M, K = d.n, d.n_segments, d.k
        x = np.zeros(self.nv)
        x[:N] = w0
        x[self.fx] = self.fvals
        x[N:N + M] = d.seg_sums(w0)
        for j, c in enumerate(self.cones):
            off = self.eoff.get(j)
            if c.kind == "market":
                x[off:off + K] = d.exposures.T @ (w0 - d.bench_w)
            elif c.kind == "within":
                idx = d.members[c.m]
                x[off:off + K] = mdl.Bseg[c.m].T @ (w0[idx] - x[N + c.m] * d.y_bench[idx])
        return x

    # -- the limits' values, gradients and Hessian (normalised: g = 0 on the limit) ----
    def evaluate(self, x: np.ndarray, mu: np.ndarray | None) -> _Eval:
        d, mdl = self.d, self.mdl
        N, M, K = d.n, d.n_segments, d.k
        J = len(self.cones)
        ev = _Eval(g=np.empty(J), Jz=np.zeros((J, self.nz)), gm=np.zeros(N), gs=np.zeros(N))
        if mu is not None:
            cs = np.zeros(M)            # D_i = s_i * cs[segment of i]
            ev.hW = np.zeros(N)
            ev.Hzz = np.zeros((self.nz, self.nz))
        F = d.factor_cov
        for j, c in enumerate(self.cones):
            if c.kind == "segment":
                dv = x[N:N + M] - d.seg_bench
                sc = 1.0 / c.t**2
                Qdv = mdl.Q @ dv
                ev.g[j] = 0.5 * sc * dv @ Qdv - 0.5
                ev.Jz[j, :M] = sc * Qdv
                if mu is not None:
                    ev.Hzz[:M, :M] += (mu[j] * sc) * mdl.Q
                continue
            off = self.eoff[j]
            zo = off - N
            e = x[off:off + K]
            Fe = F @ e
            if c.kind == "market":
                r = x[:N] - d.bench_w
                sc = 1.0 / c.t**2
                sr = d.spec_var * r
                ev.g[j] = sc * 0.5 * (e @ Fe + sr @ r) - 0.5
                ev.gm = sc * sr
                if mu is not None:
                    cs += mu[j] * sc
            else:
                m = c.m
                idx = d.members[m]
                Wm = x[N + m]
                y = d.y_bench[idx]
                r = x[idx] - Wm * y
                sr = d.spec_var[idx] * r
                Wb = d.seg_bench[m]
                sc = 1.0 / (c.t * Wb) ** 2
                ev.g[j] = sc * 0.5 * (e @ Fe + sr @ r) - 0.5 * (Wm / Wb) ** 2
                ev.gs[idx] = sc * sr
                ev.Jz[j, m] = -sc * (sr @ y) - Wm / Wb**2
                if mu is not None:
                    cs[m] += mu[j] * sc
                    ev.hW[idx] = -(mu[j] * sc) * mdl.sy[idx]
                    ev.Hzz[m, m] += mu[j] * (sc * mdl.syy[m] - 1.0 / Wb**2)
            ev.Jz[j, zo:zo + K] = sc * Fe
            if mu is not None:
                ev.Hzz[zo:zo + K, zo:zo + K] += (mu[j] * sc) * F
        if mu is not None:
            ev.D = d.spec_var * cs[d.segment]
        return ev

    # -- products with the weight part, segment by segment --------------------------------
    def weight_rows_times(self, v: np.ndarray, ev: _Eval) -> np.ndarray:
        """``A_w v`` for all weights ``v`` (N,): each row of A = [C; J] on the weights."""
        out = np.zeros(self.nc + len(self.cones))
        off = self.nz
        for s in self.seg:
            na, idx = s["na"], s["idx"]
            vm = v[idx]
            y = np.concatenate([s["B"].T @ vm, [vm.sum(), ev.gm[idx] @ vm, ev.gs[idx] @ vm]])
            out[s["pos"][:na] - off] += s["cf"][:na] * y[s["xc"][:na]]
        return out

    def reduced_cost(self, lam: np.ndarray, mu: np.ndarray, ev: _Eval) -> np.ndarray:
        """``-a + C'lam + J'mu`` on every variable: 0 on the free ones at a KKT point;
        on a weight at its lower bound >= 0 (raising it cannot gain), at its upper <= 0."""
        N, K, nz = self.d.n, self.d.k, self.nz
        out = np.empty(self.nv)
        out[:N] = -self.a
        y = np.concatenate([lam, mu])
        for s in self.seg:
            na, idx = s["na"], s["idx"]
            zc = np.bincount(s["xc"][:na], weights=s["cf"][:na] * y[s["pos"][:na] - nz],
                             minlength=self.nx)
            out[idx] += s["B"] @ zc[:K] + zc[K] + zc[K + 1] * ev.gm[idx] \
                + zc[K + 2] * ev.gs[idx]
        out[N:] = self.Cz.T @ lam + ev.Jz.T @ mu
        return out

    def primal(self, x: np.ndarray, ev: _Eval) -> np.ndarray:
        """``C x - r``: the linear rows' residuals."""
        N = self.d.n
        return self.weight_rows_times(x[:N], ev)[:self.nc] + self.Cz @ x[N:] - self.rc

    def ls_multipliers(self, ev: _Eval) -> np.ndarray | None:
        """Least-squares multipliers ``y = argmin ||a - A'y||`` on the free variables
        (A = [C; J]), from the normal equations ``A A' y = A a`` (Cholesky); None when
        A A' is not numerically positive definite.  Only Newton's starting point: its
        first step corrects them."""
        nc, na_rows = self.nc, self.nc + len(self.cones)
        AA = np.empty((na_rows, na_rows))       # A_z A_z'
        AA[:nc, :nc] = self.CC
        AA[nc:, :nc] = ev.Jz @ self.Cz.T
        AA[:nc, nc:] = AA[nc:, :nc].T
        AA[nc:, nc:] = ev.Jz @ ev.Jz.T
        Aa = np.zeros(na_rows)
        K = self.d.k
        for sg in self.seg:
            f = sg["free"]
            X = sg["X"][:, :K + 3].copy()
            X[:, K + 1] = ev.gm[f]
            X[:, K + 2] = ev.gs[f]
            AA[sg["ipos_a"]] += (X.T @ X)[sg["ix_a"]] * sg["sign"][:sg["na"], :sg["na"]]
            na = sg["na"]
            Aa[sg["ra"]] += sg["cf"][:na] * (X.T @ self.a[f])[sg["xc"][:na]]
        try:
            return sla.cho_solve(sla.cho_factor(AA, check_finite=True), Aa)
        except (ValueError, np.linalg.LinAlgError):
            return None

    def system(self, ev: _Eval, identity: bool = False) -> _System:
        """The KKT matrix ``[H C' J'; C 0 0; J 0 0]`` on the free variables at ``ev``
        (the free weights first, in :attr:`free` order).  ``identity``: H = I (the
        least-squares multipliers)."""
        return _System(self, ev, identity)

class _System:
    """The KKT matrix of a face at one point, its product and its factorisation.

    The free weights' Hessian block is diagonal (each TE limit's specific part), so
    they are eliminated: the Schur complement ``S = [Hzz A_z'; A_z 0] - P' D^-1 P`` on
    (W, e, multipliers), with ``P`` the weights' rows ``[H_wz, A_w']``, is assembled
    densely from each segment's Gram matrix ``X_m' D^-1 X_m`` and LU-factorised.  A
    free weight without curvature (on no active limit) falls back to a sparse LU of the
    whole system.
    """

    def __init__(self, face: _Face, ev: _Eval, identity: bool):
        self.face = face
        p, nz, K = face.p, face.nz, face.d.k
        if identity:
            self.D, self.Hzz = np.ones(p), np.eye(nz)
        else:
            self.D, self.Hzz = ev.D[face.free], ev.Hzz
        self.Jz = ev.Jz
        self.Xs = []
        for sg in face.seg:
            X, f = sg["X"].copy(), sg["free"]
            X[:, K + 1] = ev.gm[f]
            X[:, K + 2] = ev.gs[f]
            X[:, K + 3] = 0.0 if identity else ev.hW[f]
            self.Xs.append(X)

    def Pt(self, t: np.ndarray) -> np.ndarray:
        """``P' t`` for ``t`` on the free weights."""
        f = self.face
        out = np.zeros(f.ns)
        for sg, X, sl in zip(f.seg, self.Xs, f.free_sl, strict=True):
            out[sg["pos"]] += sg["cf"] * (X.T @ t[sl])[sg["xc"]]
        return out

    def Pv(self, v: np.ndarray) -> np.ndarray:
        """``P v`` for ``v`` on (W, e, multipliers)."""
        f = self.face
        out = np.empty(f.p)
        for sg, X, sl in zip(f.seg, self.Xs, f.free_sl, strict=True):
            out[sl] = X @ np.bincount(sg["xc"], weights=sg["cf"] * v[sg["pos"]],
                                      minlength=f.nx)
        return out

    def mul(self, v: np.ndarray) -> np.ndarray:
        """The whole matrix times ``v``."""
        f = self.face
        p, nz, nc = f.p, f.nz, f.nc
        Cz, Jz = f.Cz, self.Jz
        vz, vl, vm = v[p:p + nz], v[p + nz:p + nz + nc], v[p + nz + nc:]
        low = np.concatenate([self.Hzz @ vz + Cz.T @ vl + Jz.T @ vm, Cz @ vz, Jz @ vz])
        return np.concatenate([self.D * v[:p] + self.Pv(v[p:]), low + self.Pt(v[:p])])

    def factor(self):
        """A function solving with this matrix (no refinement), or None if singular."""
        f = self.face
        p, nz, nc, ns = f.p, f.nz, f.nc, f.ns
        D = self.D
        if p and np.all(D > 1e-12 * max(float(np.max(np.abs(D))), 1e-300)):
            S = np.zeros((ns, ns))                    # [Hzz A_z'; A_z 0] - P' D^-1 P
            S[:nz, :nz] = self.Hzz
            S[nz:nz + nc, :nz] = f.Cz
            S[nz + nc:, :nz] = self.Jz
            S[:nz, nz:nz + nc] = f.Cz.T
            S[:nz, nz + nc:] = self.Jz.T
            for sg, X, sl in zip(f.seg, self.Xs, f.free_sl, strict=True):
                G = X.T @ (X / D[sl, None])
                S[sg["ipos"]] -= G[sg["ix"]] * sg["sign"]
            try:
                with warnings.catch_warnings():  # singular: the sparse LU below decides
                    warnings.simplefilter("ignore", sla.LinAlgWarning)
                    lu = sla.lu_factor(S, check_finite=True)
            except (ValueError, np.linalg.LinAlgError):
                lu = None
            if lu is not None and np.all(np.abs(np.diag(lu[0])) > 0):

                def solve(r: np.ndarray) -> np.ndarray:
                    t = r[:p] / D
                    vl = sla.lu_solve(lu, r[p:] - self.Pt(t))
                    return np.concatenate([t - self.Pv(vl) / D, vl])

                return solve
        try:
            return spla.splu(self._sparse()).solve
        except RuntimeError:  # exactly singular: the face does not fix the point
            return None

    def _sparse(self) -> sp.csc_matrix:
        """The whole system ``[diag(D) P; P' Sb]``, ``Sb = [Hzz A_z'; A_z 0]``, as a
        sparse matrix (the fallback)."""
        f = self.face
        ri, ci, vv = [], [], []
        for sg, X, sl in zip(f.seg, self.Xs, f.free_sl, strict=True):
            rows = np.arange(sl.start, sl.stop)
            blk = X[:, sg["xc"]] * sg["cf"]
            ri.append(np.repeat(rows, sg["pos"].size))
            ci.append(np.tile(sg["pos"], rows.size))
            vv.append(blk.ravel())
        P = sp.csr_matrix((np.concatenate(vv), (np.concatenate(ri), np.concatenate(ci))),
                          shape=(f.p, f.ns))
        P.eliminate_zeros()
        Az = sp.csr_matrix(np.vstack([f.Cz, self.Jz]))
        Sb = sp.bmat([[sp.csr_matrix(self.Hzz), Az.T], [Az, None]])
        if f.p == 0:
            return sp.csc_matrix(Sb)
        return sp.bmat([[sp.diags(self.D), P], [P.T, Sb]], format="csc")


def _refined(solve, mul, rhs: np.ndarray, steps: int) -> tuple[np.ndarray | None, float]:
    """``solve(rhs)`` improved by iterative refinement against ``mul`` (the saddle-point
    system is badly scaled), at most ``steps`` corrections and until one is below
    ``REUSE_TOL`` of the solution; returns the solution (None if not finite) and the
    size of the last correction relative to the solution."""
    sol = solve(rhs)
    if not np.all(np.isfinite(sol)):
        return None, np.inf
    corr = np.inf
    for _ in range(steps):
        dx = solve(rhs - mul(sol))
        sol = sol + dx
        corr = float(np.max(np.abs(dx)) / max(float(np.max(np.abs(sol))), 1e-300))
        if not corr > REUSE_TOL:   # also stops on NaN, refused below
            break
    if not np.all(np.isfinite(sol)):
        return None, np.inf
    return sol, corr


def _kkt_residual(face: _Face, rc: np.ndarray, prim: np.ndarray, ev: _Eval) -> float:
    """Largest KKT residual: stationarity on the free variables (``rc``, the reduced
    costs), the linear rows (``prim``) and the active limits."""
    N = face.d.n
    return float(max(np.max(np.abs(rc[face.free]), initial=0.0),
                     np.max(np.abs(rc[N:]), initial=0.0),
                     np.max(np.abs(prim), initial=0.0), np.max(np.abs(ev.g), initial=0.0)))


#: A Newton step may reuse the previous step's factorisation (as the preconditioner of
#: iterative refinement against the current matrix) when the refinement's last
#: correction is below this, relative to the step; otherwise the matrix is factorised.
REUSE_TOL = 1e-12


def _newton(face: _Face, x0: np.ndarray):
    """Newton (SQP) on ``face`` from ``x0`` (all variables, the fixed weights at their
    bounds); returns (x, lam, mu, iterations, residual, evaluation) or None.

    Each step solves the KKT system for the change of the variables and multipliers,
    right-hand side the KKT residual.  The first step factorises the matrix; the later
    steps, where the matrix has moved by about the solver's error, refine against the
    current matrix with that factorisation, and factorise afresh only when the
    refinement does not converge to ``REUSE_TOL``.
    """
    N, p, nz, nc = face.d.n, face.p, face.nz, face.nc
    free = face.free
    af = face.a[free]
    x = x0.copy()
    ev = face.evaluate(x, None)
    nj = ev.g.size
    # least-squares multipliers at x0, from the normal equations or else from
    # [I C' J'; C 0 0; J 0 0] [r; lam; mu] = [a; 0; 0]
    y = face.ls_multipliers(ev)
    if y is None or not np.all(np.isfinite(y)):
        sys0 = face.system(ev, identity=True)
        solve = sys0.factor()
        if solve is None:
            return None
        sol, _ = _refined(solve, sys0.mul, np.concatenate([af, np.zeros(nz + nc + nj)]), 2)
        if sol is None:
            return None
        y = sol[p + nz:]
    lam, mu = y[:nc], y[nc:]
    ev = face.evaluate(x, mu)
    rc, prim = face.reduced_cost(lam, mu, ev), face.primal(x, ev)
    best = np.inf
    solve = None
    for it in range(1, _MAX_NEWTON + 1):
        rhs = -np.concatenate([rc[free], rc[N:], prim, ev.g])
        sysk = face.system(ev)
        sol = None
        if solve is not None:            # the previous factorisation, refined
            sol, corr = _refined(solve, sysk.mul, rhs, 3)
            if corr > REUSE_TOL:
                sol = None
        if sol is None:
            solve = sysk.factor()
            if solve is None:
                return None
            sol, _ = _refined(solve, sysk.mul, rhs, 2)
            if sol is None:
                return None
        x[free] += sol[:p]
        x[N:] += sol[p:p + nz]
        lam = lam + sol[p + nz:p + nz + nc]
        mu = mu + sol[p + nz + nc:]
        ev = face.evaluate(x, mu)
        rc, prim = face.reduced_cost(lam, mu, ev), face.primal(x, ev)
        res = _kkt_residual(face, rc, prim, ev)
        step = float(np.max(np.abs(sol[:p + nz]), initial=0.0))
        if res <= KKT_TOL and step <= 1e-12:
            return x, lam, mu, it, res, ev
        if it > 8 and res >= best:  # no further progress
            return (x, lam, mu, it, res, ev) if res <= KKT_TOL else None
        best = min(best, res)
    return None


def _flat_free(d: MBPData, active: list[_Cone], fixed: np.ndarray) -> np.ndarray:
    """Free weights that no active TE limit covers (no curvature on the face)."""
    covered = np.zeros(d.n, bool)
    for c in active:
        if c.kind == "market":
            covered[:] = True
        elif c.kind == "within":
            covered[d.members[c.m]] = True
    covered[~np.isnan(fixed)] = True
    return np.flatnonzero(~covered)


def _basic_per_row(d: MBPData, fixed: np.ndarray, neutral: bool, budget: bool,
                   ratio: np.ndarray) -> np.ndarray:
    """``fixed`` with one weight freed in each budget or neutrality row whose weights
    are all at a bound (a degenerate vertex of the linear programme: the row holds at
    the bounds, for example ``max_active`` names half up and half down, or a one-name
    segment whose benchmark weight is ``max_weight``).  Such a row has no free weight,
    so the face's KKT matrix is singular; the freed weight (the row's basic variable,
    still at its bound) is the one least surely at its bound, largest distance / dual
    ``ratio``: its multiplier then lies at an end of the solver's interval."""
    if neutral:
        groups = d.members
    elif budget:
        groups = [np.arange(d.n)]
    else:
        return fixed
    out = fixed
    for idx in groups:
        if idx.size and not np.isnan(fixed[idx]).any():
            out = out.copy() if out is fixed else out
            out[idx[int(np.argmax(ratio[idx]))]] = np.nan
    return out


def _sole_free(d: MBPData, fixed: np.ndarray, neutral: bool, budget: bool) -> np.ndarray:
    """(N,) bool: the weights that are the only free one of their budget or neutrality
    row (see :func:`_basic_per_row`)."""
    isfree = np.isnan(fixed)
    if neutral:
        cnt = np.bincount(d.segment, weights=isfree, minlength=d.n_segments)[d.segment]
    elif budget:
        cnt = np.full(d.n, float(isfree.sum()))
    else:
        return np.zeros(d.n, bool)
    return isfree & (cnt == 1)


def _bought(d: MBPData, active: list[_Cone], mu: np.ndarray, ratio0: np.ndarray,
            cones: list[_Cone], w0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            rc: np.ndarray, fx: np.ndarray) -> float:
    """First-order objective the solver's ``w0`` gains by breaking the face's limits.

    A solver stops within its tolerance, so ``w0`` may break an active TE limit (ratio
    ``1 + eps``) or a bound by a little, and its ``alpha' w0`` then exceeds the optimum by
    about the multiplier times the breach: ``mu_c (r_c^2 - 1)`` (times ``W_m^2`` for a
    within limit, whose face row is scaled by it) and ``|reduced cost| x`` the bound's
    breach.  The objective check allows twice that, so a slightly infeasible ``w0`` does
    not refuse the exact optimum (SCS's answers broke limits by 1e-9 to 1e-5).
    """
    r0 = {c.key: float(r) for c, r in zip(cones, ratio0, strict=True)}
    gain = 0.0
    for c, v in zip(active, mu, strict=True):
        ex = r0[c.key] ** 2 - 1.0
        if ex > 0.0 and v > 0.0:
            wm = float(w0[d.members[c.m]].sum()) if c.kind == "within" else 1.0
            gain += float(v) * ex * wm * wm
    out = np.maximum(np.maximum(w0 - hi, lo - w0), 0.0)[fx]
    return gain + float(np.abs(rc) @ out)


def _te_values(data: MBPData, cones: list[_Cone], w: np.ndarray) -> np.ndarray:
    """Each limit's value at ``w`` divided by the limit (numpy, from the weights: the
    active-weight vectors of :class:`MBPData`, their factor parts in one product)."""
    if not cones:
        return np.zeros(0)
    V = np.empty((data.n, len(cones)))
    den = np.ones(len(cones))
    for j, c in enumerate(cones):
        if c.kind == "market":
            V[:, j] = w - data.bench_w
        elif c.kind == "segment":
            V[:, j] = data.allocation_active(w)
        else:
            V[:, j] = data.within_active(w, c.m)
            den[j] = float(w[data.members[c.m]].sum())
    Gv = data.factor_part(V)
    te = np.sqrt(np.maximum(np.einsum("kj,kj->j", Gv, Gv)
                            + np.einsum("n,nj,nj->j", data.spec_var, V, V), 0.0))
    out = np.empty(len(cones))
    for j, c in enumerate(cones):
        v = te[j]
        if c.kind == "within":
            # a segment left empty meets its limit (the cone's apex, 0 <= 0)
            Wm = den[j]
            v = v / Wm if Wm > 0 else (0.0 if v == 0.0 else np.inf)
        out[j] = v / c.t
    return out


def polish(data: MBPData, alpha: np.ndarray, w0: np.ndarray, *, te_total: float | None,
           te_segment: float | None, te_within: list[float | None], neutral: bool,
           budget: bool, lo: np.ndarray, hi: np.ndarray,
           dual_lo: np.ndarray | None = None, dual_hi: np.ndarray | None = None,
           active_rtol: float = ACTIVE_RTOL) -> Polished | None:
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
    if any(not c.t * c.t > 0.0 for c in cones):
        return _refuse("limit underflows")  # the face scales by 1/t^2 (te 1e-200)
    ratio0 = _te_values(d, cones, w0)
    active = [c for c, r in zip(cones, ratio0, strict=True) if r >= 1.0 - active_rtol]
    for c in cones:  # a within limit at the cone's apex (segment left) is not smooth
        if c.kind == "within" and (w0[d.members[c.m]].sum() <= 1e-4 * d.seg_bench[c.m]):
            return _refuse("apex")
    dl = np.full(N, 1e-7 / FACE_RATIO) if dual_lo is None else np.maximum(dual_lo, 0.0)
    dh = np.full(N, 1e-7 / FACE_RATIO) if dual_hi is None else np.maximum(dual_hi, 0.0)
    fixed = np.full(N, np.nan)       # a weight's bound when it is on the face, else NaN
    at_lo = np.isfinite(lo) & (w0 - lo < FACE_RATIO * dl)
    at_hi = np.isfinite(hi) & (hi - w0 < FACE_RATIO * dh) & ~at_lo
    fixed[at_lo] = lo[at_lo]
    fixed[at_hi] = hi[at_hi]
    # each weight's distance to its lower and upper bound over that bound's dual (inf
    # without the bound): how surely the solver put it there, the smaller the surer
    with np.errstate(invalid="ignore", divide="ignore"):
        rl_all = np.nan_to_num((w0 - lo) / dl, nan=np.inf, posinf=np.inf, neginf=-np.inf)
        rh_all = np.nan_to_num((hi - w0) / dh, nan=np.inf, posinf=np.inf, neginf=-np.inf)
    ratio = np.where(at_lo, rl_all, rh_all)
    obj0 = float(a @ w0)
    iters = 0
    mdl = _model(d)
    just_freed = np.zeros(N, bool)
    for _ in range(_MAX_FACES):
        fixed = _basic_per_row(d, fixed, neutral, budget, ratio)
        face = _Face(mdl, a, active, fixed, budget, neutral)
        out = _newton(face, face.x0(w0))
        if out is None:
            # a singular face: free weights on no active limit (a linear programme there,
            # e.g. two names with near-equal alpha) leave a direction without curvature.
            # The one nearest its bound, relative to that bound's dual, goes to the bound.
            flat = _flat_free(d, active, fixed)
            if flat.size == 0:
                return _refuse("newton failed")
            rl, rh = rl_all[flat], rh_all[flat]
            # a weight just freed for its reduced cost's sign stays free (it enters the
            # basis of the linear programme; another flat weight leaves it): sending it
            # back to its bound would repeat the face before
            r = np.minimum(rl, rh)
            r[just_freed[flat] & ((r < np.inf).sum() > just_freed[flat].sum())] = np.inf
            # nor does the only free weight of a budget or neutrality row (its basic one)
            r[_sole_free(d, fixed, neutral, budget)[flat]] = np.inf
            k = int(np.argmin(r))
            if min(rl[k], rh[k]) == np.inf:  # no bound to send it to
                return _refuse("newton failed")
            i = int(flat[k])
            fixed[i] = lo[i] if rl[k] <= rh[k] else hi[i]
            continue
        x, lam, mu, it, res, ev = out
        iters += it
        w = x[:N].copy()
        w[face.fx] = face.fvals
        free = np.ones(N, bool)
        free[face.fx] = False
        # a bound or limit off the face that the face optimum breaks joins the face
        grow = False
        # a basic weight of a degenerate vertex (:func:`_basic_per_row`) lands on its
        # bound to rounding: it is put on the bound, not moved to the face
        tol = 1e-15 * np.maximum(1.0, np.abs(w))
        snap = free & (((w < lo) & (w >= lo - tol)) | ((w > hi) & (w <= hi + tol)))
        w[snap] = np.clip(w[snap], lo[snap], hi[snap])
        below = free & (w < lo)
        above = free & (w > hi)
        if below.any() or above.any():
            fixed[below] = lo[below]
            fixed[above] = hi[above]
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
        rc = face.reduced_cost(lam, mu, ev)[face.fx]
        on_lo = np.isfinite(lo[face.fx]) & (face.fvals == lo[face.fx])
        wrong = (on_lo & (rc < -SIGN_TOL)) | (~on_lo & (rc > SIGN_TOL))
        drop = [c for c, v in zip(active, mu, strict=True) if v < -SIGN_TOL]
        if wrong.any() or drop:
            fixed[face.fx[wrong]] = np.nan
            just_freed[:] = False
            just_freed[face.fx[wrong]] = True
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
        if float(a @ w) < obj0 - OBJ_RTOL * max(1.0, float(np.abs(w0).sum())) \
                - 2.0 * _bought(d, active, mu, ratio0, cones, w0, lo, hi, rc, face.fx):
            return _refuse("objective")
        mus = {c.key: float(v) * scale for c, v in zip(active, mu, strict=True)}
        global last_refusal
        last_refusal = ""
        return Polished(weights=w, mu=mus, iterations=iters, residual=res)
    return _refuse("too many faces")
