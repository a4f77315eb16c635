"""Tracking-error decomposition of seed eqs. (1)-(2), read exactly.

Seed eq. (1) splits the active return of a fully invested portfolio into a
segment-allocation part and within-segment selection parts:

    r_P - r_T = sum_m W_m (r_m - r_T) + sum_m W_m sum_{i in G_m} y*_mi (r_i - r_m),

with W_m = sum_{i in G_m} w_i, y*_m = w_{G_m} / W_m and r_m = sum y**_mi r_i.
Since sum_m W^T_m r_m = r_T, the allocation part equals ``u' r`` with
``u = sum_m (W_m - W^T_m) y**_m`` (this form also holds when sum w != 1), and
the selection part of segment m equals ``v_m' r`` with
``v_m = w_{G_m} - W_m y**_m = W_m (y*_m - y**_m)``.  Then ``u + sum_m v_m = w - w^T``
exactly and the variance splits as (seed eq. 2)

    TE^2 = Var(u'r)                                  segment TE^2 (eq. 4)
         + sum_m W_m^2 TE_m^2                         TE_m: within-segment TE (eq. 5)
         + Delta_1                                    sum_{m != m'} Cov(v_m'r, v_m''r)
         + 2 Delta_2                                  Delta_2 = sum_m Cov(u'r, v_m'r).

Delta_1 sums over ordered pairs (both m,m' and m',m), as the seed writes it.
The seed's Delta_2 carries a stray ``y*_mi`` inside the sum over j; the exact
term is sum_{m,m'} W_m W_m' Cov(r_m - r_T, sum_j y*_m'j (r_j - r_m')), which is
the Delta_2 above (the stray factor is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pyxl.core.mbp.model import HELD_THRESHOLD, MBPData, in_asset_order
from pyxl.errors import InputError

__all__ = ["Decomposition", "decompose", "names_held", "HELD_THRESHOLD"]


def names_held(w: np.ndarray, threshold: float = HELD_THRESHOLD) -> int:
    """Number of weights above ``threshold`` in absolute value (a short position is held)."""
    return int(np.count_nonzero(np.abs(np.asarray(w)) > threshold))


@dataclass(frozen=True)
class Decomposition:
    """Tracking-error decomposition of one portfolio (all annual decimals).

    Attributes
    ----------
    market_te : TE of w - w^T.
    segment_te : segment (allocation) TE, seed eq. (4).
    within_te : (M,) within-segment TE of each segment, seed eq. (5), TE(v_m) / |W_m|
        (NaN if |W_m| or every |w_i| of the segment is at or below the names-held
        threshold: y*_m = w_{G_m} / W_m is then undefined or made of rounding noise).
    seg_weight, seg_bench : (M,) portfolio and benchmark segment weights.
    names_held, names_total : (M,) names held (|w_i| above the threshold) and names in
        each segment.
    segment_var : segment TE^2.
    within_var : (M,) W_m^2 TE_m^2 (the seed's second term, per segment).
    delta1, delta2 : cross terms; the identity uses 2 * delta2.
    total_var : market TE^2 computed directly.
    """

    market_te: float
    segment_te: float
    within_te: np.ndarray
    seg_weight: np.ndarray
    seg_bench: np.ndarray
    names_held: np.ndarray
    names_total: np.ndarray
    segment_var: float
    within_var: np.ndarray
    delta1: float
    delta2: float
    total_var: float

    @property
    def sum_of_terms(self) -> float:
        """segment TE^2 + sum W_m^2 TE_m^2 + Delta_1 + 2 Delta_2."""
        return float(self.segment_var + self.within_var.sum() + self.delta1 + 2.0 * self.delta2)

    @property
    def residual(self) -> float:
        """total TE^2 minus the sum of the terms (rounding only)."""
        return float(self.total_var - self.sum_of_terms)

    def rows(self) -> list[tuple[str, float]]:
        """(label, value) rows in display order; segments numbered 1..M."""
        M = self.within_te.size
        out: list[tuple[str, float]] = [("Market TE", self.market_te),
                                        ("Segment TE", self.segment_te)]
        out += [(f"Within-segment TE {m + 1}", self.within_te[m]) for m in range(M)]
        out += [(f"Portfolio weight {m + 1}", self.seg_weight[m]) for m in range(M)]
        out += [(f"Benchmark weight {m + 1}", self.seg_bench[m]) for m in range(M)]
        out += [(f"Names held {m + 1}", float(self.names_held[m])) for m in range(M)]
        out.append(("Names held", float(self.names_held.sum())))
        out.append(("Segment TE^2", self.segment_var))
        out += [(f"W^2 x within TE^2 {m + 1}", self.within_var[m]) for m in range(M)]
        out += [("Delta_1", self.delta1), ("2 x Delta_2", 2.0 * self.delta2),
                ("Sum of terms", self.sum_of_terms), ("Market TE^2", self.total_var),
                ("Residual", self.residual)]
        return out


def decompose(data: MBPData, w: np.ndarray, threshold: float = HELD_THRESHOLD) -> Decomposition:
    """Decompose the tracking error of portfolio ``w`` (seed eq. 2, exact reading above).

    Parameters
    ----------
    data : MBPData
        Benchmark, segments and risk model.
    w : (N,) array or Series
        Portfolio weights (decimals).  A Series labelled by the tickers of a labelled
        ``bench_w`` meets them by label, as ``alpha`` does in
        :func:`~pyxl.core.mbp.optimize.optimize`.
    threshold : float
        Weight (absolute value) above which a name counts as held; a segment whose
        net weight |W_m| is at or below it has no within-segment TE (NaN).
    """
    w = np.asarray(in_asset_order(w, data, "w"), dtype=float).ravel()
    if w.size != data.n or not np.all(np.isfinite(w)):
        raise InputError("w", f"must be {data.n} finite weights, got {w.size} values",
                         "one weight per asset of bench_w")
    M = data.n_segments
    a = w - data.bench_w
    u = data.allocation_active(w)
    V = np.column_stack([data.within_active(w, m) for m in range(M)])  # (N, M)
    # all covariances among [u, v_1..v_M] in factor form: C = X' Sigma X
    X = np.column_stack([u, V])
    FX = data.G @ X
    C = FX.T @ FX + (X * data.spec_var[:, None]).T @ X
    seg_w = data.seg_sums(w)
    within_var = np.diag(C)[1:].copy()
    # names held: |w_i| above the threshold (a short position is a name held too)
    held = np.bincount(data.segment, weights=(np.abs(w) > threshold).astype(float),
                       minlength=M)
    # y*_m = w_{G_m} / W_m needs a segment that is held (otherwise W_m is 0 up to solver
    # noise: an interior-point optimum leaves ~1e-10 on every name it drops) with a net
    # weight W_m above the same threshold (a long-short segment held +0.1, +0.2, -0.3 nets
    # to 5.6e-17, not 0, in floating point); else TE(v_m) / |W_m| is noise over noise
    defined = (held > 0) & (np.abs(seg_w) > threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        # TE(y*_m - y**_m) = TE(v_m) / |W_m|: defined for a net short segment too
        within_te = np.where(defined,
                             np.sqrt(np.clip(within_var, 0, None)) / np.abs(seg_w), np.nan)
    Cvv = C[1:, 1:]
    delta1 = float(Cvv.sum() - np.trace(Cvv))
    delta2 = float(C[0, 1:].sum())
    total_var = data.cov(a, a)
    return Decomposition(
        market_te=float(np.sqrt(max(total_var, 0.0))),
        segment_te=float(np.sqrt(max(C[0, 0], 0.0))),
        within_te=within_te,
        seg_weight=seg_w,
        seg_bench=data.seg_bench.copy(),
        names_held=held.astype(np.int64),
        names_total=np.bincount(data.segment, minlength=M),
        segment_var=float(C[0, 0]),
        within_var=within_var,
        delta1=delta1,
        delta2=delta2,
        total_var=total_var,
    )
