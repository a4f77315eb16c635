"""Validated inputs of the multiple-benchmark problem and factor-form risk arithmetic.

Everything is annual and decimal: variances in (return)^2 per year, tracking
errors as annual standard deviations (0.01 = 1 %).  The asset covariance is
never formed: with the multi-factor model of seed eq. (3),

    r_i - r_f = sum_k b_ki f_k + eps_i,   Cov(f, eps) = 0,  Cov(eps_i, eps_j) = 0 (i != j),

the covariance is ``Sigma = B F B' + diag(s)`` and every variance of an
active-weight vector ``x`` is computed as

    x' Sigma x = || Fh B' x ||^2 + sum_i s_i x_i^2,   F = Fh' Fh,

with ``Fh`` a K x K square root of the factor covariance.  The same stacked
matrix ``[Fh B' ; diag(sqrt s)]`` gives the one second-order cone per
tracking-error limit used by the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyxl.errors import InputError

__all__ = ["MBPData", "factor_root", "make_data", "HELD_THRESHOLD"]

#: A name counts as held when its weight exceeds this in absolute value (1e-7 =
#: 0.00001 % of the portfolio, 100 yen per 1 billion yen), and a segment's net weight
#: at or below it has no within-segment TE.  Clarabel leaves names at their zero bound
#: below about 1e-9, while the smallest synthetic benchmark weight is about 1.3e-7;
#: counts are stable between 1e-8 and 1e-6 up to a handful of names.  With the less
#: accurate SCS fallback, raise the threshold.
HELD_THRESHOLD = 1e-7

#: Relative tolerance for "sums to one" and for the PSD check of F.
_SUM_TOL = 1e-6
_PSD_TOL = 1e-10
#: Largest annual variance of an asset or a factor (a volatility of 100 = 10,000 % a
#: year).  Principled bound: no traded asset is that volatile, so a larger variance is a
#: typo (a percent squared, 400 for 20 %); and the optimiser writes its cones in percent
#: against TE limits below 100 %, with solver tolerances of ~1e-8, so risk rows beyond
#: this scale leave the active weights unresolved (exposures of 1e20 gave wrong weights).
MAX_VARIANCE = 1e4


def factor_root(factor_cov: np.ndarray, name: str = "factor_cov") -> np.ndarray:
    """A K x K matrix ``Fh`` with ``Fh' Fh = F`` (symmetric eigen square root).

    Parameters
    ----------
    factor_cov : (K, K) array
        Annual factor covariance; must be symmetric positive semidefinite.
    name : str
        Argument name for error messages.

    Raises
    ------
    InputError
        When F is not symmetric or has an eigenvalue below
        ``-1e-10 * max(|eigenvalue|)`` (not positive semidefinite).
    """
    F = np.asarray(factor_cov, dtype=float)
    if F.ndim != 2 or F.shape[0] != F.shape[1]:
        raise InputError(name, f"is {F.shape[0]}x{F.shape[1]}", "enter a square K x K matrix")
    scale = max(float(np.max(np.abs(F))), 1e-300)
    if np.max(np.abs(F - F.T)) > 1e-8 * scale:
        raise InputError(name, "is not symmetric", "enter a symmetric covariance matrix")
    F = 0.5 * (F + F.T)
    lam, V = np.linalg.eigh(F)
    if lam[0] < -_PSD_TOL * max(abs(lam[-1]), 1e-300):
        raise InputError(
            name, f"is not positive semidefinite (eigenvalue {lam[0]:.3g})",
            "enter a valid covariance matrix",
        )
    lam = np.clip(lam, 0.0, None)
    return (np.sqrt(lam)[:, None] * V.T)


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy of ``a`` (``a`` itself when already read-only)."""
    a = np.asarray(a)
    if a.flags.writeable:
        a = a.copy()
        a.setflags(write=False)
    return a


@dataclass(frozen=True)
class MBPData:
    """Benchmark, segments and factor risk model, validated and precomputed.

    Attributes
    ----------
    bench_w : (N,) benchmark weights w^T, >= 0, sum 1.
    segment : (N,) int segment index 0..M-1 (label - 1).
    exposures : (N, K) factor exposures B.
    factor_cov : (K, K) annual factor covariance F.
    spec_var : (N,) annual specific variances s.
    n_segments : M.
    G : (K, N) ``Fh B'``: factor part of the risk root.
    Fh : (K, K) square root of F, ``Fh' Fh = F``.
    sqrt_s : (N,) ``sqrt(s)``.
    seg_bench : (M,) benchmark segment weights W^T_m = sum_{i in G_m} w^T_i.
    y_bench : (N,) within-segment benchmark weights y**_{m i} = w^T_i / W^T_m.
    members : list of index arrays, one per segment.
    """

    bench_w: np.ndarray
    segment: np.ndarray
    exposures: np.ndarray
    factor_cov: np.ndarray
    spec_var: np.ndarray
    n_segments: int
    G: np.ndarray = field(repr=False)
    sqrt_s: np.ndarray = field(repr=False)
    seg_bench: np.ndarray = field(repr=False)
    y_bench: np.ndarray = field(repr=False)
    members: tuple = field(repr=False)
    Fh: np.ndarray | None = field(repr=False, default=None)
    #: Asset labels when ``bench_w`` was a labelled Series (pandas index), else None;
    #: :class:`pyxl.core.mbp.optimize.MBPProblem` puts a labelled ``alpha`` in this order.
    asset_labels: Any = field(repr=False, default=None)

    def __post_init__(self) -> None:
        # The arrays are read-only copies: optimisers and the polish keep per-problem
        # state derived from them, which an in-place change would leave stale.
        for name in ("bench_w", "segment", "exposures", "factor_cov", "spec_var", "G",
                     "sqrt_s", "seg_bench", "y_bench", "Fh"):
            a = getattr(self, name)
            if isinstance(a, np.ndarray):
                object.__setattr__(self, name, _frozen(a))
        object.__setattr__(self, "members", tuple(_frozen(m) for m in self.members))

    @property
    def n(self) -> int:
        """Number of assets N."""
        return int(self.bench_w.size)

    @property
    def k(self) -> int:
        """Number of factors K."""
        return int(self.exposures.shape[1])

    # -- risk arithmetic (numpy, independent of the optimiser) -------------------------
    def factor_part(self, x: np.ndarray) -> np.ndarray:
        """``Fh B' x`` for one vector (N,) or the columns of a matrix (N, J)."""
        return self.G @ x

    def cov(self, x: np.ndarray, y: np.ndarray) -> float:
        """Covariance ``x' Sigma y`` of the returns of two weight vectors (factor form)."""
        return float(self.factor_part(x) @ self.factor_part(y) + np.sum(self.spec_var * x * y))

    def te(self, x: np.ndarray) -> float:
        """Annual tracking error ``sqrt(x' Sigma x)`` of an active-weight vector ``x``."""
        return float(np.sqrt(max(self.cov(x, x), 0.0)))

    def seg_sums(self, w: np.ndarray) -> np.ndarray:
        """Segment weights W_m = sum_{i in G_m} w_i."""
        return np.bincount(self.segment, weights=w, minlength=self.n_segments)

    def within_active(self, w: np.ndarray, m: int) -> np.ndarray:
        """``v_m = w_{G_m} - W_m y**_m`` embedded in N-space (zero outside G_m).

        ``v_m = W_m (y*_m - y**_m)``: the segment-normalised active weights of
        seed eq. (5) times the segment weight, defined even when W_m = 0.
        """
        idx = self.members[m]
        v = np.zeros(self.n)
        v[idx] = w[idx] - w[idx].sum() * self.y_bench[idx]
        return v

    def within_te(self, w: np.ndarray, m: int) -> float:
        """Within-segment TE of seed eq. (5): TE of y*_m against y**_m (annual decimal).

        With ``y*_m = w_{G_m} / W_m`` this is ``TE(v_m) / |W_m|``; it is defined for a
        net short segment (W_m < 0) too.  NaN when |W_m| is at or below the names-held
        threshold (1e-7): at W_m = 0 it is undefined, and a long-short segment that nets
        to zero (+0.1, +0.2, -0.3) sums to rounding noise such as 5.6e-17.
        """
        Wm = float(w[self.members[m]].sum())
        if abs(Wm) <= HELD_THRESHOLD:
            return float("nan")
        return self.te(self.within_active(w, m)) / abs(Wm)

    def allocation_active(self, w: np.ndarray) -> np.ndarray:
        """``u = sum_m (W_m - W^T_m) y**_m``: the segment-allocation active weights."""
        z = self.seg_sums(w) - self.seg_bench
        return z[self.segment] * self.y_bench

    def segment_te(self, w: np.ndarray) -> float:
        """Segment TE (seed eq. 4): TE of the allocation bet ``u``."""
        return self.te(self.allocation_active(w))

    def dense_cov(self) -> np.ndarray:
        """The N x N covariance ``B F B' + diag(s)`` (tests and the dense benchmark only)."""
        return self.exposures @ self.factor_cov @ self.exposures.T + np.diag(self.spec_var)


def _vec(x, name: str, n: int | None) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(name, "holds values that are not numbers",
                         "enter numbers (segments as whole numbers 1..M)") from None
    if n is not None and a.size != n:
        raise InputError(name, f"has {a.size} values, expected {n}", "match the number of assets")
    if not np.all(np.isfinite(a)):
        raise InputError(name, "contains NaN or infinite values", "enter finite numbers")
    return a


def make_data(
    bench_w,
    segment,
    exposures,
    factor_cov,
    spec_var,
    *,
    names: dict[str, str] | None = None,
) -> MBPData:
    """Validate the benchmark and risk-model inputs and precompute the factor root.

    Parameters
    ----------
    bench_w : (N,) array
        Benchmark weights w^T: >= 0 and summing to 1 (within 1e-6; then
        rescaled to sum exactly to 1).
    segment : (N,) array
        Segment label of each asset, whole numbers 1..M; every label 1..M must
        occur and every segment must have positive benchmark weight.
    exposures : (N, K) array
        Factor exposures B.
    factor_cov : (K, K) array
        Annual factor covariance F (symmetric PSD).
    spec_var : (N,) array
        Annual specific variances s >= 0.
    names : dict, optional
        Argument names to use in messages (keys ``bench_w``, ``segment``,
        ``exposures``, ``factor_cov``, ``spec_var``).

    Raises
    ------
    InputError
        Shape mismatch, non-PSD F, negative variances, labels outside 1..M, or an
        asset or factor variance above :data:`MAX_VARIANCE` (a vol of 10,000 % a
        year, see there why the bound is principled).
    """
    nm = {"bench_w": "bench_w", "segment": "segment", "exposures": "exposures",
          "factor_cov": "factor_cov", "spec_var": "spec_var"}
    if names:
        nm.update(names)
    from pyxl.core.labels import as_vector

    bench_w, segment, spec_var = as_vector(bench_w), as_vector(segment), as_vector(spec_var)
    labels = asset_labels(bench_w)
    segment, exposures, spec_var, factor_cov = _by_label(labels, segment, exposures, spec_var,
                                                         factor_cov, nm)
    wT = _vec(bench_w, nm["bench_w"], None)
    n = wT.size
    if n < 2:
        raise InputError(nm["bench_w"], f"has {n} asset", "enter at least 2 assets")
    if np.any(wT < 0):
        raise InputError(nm["bench_w"], f"has a negative weight ({wT.min():g})",
                         "enter benchmark weights >= 0")
    tot = wT.sum()
    if abs(tot - 1.0) > _SUM_TOL:
        raise InputError(nm["bench_w"], f"sums to {tot:.8g}, expected 1",
                         "divide the weights by their sum")
    wT = wT / tot
    seg_raw = _vec(segment, nm["segment"], n)
    if np.any(seg_raw > n):  # labels 1..M with M <= n; checked before the int64 cast
        raise InputError(nm["segment"], f"label {seg_raw[np.argmax(seg_raw > n)]:g} is more "
                         f"than the number of assets ({n})", "label segments 1..M")
    if np.any(seg_raw != np.round(seg_raw)) or np.any(seg_raw < 1):
        bad = seg_raw[(seg_raw != np.round(seg_raw)) | (seg_raw < 1)][0]
        raise InputError(nm["segment"], f"label {bad:g} is not a whole number >= 1",
                         "label segments 1..M")
    seg = seg_raw.astype(np.int64) - 1
    M = int(seg.max()) + 1
    counts = np.bincount(seg, minlength=M)
    if np.any(counts == 0):
        missing = int(np.argmax(counts == 0)) + 1
        raise InputError(nm["segment"], f"labels skip segment {missing} (max label {M})",
                         "label segments consecutively 1..M")
    # row-major whatever the caller's layout (a DataFrame's values are column-major): the
    # solver's sums round in memory order, and the weights moved by up to 3e-14 from
    # those of =MBP_OPTIMIZE, whose cells arrive row-major
    B = np.ascontiguousarray(exposures, dtype=float)
    if B.ndim == 1:
        B = B[:, None]
    if B.ndim != 2 or B.shape[0] != n:
        raise InputError(nm["exposures"], f"has {B.shape[0]} rows, expected {n}",
                         "one row of exposures per asset")
    if not np.all(np.isfinite(B)):
        raise InputError(nm["exposures"], "contains NaN or infinite values", "enter finite numbers")
    F = np.ascontiguousarray(factor_cov, dtype=float)
    if F.ndim != 2 or F.shape != (B.shape[1], B.shape[1]):
        raise InputError(nm["factor_cov"], f"is {F.shape[0]}x{F.shape[-1]}, expected "
                         f"{B.shape[1]}x{B.shape[1]}", "one row and column per factor")
    if not np.all(np.isfinite(F)):
        raise InputError(nm["factor_cov"], "contains NaN or infinite values",
                         "enter finite numbers")
    fix = "enter annual variances (0.04 = 20 % vol squared)"
    if np.any(np.abs(F) > MAX_VARIANCE):
        k = int(np.argmax(np.abs(F).max(axis=1) > MAX_VARIANCE))
        raise InputError(nm["factor_cov"], f"row {k + 1} holds "
                         f"{np.abs(F[k]).max():g}, more than {MAX_VARIANCE:g} (a vol of "
                         "10,000 % a year)", fix)
    Fh = factor_root(F, nm["factor_cov"])
    s = _vec(spec_var, nm["spec_var"], n)
    if np.any(s < 0):
        raise InputError(nm["spec_var"], f"has a negative variance ({s.min():g})",
                         "enter variances >= 0")
    if np.any(s > MAX_VARIANCE):
        i = int(np.argmax(s > MAX_VARIANCE))
        raise InputError(nm["spec_var"], f"item {i + 1} is {s[i]:g}, more than "
                         f"{MAX_VARIANCE:g} (a vol of 10,000 % a year)", fix)
    with np.errstate(over="ignore", invalid="ignore"):
        G = Fh @ B.T
        var_f = np.einsum("kn,kn->n", G, G)  # diag(B F B'): each asset's factor variance
    if not np.all(var_f <= MAX_VARIANCE):
        i = int(np.argmax(~(var_f <= MAX_VARIANCE)))
        raise InputError(nm["exposures"], f"row {i + 1} gives a factor variance of "
                         f"{var_f[i]:g} (b' F b), more than {MAX_VARIANCE:g} with "
                         f"{nm['factor_cov']}", "check the exposures and their units")
    segW = np.bincount(seg, weights=wT, minlength=M)
    if np.any(segW <= 0):
        bad = int(np.argmax(segW <= 0)) + 1
        raise InputError(nm["bench_w"], f"segment {bad} has zero benchmark weight",
                         "every segment needs benchmark weight > 0")
    y = wT / segW[seg]
    members = tuple(np.flatnonzero(seg == m) for m in range(M))
    F = 0.5 * (F + F.T)
    return MBPData(
        bench_w=wT, segment=seg, exposures=B, factor_cov=F, spec_var=s, n_segments=M,
        G=np.ascontiguousarray(G), sqrt_s=np.sqrt(s), seg_bench=segW, y_bench=y,
        members=members, Fh=Fh, asset_labels=labels,
    )


def asset_labels(x) -> Any:
    """The labels of a pandas Series (not a default 0..n-1 index), else None."""
    import pandas as pd

    if isinstance(x, pd.Series) and not (isinstance(x.index, pd.RangeIndex)
                                         and x.index.start == 0 and x.index.step == 1):
        return x.index
    return None


def in_asset_order(x, data: MBPData, name: str):
    """A labelled per-asset input in the order of ``data``'s asset labels (a labelled
    ``bench_w``): a Series, or a one-column / one-row DataFrame, is reordered by label
    and refused when labelled otherwise (:func:`pyxl.core.labels.target_order`);
    anything else is returned as it is (by position)."""
    import pandas as pd

    from pyxl.core.labels import as_vector, in_order

    x = as_vector(x)
    if data.asset_labels is None or not isinstance(x, pd.Series):
        return x
    return in_order(x, [(data.asset_labels, "labels of bench_w")], name)


def _by_label(labels, segment, exposures, spec_var, factor_cov, nm: dict[str, str]):
    """Per-asset inputs in the order of a labelled ``bench_w``, and a factor covariance
    DataFrame in the order of the exposure columns (:func:`pyxl.core.labels.target_order`);
    taken by position, a Series in another order paired every name with another's data."""
    import pandas as pd

    from pyxl.core.labels import in_order, square_in_order

    if labels is not None:
        ref = [(labels, "labels of bench_w")]
        if isinstance(segment, pd.Series):
            segment = in_order(segment, ref, nm["segment"])
        if isinstance(spec_var, pd.Series):
            spec_var = in_order(spec_var, ref, nm["spec_var"])
        if isinstance(exposures, (pd.DataFrame, pd.Series)):  # a Series: one factor
            exposures = in_order(exposures, ref, nm["exposures"])
    if isinstance(exposures, pd.DataFrame) and isinstance(factor_cov, pd.DataFrame):
        factor_cov = square_in_order(factor_cov, [(exposures.columns, "exposure columns")],
                                     nm["factor_cov"])
    return segment, exposures, spec_var, factor_cov
