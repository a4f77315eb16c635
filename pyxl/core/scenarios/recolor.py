"""EWMA recolouring kernels (seed 002, step 3).

For every path the raw bootstrapped rows ``x_1 .. x_H`` are mapped to

    x'_t = mu* + A_t (x_t - mu_t),      A_t = Sigma*^{1/2} Sigma_t^{-1/2}

(the seed writes the row form ``x'_t = mu* + (x_t - mu_t) A_t^T``), where
``mu_t, Sigma_t`` are the EWMA estimates built from ``x_1 .. x_{t-1}`` only
(predictive ordering) and are then updated with the raw ``x_t``:

    mu_{t+1}    = lam mu_t + (1 - lam) x_t
    Sigma_{t+1} = lam Sigma_t + (1 - lam)(x_t - mu_t)(x_t - mu_{t+1})^T
                = lam (Sigma_t + (1 - lam) d d^T),   d = x_t - mu_t.

Only the vector ``Sigma_t^{-1/2} d`` is needed per step.  Four kernels:

``recolor_eigh``
    numba, one ``np.linalg.eigh`` of Sigma_t per step (the straightforward
    kernel, O(N^3) with a large constant).
``recolor_rank1``
    numba, keeps the eigendecomposition ``Sigma_t = Q diag(D) Q^T`` and
    updates it under the rank-one change with the secular equation
    (LAPACK-style deflation; roots by Gragg's cubic two-pole step with the
    Bunch-Nielsen-Sorensen step as fallback, all roots iterated side by side;
    Gu-Eisenstat eigenvectors): O(N^2) work plus one N x k matrix product per
    step.  Exact symmetric root (same numbers as ``recolor_eigh`` to rounding).
    At N = 50 one step costs about 56k cycles: half for the ~3.5 evaluations of
    the secular function per root (bound by the N^2 divisions), 30 % for the
    N^3 eigenvector product (BLAS, near peak).  A warm-started Newton-Schulz or
    Denman-Beavers iteration needs several N^3 products per step, and a Lanczos
    evaluation of ``Sigma_t^{-1/2} d`` to 1e-12 needs about N matrix-vector
    products when the EWMA window (~1/(1 - lam) = 17 rows) is shorter than N
    (the condition number of Sigma_t grows from ~1e2 to ~5e3 over 120 steps in the
    benchmark); neither beats the update.
``recolor_cholesky``
    numba, the non-symmetric variant ``A_t = L* L_t^{-1}`` with an O(N^2)
    rank-one Cholesky update; a different (valid) colouring map, offered only
    as an explicit option.
``recolor_reference``
    plain numpy per path (for tests and the benchmark baseline).

Eigenvalue floor: eigenvalues of Sigma_t below ``floor_rel * max eig`` are
raised to that level before the inverse root is taken (the EWMA state itself
is not altered); the number of steps at which this binds is returned per path.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "recolor_eigh",
    "recolor_rank1",
    "recolor_cholesky",
    "recolor_reference",
    "sym_sqrt",
    "KERNELS",
]

_EPS = np.finfo(np.float64).eps
#: Below this size the rank-one kernel multiplies with loops instead of BLAS.
_SMALL_N = 16


def sym_sqrt(S: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via ``eigh`` (negative rounding eigenvalues clipped to 0)."""
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    w = np.clip(w, 0.0, None)
    return (V * np.sqrt(w)) @ V.T


# --------------------------------------------------------------------------- reference
def recolor_reference(
    X: np.ndarray,
    mu0: np.ndarray,
    S0: np.ndarray,
    mu_star: np.ndarray,
    root_star: np.ndarray,
    lam: float,
    floor_rel: float,
    burn_in: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward numpy loop over paths and periods (eigh per step).

    Parameters
    ----------
    X : (P, burn_in + H, N) raw bootstrapped per-period returns.
    mu0, S0 : initial EWMA mean (N,) and covariance (N, N).
    mu_star, root_star : per-period target mean and symmetric root of Sigma*.
    lam : EWMA smoothing in (0, 1).
    floor_rel : relative eigenvalue floor.
    burn_in : leading rows of each path that only update the EWMA state.

    Returns
    -------
    (out, floor_hits) : (P, H, N) recoloured returns and (P,) int64 counts.
    """
    P, Htot, N = X.shape
    H = Htot - burn_in
    out = np.empty((P, H, N))
    hits = np.zeros(P, dtype=np.int64)
    for p in range(P):
        mu = mu0.copy()
        S = S0.copy()
        for t in range(Htot):
            x = X[p, t]
            d = x - mu
            if t >= burn_in:
                w, V = np.linalg.eigh(S)
                fl = floor_rel * w.max()
                if w.min() < fl:
                    hits[p] += 1
                w = np.maximum(w, fl)
                y = V @ ((V.T @ d) / np.sqrt(w))
                out[p, t - burn_in] = mu_star + root_star @ y
            mu_new = lam * mu + (1.0 - lam) * x
            S = lam * S + (1.0 - lam) * np.outer(d, x - mu_new)
            S = 0.5 * (S + S.T)
            mu = mu_new
    return out, hits


@njit(cache=True, error_model="numpy")
def _fresh_state(mu0, M0):
    """Copies of a start vector and a start matrix, made with loops (``.copy()`` and
    ``np.ascontiguousarray`` would compile array helpers in every kernel); C order."""
    n = mu0.shape[0]
    mu = np.empty(n)
    M = np.empty((n, n))
    for i in range(n):
        mu[i] = mu0[i]
        for j in range(n):
            M[i, j] = M0[i, j]
    return mu, M


# --------------------------------------------------------------------------- eigh kernel
# error_model="numpy": numba compiles every prange body with it anyway, and flags equal to
# recolor_rank1's let the kernels share numba's compiled eigh and np.empty helpers
@njit(cache=True, parallel=True, error_model="numpy")
def recolor_eigh(X, mu0, S0, mu_star, root_star, lam, floor_rel, burn_in):
    """numba kernel with one ``np.linalg.eigh`` per step (same contract as the reference)."""
    P, Htot, N = X.shape
    H = Htot - burn_in
    out = np.empty((P, H, N))
    # np.empty, not np.zeros: parallel=True turns np.zeros into a loop of its own, one
    # more parallel kernel to compile; each path zeroes its own count
    hits = np.empty(P, dtype=np.int64)
    for p in prange(P):
        hits[p] = 0
        mu, S = _fresh_state(mu0, S0)
        d = np.empty(N)
        z = np.empty(N)
        y = np.empty(N)
        o = np.empty(N)
        for t in range(Htot):
            for i in range(N):
                d[i] = X[p, t, i] - mu[i]
            if t >= burn_in:
                w, V = np.linalg.eigh(S)
                fl = floor_rel * w[N - 1]
                if w[0] < fl:
                    hits[p] += 1
                # the BLAS calls of ``V.T @ d``, ``V @ z`` and ``root_star @ y``, into
                # buffers (the operator would compile a wrapper for each)
                np.dot(V.T, d, z)
                for i in range(N):
                    z[i] /= np.sqrt(max(w[i], fl))
                np.dot(V, z, y)
                np.dot(root_star, y, o)
                for i in range(N):
                    out[p, t - burn_in, i] = mu_star[i] + o[i]
            c = lam * (1.0 - lam)
            for i in range(N):
                mu[i] = lam * mu[i] + (1.0 - lam) * X[p, t, i]
            for i in range(N):
                for j in range(N):
                    S[i, j] = lam * S[i, j] + c * d[i] * d[j]
    return out, hits


# --------------------------------------------------------------------------- rank-one kernel
@njit(cache=True, error_model="numpy", fastmath=False)
def _pole_recip(d: float, o: float, tau: float) -> float:
    """``1 / ((d - o) - tau)`` in strict IEEE arithmetic, subtractions in this order (``d -
    o`` is exact for the nearest pole ``o``, so the distance keeps its accuracy next to
    it); ``fastmath=False`` set explicitly so the fast-math callers cannot re-associate
    it."""
    return 1.0 / ((d - o) - tau)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _secular_sums(dk, zk, i, o, tau, k):
    """One evaluation of the secular function for root i at ``lam = o + tau``.

    Returns the partial sums ``(psi, dpsi, phi, dphi, s3)`` with ``r_j = 1 / ((d_j - o) -
    tau)`` (:func:`_pole_recip`): psi = sum_{j <= i} z_j^2 r_j, dpsi = sum_{j <= i}
    (z_j r_j)^2, phi and dphi the same over j > i, s3 = sum_j z_j^2 r_j^3.  One vectorised
    pass (the divisions dominate, the extra sums are nearly free).  ``reassoc`` lets LLVM
    split the sums into vector lanes.  The loop stores nothing, so LLVM vectorises it
    without a run-time overlap check and its order is fixed by the compiled code and the
    trip count: results are the same in every run, for any chunking of paths or number
    of threads, only not identical to a strictly sequential sum (a loop that also stored
    ``r_j`` ran its vector or its scalar version depending on where the arrays lay; see
    ``tests/test_fp_determinism.py``).
    """
    al = 0.0
    bl = 0.0
    ar = 0.0
    br = 0.0
    c = 0.0
    for j in range(k):
        r = _pole_recip(dk[j], o, tau)
        q = zk[j] * r
        p = zk[j] * q
        q2 = q * q
        c += q2 * r
        w = 1.0 if j <= i else 0.0
        v = 1.0 - w
        al += w * p
        bl += w * q2
        ar += v * p
        br += v * q2
    return al, bl, ar, br, c


#: Accept a cubic (Gragg) step of relative size below this without a further sweep: the
#: error after it is ~ C (1e-5)^3 |tau|, below rounding.  A quadratic (fallback) step
#: needs 1e-7 for the same.
_CUBIC_ACCEPT = 1e-5
_QUAD_ACCEPT = 1e-7


@njit(cache=True, error_model="numpy")
def _secular_roots(dk, zk, rho, k, U, orig, taus, lamk, W):
    """All k roots of f(lam) = 1 + rho sum_j z_j^2 / (d_j - lam) (d ascending, rho > 0).

    Root i: ``lamk[i] = dk[orig[i]] + taus[i]``, measured from the nearer pole so that
    ``d_j - lam = (d_j - d[orig]) - tau`` is computed without cancellation; on return
    ``U[i, j] = 1 / (d_j - lam_i)`` at the final root (relative error a few ulps, since
    every |d_j - lam_i| >= |tau_i|), which the caller reuses for the eigenvectors.

    Iteration per root (safeguarded by the bracket and bisection): first evaluation at the
    midpoint of the bracket (its sign picks the nearer pole as origin), then rational steps
    from a two-pole model.  The model's pole weights come from f' and f'' (Gragg's scheme,
    cubically convergent) when both are positive, otherwise from the slopes of the left
    and right partial sums (Bunch-Nielsen-Sorensen "middle way", quadratic).  The roots are
    iterated side by side in sweeps (all still-active roots evaluated, then all stepped),
    so that the CPU overlaps the independent per-root dependency chains; each root's
    arithmetic is its own, so the result does not depend on the others.
    ``W`` is a (9, >= k) float work array.
    """
    O = W[0]
    TAU = W[1]
    LO = W[2]
    HI = W[3]
    HALF = W[4]
    PSI = W[5]
    DPSI = W[6]
    PHI = W[7]
    DPHI = W[8]
    S3 = lamk  # reused as scratch until the end
    act = orig  # >= 0: origin of an active root; -1 - origin once converged
    nz = 0.0
    for j in range(k):
        nz += zk[j] * zk[j]
    for i in range(k - 1):
        h = 0.5 * (dk[i + 1] - dk[i])
        O[i] = dk[i]
        TAU[i] = h
        LO[i] = 0.0
        HI[i] = h
        HALF[i] = h
        act[i] = i
    O[k - 1] = dk[k - 1]
    TAU[k - 1] = 0.5 * (rho * nz)
    LO[k - 1] = 0.0
    HI[k - 1] = rho * nz
    HALF[k - 1] = 0.0
    act[k - 1] = k - 1
    n_act = k
    it = 0
    while n_act > 0:
        for i in range(k):
            if act[i] >= 0:
                a, b, c, d, e = _secular_sums(dk, zk, i, O[i], TAU[i], k)
                PSI[i] = a
                DPSI[i] = b
                PHI[i] = c
                DPHI[i] = d
                S3[i] = e
        for i in range(k):
            org = act[i]
            if org < 0:
                continue
            o = O[i]
            tau = TAU[i]
            lo = LO[i]
            hi = HI[i]
            psi = PSI[i]
            phi = PHI[i]
            f = 1.0 + rho * (psi + phi)
            if it == 0 and i < k - 1 and f < 0.0:
                # root lies in the right half: measure from the right pole instead
                half = HALF[i]
                org = i + 1
                o = dk[org]
                tau = -half
                lo = -half
                hi = 0.0
                O[i] = o
            if abs(f) <= 4.0 * _EPS * k * (1.0 + rho * (phi - psi)) or it >= 99:
                TAU[i] = tau  # f is zero to within its own rounding error
                act[i] = -1 - org
                n_act -= 1
                continue
            if f < 0.0:
                lo = tau
            else:
                hi = tau
            # two-pole model f ~ c + wq di^2 / (di - eta) + ws dj^2 / (dj - eta) around the
            # current point (di, dj: distances to the poles d_i, d_{i+1})
            di = (dk[i] - o) - tau
            wq = rho * DPSI[i]
            acc = _QUAD_ACCEPT
            if i < k - 1:
                dj = (dk[i + 1] - o) - tau
                ws = rho * DPHI[i]
                # Gragg: pole weights matching f' = rho s2 and f''/2 = rho s3
                s2 = DPSI[i] + DPHI[i]
                wb = rho * (S3[i] * dj - s2) * di / (dj - di)
                wc = rho * s2 - wb
                if wb > 0.0 and wc > 0.0:
                    wq = wb
                    ws = wc
                    acc = _CUBIC_ACCEPT
                qa = wq * di * di
                sa = ws * dj * dj
                c = f - wq * di - ws * dj
                a = c * (di + dj) + qa + sa
                b = c * di * dj + qa * dj + sa * di
                if c == 0.0:
                    eta = b / a
                else:
                    disc = a * a - 4.0 * b * c
                    if disc < 0.0:
                        disc = 0.0
                    sq = np.sqrt(disc)
                    qq = 0.5 * (a + sq) if a >= 0.0 else 0.5 * (a - sq)
                    eta = qq / c
                    if not (tau + eta > lo and tau + eta < hi) and qq != 0.0:
                        eta = b / qq
            else:
                c = f - wq * di
                eta = di + wq * di * di / c if c != 0.0 else 0.5 * (lo + hi) - tau
            new = tau + eta
            LO[i] = lo
            HI[i] = hi
            if not (new > lo and new < hi):
                new = 0.5 * (lo + hi)
            elif abs(eta) <= acc * abs(new):
                # converged: the error after this step is below rounding, so accept it
                # without another evaluation
                TAU[i] = new
                act[i] = -1 - org
                n_act -= 1
                continue
            TAU[i] = new
            act[i] = org
            if abs(new - tau) <= 4.0 * _EPS * abs(new) or hi - lo <= 4.0 * _EPS * max(
                abs(lo), abs(hi)
            ):
                act[i] = -1 - org
                n_act -= 1
        it += 1
    for i in range(k):
        org = -1 - act[i]
        orig[i] = org
        tau = TAU[i]
        taus[i] = tau
        lamk[i] = dk[org] + tau
        o = dk[org]
        for j in range(k):
            U[i, j] = _pole_recip(dk[j], o, tau)


@njit(cache=True, fastmath={"reassoc", "contract"})
def _matvec(A, x, out):
    """out = A x (row dot products; ``reassoc`` lets LLVM vectorise the sums, in an order
    fixed by the compiled code, so the result is deterministic)."""
    n, m = A.shape
    for r in range(n):
        acc = 0.0
        for i in range(m):
            acc += A[r, i] * x[i]
        out[r] = acc


@njit(cache=True, fastmath={"reassoc", "contract"})
def _matmul_nt(A, B, out):
    """out = A B^T for small matrices (row-by-row dot products, vectorised sums)."""
    n, m = A.shape
    p = B.shape[0]
    for r in range(n):
        for a in range(p):
            acc = 0.0
            for j in range(m):
                acc += A[r, j] * B[a, j]
            out[r, a] = acc


@njit(cache=True, error_model="numpy", fastmath=False)
def _scaled_product(z: float, u: float, c: float) -> float:
    """``(z u) c`` in strict IEEE arithmetic (a value that a vectorised loop stores)."""
    return (z * u) * c


@njit(cache=True, fastmath={"reassoc", "contract"})
def _eigvec_rows(zk, U, Ut, k):
    """Ut[i, :] = normalised (z_hat_j / (d_j - lam_i))_j, with ``U[i, j] = 1/(d_j - lam_i)``
    (``Ut`` a separate buffer, so that the loops vectorise).  The norm is summed in a
    loop that only reads (``reassoc``: vector lanes, in an order fixed by the trip
    count); the loop that stores computes its values in strict arithmetic
    (:func:`_scaled_product`), so its vector and scalar versions agree (see
    ``tests/test_fp_determinism.py``)."""
    for i in range(k):
        nrm = 0.0
        for j in range(k):
            u = zk[j] * U[i, j]
            nrm += u * u
        c = 1.0 / np.sqrt(nrm)
        for j in range(k):
            Ut[i, j] = _scaled_product(zk[j], U[i, j], c)


@njit(cache=True)
def _gu_eisenstat(dk, zk, z, idx, U, orig, taus, rho, k, P):
    """zk[j] <- z_hat_j, the sign of z[idx[j]] and the modulus that makes lam exact
    eigenvalues (Gu-Eisenstat), from ``U[i, j] = 1 / (d_j - lam_i)``; P is (k,) work."""
    for j in range(k):
        P[j] = 1.0
    for i in range(k):
        di = dk[i]
        for j in range(i):
            P[j] *= U[i, j] * (dk[j] - di)
        for j in range(i + 1, k):
            P[j] *= U[i, j] * (dk[j] - di)
    for j in range(k):
        zh = np.sqrt(abs(-((dk[j] - dk[orig[j]]) - taus[j]) / rho / P[j]))
        zk[j] = zh if z[idx[j]] >= 0.0 else -zh


@njit(cache=True)
def _is_identity(idx, n):
    for a in range(n):
        if idx[a] != a:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _rank1_update(D, Q, z, rho, scale, idx, dk, zk, Qk, W, U, lamk, orig, taus):
    """In place: Q diag(D) Q^T <- scale * Q (diag(D) + rho z z^T) Q^T, D kept ascending.

    ``z`` is the update vector already expressed in the eigenbasis (z = Q^T d).
    Work arrays are preallocated by the caller (``W`` is (9, N), the others (N,) or
    (N, N)).
    """
    N = D.shape[0]
    zn2 = 0.0
    dmax = 0.0
    for i in range(N):
        zn2 += z[i] * z[i]
        dmax = max(dmax, abs(D[i]))
    if zn2 == 0.0 or rho == 0.0:
        for i in range(N):
            D[i] *= scale
        return
    zn = np.sqrt(zn2)
    rhon = rho * zn2
    tol = 8.0 * _EPS * max(dmax, rhon)
    # --- deflation (LAPACK dlaed2 rules on the normalised vector)
    # k starts as np.int64, not the literal 0: numba would type the callees that take k
    # for Literal[int](0) first and compile each of them twice
    k = np.int64(0)
    prev = -1
    for j in range(N):
        if rhon * abs(z[j] / zn) <= tol:
            z[j] = 0.0
            continue
        # close eigenvalues: |(D_j - D_prev) c s| <= tol for the rotation (c, s) that
        # zeroes z_prev, i.e. |(D_j - D_prev) z_j z_prev| <= tol (z_j^2 + z_prev^2)
        if prev >= 0 and abs((D[j] - D[prev]) * z[j] * z[prev]) <= tol * (
            z[j] * z[j] + z[prev] * z[prev]
        ):
            s = z[prev]
            c = z[j]
            tau = np.hypot(c, s)
            c /= tau
            s = -s / tau
            # rotate columns prev, j so that z[prev] = 0, z[j] = tau
            for r in range(N):
                a = Q[r, prev]
                b = Q[r, j]
                Q[r, prev] = c * a + s * b
                Q[r, j] = c * b - s * a
            t = D[prev] * c * c + D[j] * s * s
            D[j] = D[prev] * s * s + D[j] * c * c
            D[prev] = t
            z[prev] = 0.0
            z[j] = tau
            k -= 1  # prev leaves the non-deflated set
        idx[k] = j
        k += 1
        prev = j
    if k > 0:
        # non-deflated set, sorted by (possibly rotated) D
        ok = True
        for a in range(k):
            dk[a] = D[idx[a]]
            if a > 0 and dk[a] < dk[a - 1]:
                ok = False
        if not ok:
            order = np.argsort(dk[:k])
            for a in range(k):
                orig[a] = idx[a]  # orig is free until the secular solver fills it
            for a in range(k):
                idx[a] = orig[order[a]]
                dk[a] = D[idx[a]]
        for a in range(k):
            zk[a] = z[idx[a]]
        # --- secular equation; U row i gets 1 / (d_j - lam_i)
        _secular_roots(dk, zk, rho, k, U, orig, taus, lamk, W)
        # --- Gu-Eisenstat: z_hat_j^2 = prod_i (lam_i - d_j) / (rho prod_{i != j} (d_i - d_j))
        #   = (lam_j - d_j) / rho / prod_{i != j} (U[i, j] (d_j - d_i)),
        # with U[i, j] = 1 / (d_j - lam_i) from the secular solver (no further divisions)
        _gu_eisenstat(dk, zk, z, idx, U, orig, taus, rho, k, W[0])
        # eigenvector i of diag(d) + rho z z^T: (z_hat_j / (d_j - lam_i))_j, normalised
        # eigenvector matrix of the small problem into Qk (packed k x k); U is free from
        # here on and serves as the product buffer
        Ut = Qk.ravel()[: k * k].reshape((k, k))
        _eigvec_rows(zk, U, Ut, k)
        full = k == N and _is_identity(idx, N)
        if full:
            # no deflation: the product into the work buffer, one contiguous copy back (a
            # loop: the slice assignment ``Q[:, :] = U`` compiles numba's formatting of
            # its shape-mismatch message, several seconds of the first compile)
            if N <= _SMALL_N:
                _matmul_nt(Q, Ut, U)  # tiny matrices: plain loops beat the BLAS overhead
            else:
                np.dot(Q, Ut.T, U)
            for r in range(N):
                for a in range(N):
                    Q[r, a] = U[r, a]
            for a in range(N):
                D[a] = lamk[a]
        elif N <= _SMALL_N:
            for r in range(N):
                for a in range(k):
                    acc = 0.0
                    for j in range(k):
                        acc += Q[r, idx[j]] * Ut[a, j]
                    U[r, a] = acc
            for a in range(k):
                D[idx[a]] = lamk[a]
                for r in range(N):
                    Q[r, idx[a]] = U[r, a]
        else:
            Qkc = U.ravel()[: N * k].reshape((N, k))
            for r in range(N):
                for a in range(k):
                    Qkc[r, a] = Q[r, idx[a]]
            Qn = np.empty((N, k))
            np.dot(Qkc, Ut.T, Qn)  # what ``Qkc @ Ut.T`` does, sharing the full case's call
            for a in range(k):
                D[idx[a]] = lamk[a]
                for r in range(N):
                    Q[r, idx[a]] = Qn[r, a]
    for i in range(N):
        D[i] *= scale
    # keep D ascending
    sorted_ok = True
    for i in range(1, N):
        if D[i] < D[i - 1]:
            sorted_ok = False
            break
    if not sorted_ok:
        # dk and U (free now) keep copies of D and Q
        order = np.argsort(D)
        for i in range(N):
            dk[i] = D[i]
        for r in range(N):
            for i in range(N):
                U[r, i] = Q[r, i]
        for i in range(N):
            D[i] = dk[order[i]]
        for r in range(N):
            for i in range(N):
                Q[r, i] = U[r, order[i]]


@njit(cache=True, parallel=True, error_model="numpy")
def recolor_rank1(X, mu0, S0, mu_star, root_star, lam, floor_rel, burn_in):
    """Exact symmetric recolour keeping Sigma_t's eigendecomposition under rank-one updates."""
    P, Htot, N = X.shape
    H = Htot - burn_in
    out = np.empty((P, H, N))
    hits = np.empty(P, dtype=np.int64)  # not np.zeros: see recolor_eigh
    w0, V0 = np.linalg.eigh(S0)
    for p in prange(P):
        hits[p] = 0
        mu = np.empty(N)
        D = np.empty(N)
        Q = np.empty((N, N))
        for i in range(N):  # explicit copies: no further array helpers to compile
            mu[i] = mu0[i]
            D[i] = w0[i]
            for j in range(N):
                Q[i, j] = V0[i, j]
        d = np.empty(N)
        y = np.empty(N)
        z = np.empty(N)
        v = np.empty(N)
        idx = np.empty(N, dtype=np.int64)
        dk = np.empty(N)
        zk = np.empty(N)
        Qk = np.empty((N, N))
        W = np.empty((9, N))
        U = np.empty((N, N))
        lamk = np.empty(N)
        orig = np.empty(N, dtype=np.int64)
        taus = np.empty(N)
        for t in range(Htot):
            for i in range(N):
                d[i] = X[p, t, i] - mu[i]
            for i in range(N):  # z = Q^T d
                z[i] = 0.0
            for r in range(N):
                dr = d[r]
                for i in range(N):
                    z[i] += Q[r, i] * dr
            if t >= burn_in:
                fl = floor_rel * D[N - 1]
                if D[0] < fl:
                    hits[p] += 1
                for i in range(N):
                    y[i] = z[i] / np.sqrt(max(D[i], fl))
                _matvec(Q, y, v)  # v = Q y
                _matvec(root_star, v, y)  # y = Sigma*^{1/2} v
                for r in range(N):
                    out[p, t - burn_in, r] = mu_star[r] + y[r]
            if t == Htot - 1:
                break  # the state after the last output period is never used
            for i in range(N):
                mu[i] = lam * mu[i] + (1.0 - lam) * X[p, t, i]
            _rank1_update(D, Q, z, 1.0 - lam, lam, idx, dk, zk, Qk, W, U, lamk, orig, taus)
    return out, hits


# --------------------------------------------------------------------------- Cholesky kernel
@njit(cache=True)
def _chol_update(L, v, scale):
    """In place: L L^T <- scale * (L L^T + v v^T) (v is overwritten)."""
    N = L.shape[0]
    for k in range(N):
        r = np.hypot(L[k, k], v[k])
        c = r / L[k, k]
        s = v[k] / L[k, k]
        L[k, k] = r
        for i in range(k + 1, N):
            L[i, k] = (L[i, k] + s * v[i]) / c
            v[i] = c * v[i] - s * L[i, k]
    sq = np.sqrt(scale)
    for i in range(N):
        for j in range(i + 1):
            L[i, j] *= sq


# error_model="numpy": see recolor_eigh
@njit(cache=True, parallel=True, error_model="numpy")
def recolor_cholesky(X, mu0, S0, mu_star, chol_star, lam, floor_rel, burn_in):
    """Non-symmetric variant A_t = L* L_t^{-1} with O(N^2) Cholesky rank-one updates.

    The floor acts on the Cholesky pivots: a pivot below sqrt(floor_rel) times
    the largest pivot is raised to it for the solve (counted as a floor hit).
    """
    P, Htot, N = X.shape
    H = Htot - burn_in
    out = np.empty((P, H, N))
    hits = np.empty(P, dtype=np.int64)  # not np.zeros: see recolor_eigh
    L0 = np.linalg.cholesky(S0)
    sf = np.sqrt(1.0 - lam)
    for p in prange(P):
        hits[p] = 0
        mu, L = _fresh_state(mu0, L0)
        d = np.empty(N)
        y = np.empty(N)
        v = np.empty(N)
        for t in range(Htot):
            for i in range(N):
                d[i] = X[p, t, i] - mu[i]
            if t >= burn_in:
                pmax = 0.0
                for i in range(N):
                    pmax = max(pmax, L[i, i])
                fl = np.sqrt(floor_rel) * pmax
                hit = False
                for i in range(N):  # forward solve L y = d
                    acc = d[i]
                    for j in range(i):
                        acc -= L[i, j] * y[j]
                    piv = L[i, i]
                    if piv < fl:
                        piv = fl
                        hit = True
                    y[i] = acc / piv
                if hit:
                    hits[p] += 1
                for i in range(N):
                    acc = mu_star[i]
                    for j in range(i + 1):
                        acc += chol_star[i, j] * y[j]
                    out[p, t - burn_in, i] = acc
            for i in range(N):
                mu[i] = lam * mu[i] + (1.0 - lam) * X[p, t, i]
                v[i] = sf * d[i]
            _chol_update(L, v, lam)
    return out, hits


KERNELS = {"eigh": recolor_eigh, "rank1": recolor_rank1, "cholesky": recolor_cholesky}
