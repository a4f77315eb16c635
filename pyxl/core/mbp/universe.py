"""A synthetic, seeded universe shaped like the TSE First Section (seed section 3).

Not real data: a reproducible stand-in with the features that drive seed Table 1.

* N names (default 1,700) with lognormal market caps, sorted largest first,
  capitalisation-weighted benchmark (TOPIX-like concentration: with the default
  seed the top 100 hold 61 %, names 101-500 29 %, the rest 10 %).
* Segments by cap rank: 1 = top 100, 2 = 101-500, 3 = 501+ (seed section 3).
* Factors (K = 4 + 33 = 37): market (beta), size (standardised log cap), value,
  momentum, and 33 industry dummies (TSE has 33 sectors).  Annual factor vols:
  market 18 %, size 5 %, value 4 %, momentum 6 %, industries 5-8 %, with mild
  correlations; the factor covariance is built positive definite.
* Specific risk rises as cap falls: annual specific vol
  ``spec_vol_i = 0.25 * exp(-0.4 * size_i)`` clipped to [12 %, 80 %]
  (12-15 % for the largest names, 20-80 % for small caps).
* Alpha from the information-coefficient model ``alpha_i = IC * vol * z_i``
  with z a cross-sectionally standardised normal score and IC = 0.05.
  ``alpha_vol="common"`` (default) uses one vol for every name (the median
  specific vol): small caps then offer the same alpha for more specific risk,
  which is what makes an SBP drop them and reproduces the shape of seed
  Table 1.  ``alpha_vol="specific"`` is Grinold's ``IC * spec_vol_i * z_i``
  (equal risk-adjusted opportunity per name; the small-cap effect is milder).
  Only the direction of alpha matters to the optimiser, so IC only scales
  the reported alpha.

All randomness comes from one ``numpy.random.Generator`` seeded through
``SeedSequence(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Universe", "make_universe", "SEGMENT_BREAKS"]

#: Cap-rank breaks of the seed's segments: top 100, 101-500, 501+.
SEGMENT_BREAKS = (100, 500)
N_INDUSTRIES = 33


@dataclass(frozen=True)
class Universe:
    """A synthetic universe (all annual decimals)."""

    caps: np.ndarray
    bench_w: np.ndarray
    segment: np.ndarray  # labels 1..M
    exposures: np.ndarray
    factor_cov: np.ndarray
    spec_var: np.ndarray
    alpha: np.ndarray
    factor_names: tuple[str, ...]

    @property
    def n(self) -> int:
        """Number of names."""
        return int(self.caps.size)


def _factor_cov(rng: np.random.Generator) -> np.ndarray:
    style_vol = np.array([0.18, 0.05, 0.04, 0.06])
    ind_vol = rng.uniform(0.05, 0.08, N_INDUSTRIES)
    vol = np.concatenate([style_vol, ind_vol])
    K = vol.size
    # correlation: a weak common component among industries plus small random loadings
    L = rng.normal(0.0, 0.15, (K, 3))
    L[4:, 0] += 0.45
    C = L @ L.T
    d = np.sqrt(np.diag(C) + 1.0)
    C = (C + np.eye(K)) / np.outer(d, d)  # unit diagonal, positive definite
    return C * np.outer(vol, vol)


def make_universe(
    n: int = 1700,
    seed: int = 2024,
    ic: float = 0.05,
    cap_sigma: float = 1.8,
    spec_slope: float = 0.4,
    alpha_vol: str = "common",
    breaks: tuple[int, ...] = SEGMENT_BREAKS,
) -> Universe:
    """Generate the synthetic TSE-like universe.

    Parameters
    ----------
    n : int
        Number of names (>= breaks[-1] + 1 for three non-empty segments).
    seed : int
        Seed for ``numpy.random.SeedSequence``.
    ic : float
        Information coefficient of the alpha model.
    cap_sigma : float
        Standard deviation of log market cap.
    breaks : tuple of int
        Cap ranks where segments change (default top 100 / 101-500 / 501+);
        ranks beyond ``n`` are dropped.

    Returns
    -------
    Universe
    """
    if n < 2:
        raise ValueError("n must be >= 2")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    log_cap = np.sort(rng.normal(0.0, cap_sigma, n))[::-1]
    caps = np.exp(log_cap) * 1e11  # yen, cosmetic
    bench_w = caps / caps.sum()
    cuts = [b for b in breaks if b < n]
    rank = np.arange(n)
    segment = 1 + np.searchsorted(np.asarray(cuts), rank, side="right")
    size = (log_cap - log_cap.mean()) / log_cap.std()
    beta = np.clip(rng.normal(1.0, 0.25, n), 0.3, 2.0)
    value = rng.standard_normal(n)
    momentum = rng.standard_normal(n)
    # industries: uneven sizes, as in the 33 TSE sectors
    probs = rng.dirichlet(np.full(N_INDUSTRIES, 2.0))
    ind = rng.choice(N_INDUSTRIES, size=n, p=probs)
    dummies = np.zeros((n, N_INDUSTRIES))
    dummies[np.arange(n), ind] = 1.0
    exposures = np.column_stack([beta, size, value, momentum, dummies])
    factor_cov = _factor_cov(rng)
    spec_vol = np.clip(0.25 * np.exp(-spec_slope * size), 0.12, 0.80)
    z = rng.standard_normal(n)
    z = (z - z.mean()) / z.std()
    if alpha_vol == "specific":
        alpha = ic * spec_vol * z
    elif alpha_vol == "common":
        alpha = ic * float(np.median(spec_vol)) * z
    else:
        raise ValueError("alpha_vol must be 'specific' or 'common'")
    names = ("market", "size", "value", "momentum") + tuple(
        f"industry_{j + 1:02d}" for j in range(N_INDUSTRIES))
    return Universe(caps=caps, bench_w=bench_w, segment=segment.astype(np.int64),
                    exposures=exposures, factor_cov=factor_cov, spec_var=spec_vol**2,
                    alpha=alpha, factor_names=names)
