"""Scenario generation: bootstrap -> EWMA recolour -> drift delta, chunked and streaming.

Seeding contract (reproducibility)
----------------------------------
Paths are generated in fixed groups of :data:`BLOCK_PATHS` paths.  Group ``b``
draws from ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(b,)))``,
which is exactly ``SeedSequence(seed).spawn(b + 1)[b]``.  A chunk is any run of
whole groups, so every path is bit-identical whatever the chunk size, the
number of numba threads (the kernels are parallel over independent paths) or
whether paths are kept in memory.  Pooled sums are formed per group and added
in group order, so the summaries are bit-identical too.

Two passes
----------
The drift delta needs the realised mean r_bar over *all* paths.  Pass 1
generates every group and accumulates r_bar (and the pooled covariance) per
group.  Pass 2 adds delta and computes the portfolio measures (terminal
wealth, drawdowns, fan chart) and streams paths to a sink; it reuses the
paths held in memory when ``keep_paths`` is true, otherwise it regenerates
them from the same seeds (twice the compute, constant memory).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pyxl.core import LOG_MAX
from pyxl.core.labels import check_time_order, is_positional
from pyxl.core.scenarios.bootstrap import METHODS, auto_block_length, bootstrap_indices
from pyxl.core.scenarios.diagnostics import (
    PERCENTILES,
    corr_from_cov,
    max_drawdown,
    pooled_moments_block,
    portfolio_paths,
)
from pyxl.core.scenarios.drift import drift_delta
from pyxl.core.scenarios.recolor import (
    recolor_cholesky,
    recolor_eigh,
    recolor_rank1,
    sym_sqrt,
)
from pyxl.core.scenarios.targets import TARGET_METHODS, rt_period_targets, to_annual, to_period
from pyxl.errors import InputError

__all__ = [
    "BLOCK_PATHS",
    "RECOLOR_METHODS",
    "ScenarioSpec",
    "ScenarioSet",
    "check_column_order",
    "generate",
    "group_rng",
    "validate_inputs",
]

#: Paths per seeding group (part of the reproducibility contract; do not change).
BLOCK_PATHS = 256
#: ``symmetric`` = exact symmetric root by rank-one eigen-updates (default);
#: ``symmetric-eigh`` = same map, one eigh per step; ``cholesky`` = L* L_t^-1;
#: ``none`` = plain bootstrap.
RECOLOR_METHODS = ("symmetric", "symmetric-eigh", "cholesky", "none")
#: Paths whose wealth is kept for the fan chart percentiles.
FAN_MAX_VALUES = 20_000_000

ProgressFn = Callable[[str, "float | None"], None]
Sink = Callable[[int, np.ndarray], None]


@dataclass(frozen=True)
class ScenarioSpec:
    """Settings of one scenario run (everything except the data).

    Attributes
    ----------
    n_paths : number of paths.
    block : bootstrap block length in periods; 0 = Politis-White automatic.
    horizon : periods per path; 0 = the history length T.
    lam : EWMA smoothing lambda in (0, 1).
    periods : periods per year P (12, 52, 252 ...).
    seed : root seed of the SeedSequence.
    method : ``moving`` (seed), ``circular`` or ``stationary``.
    target : annual-to-period conversion, see :mod:`.targets`.
    recolor : one of :data:`RECOLOR_METHODS`.
    burn_in : extra bootstrapped periods per path that only warm up the EWMA.
    eig_floor : relative eigenvalue floor for Sigma_t (fraction of its largest).
    ridge : rho of the drift delta.
    chunk_paths : paths per chunk (rounded up to whole groups of BLOCK_PATHS).
    """

    n_paths: int
    block: int = 0
    horizon: int = 0
    lam: float = 0.94
    periods: int = 12
    seed: int = 0
    method: str = "moving"
    target: str = "arithmetic"
    recolor: str = "symmetric"
    burn_in: int = 0
    eig_floor: float = 1e-10
    ridge: float = 0.0
    chunk_paths: int = 4096


@dataclass
class ScenarioSet:
    """Result of :func:`generate` (arrays are read-only)."""

    spec: ScenarioSpec
    tickers: list[str]
    portfolio_labels: list[str]
    block_length: int
    horizon: int
    mu_ann: np.ndarray
    cov_ann: np.ndarray
    mu_star: np.ndarray
    cov_star: np.ndarray
    weights: np.ndarray  # (K, N) portfolios reported (RT, or equal weight)
    rt_targets: np.ndarray  # (K,) per-period targets r*_k (NaN without RT)
    delta: np.ndarray  # (N,)
    r_bar: np.ndarray  # realised per-period mean before delta
    mean: np.ndarray  # realised per-period mean after delta
    cov: np.ndarray  # realised pooled per-period covariance
    floor_hits: int
    steps: int
    terminal: np.ndarray  # (n_paths, K) terminal wealth
    drawdown: np.ndarray  # (n_paths, K) max drawdown
    fan: np.ndarray  # (H + 1, 5, K) wealth percentiles per period (row 0 = start)
    fan_paths: int
    paths: np.ndarray | None = None  # (n_paths, H, N) when kept
    has_rt: bool = True
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        """One readable line: sizes, labels and settings, never the arrays themselves.

        The generated dataclass repr printed every array (paths, terminal wealth,
        drawdowns, fan): about 700 lines for 300 paths in a notebook cell.
        """
        s = self.spec
        n, k = len(self.tickers), len(self.portfolio_labels)
        kept = ("paths kept " + "x".join(map(str, self.paths.shape))
                if self.paths is not None else "paths not kept")
        return (f"ScenarioSet({s.n_paths} paths x {self.horizon} periods x {n} assets "
                f"[{_shown(self.tickers)}], {k} portfolio{'s' if k != 1 else ''} "
                f"[{_shown(self.portfolio_labels)}], {s.method} bootstrap, block "
                f"{self.block_length}, target {s.target}, recolour {s.recolor}, lam {s.lam:g}, "
                f"seed {s.seed}, {kept})")

    # ------------------------------------------------------------------ views
    def annual(self) -> tuple[np.ndarray, np.ndarray]:
        """Realised annual mean and covariance (inverse of the target conversion)."""
        return to_annual(self.mean, self.cov, self.spec.periods, self.spec.target)

    def summary_rows(self) -> list[list]:
        """The diagnostics table (labels in the first column), see docs/scenarios.md."""
        nan = float("nan")
        width = 8
        rows: list[list] = []

        def add(label, *vals):
            r = [label, *vals]
            rows.append(r + [nan] * (width - len(r)))

        s = self.spec
        add("paths", s.n_paths)
        add("horizon (periods)", self.horizon)
        add("periods per year", s.periods)
        add("block length", self.block_length)
        add("bootstrap", s.method)
        add("target conversion", s.target)
        add("recolour", s.recolor)
        add("lambda", s.lam)
        add("burn-in", s.burn_in)
        add("ridge", s.ridge)
        add("seed", s.seed)
        add("eigenvalue floor", s.eig_floor)
        add("floor hits (steps)", self.floor_hits)
        add("floor hit share", self.floor_hits / self.steps if self.steps else 0.0)
        m_ann, c_ann = self.annual()
        vol_t = np.sqrt(np.clip(np.diag(self.cov_ann), 0, None))
        vol_r = np.sqrt(np.clip(np.diag(c_ann), 0, None))
        # correlation error of asset i over the other assets j whose correlation is defined
        # (a zero-variance asset, e.g. cash in cov_ann, has none: NaN for its own row only)
        cerr = np.abs(corr_from_cov(c_ann) - corr_from_cov(self.cov_ann))
        add("asset", "mean target", "mean realised", "vol target", "vol realised",
            "corr err max", "corr err rms", "delta (period)")
        N = len(self.tickers)
        for i, t in enumerate(self.tickers):
            off = np.delete(cerr[i], i) if N > 1 else np.zeros(1)
            off = off[np.isfinite(off)]
            e_max = float(off.max()) if off.size else nan
            e_rms = float(np.sqrt(np.mean(off**2))) if off.size else nan
            add(t, self.mu_ann[i], m_ann[i], vol_t[i], vol_r[i], e_max, e_rms, self.delta[i])
        add("portfolio", "mean target", "mean realised", "period target", "period realised",
            "vol target", "vol realised")
        P = s.periods
        for k, lab in enumerate(self.portfolio_labels):
            w = self.weights[k]
            pr = float(w @ self.mean)
            add(lab, float(w @ self.mu_ann), (1.0 + pr) ** P - 1.0, float(self.rt_targets[k]),
                pr, float(np.sqrt(max(w @ self.cov_ann @ w, 0.0))),
                float(np.sqrt(max(w @ c_ann @ w, 0.0))))
        add("terminal wealth", *[f"p{int(q)}" for q in PERCENTILES], "mean")
        for k, lab in enumerate(self.portfolio_labels):
            add(lab, *np.percentile(self.terminal[:, k], PERCENTILES).tolist(),
                float(self.terminal[:, k].mean()))
        add("max drawdown", *[f"p{int(q)}" for q in PERCENTILES], "mean")
        for k, lab in enumerate(self.portfolio_labels):
            add(lab, *np.percentile(self.drawdown[:, k], PERCENTILES).tolist(),
                float(self.drawdown[:, k].mean()))
        return rows

    def fan_rows(self, k: int) -> list[list]:
        """Fan chart data of portfolio k (0-based): period, p5, p25, p50, p75, p95."""
        f = self.fan[:, :, k]
        return [[t, *f[t].tolist()] for t in range(f.shape[0])]


def _shown(labels: list, most: int = 6) -> str:
    """Comma-separated labels, the middle ones elided beyond ``most``."""
    items = [str(x) for x in labels]
    if len(items) > most:
        items = [*items[:most - 1], "...", items[-1]]
    return ", ".join(items)


def _rt_labels(rt_weights) -> list[str] | None:
    """Names of the RT portfolios carried by a pandas ``rt_weights``, else None.

    A DataFrame's row labels (``balanced``, ``growth``) or a Series' name
    (``W.loc["balanced"]``) name the portfolios in the summary, as the optional
    first column of names does in ``=MBB_RECOLOR``; a default 0..K-1 index names
    nothing (the summary then says RT1..RTK).
    """
    import pandas as pd

    if isinstance(rt_weights, pd.DataFrame):
        idx = rt_weights.index
        return None if is_positional(idx) else [str(x) for x in idx]
    if isinstance(rt_weights, pd.Series) and rt_weights.name is not None:
        return [str(rt_weights.name)]
    return None


def _check_labels(labels, count: int, name: str, what: str) -> None:
    """Refuse a label list whose length is not ``count`` (the summary would drop rows or
    fail); None or an empty list means the default labels."""
    if labels is not None and len(labels) and len(labels) != count:
        raise InputError(name, f"has {len(labels)} labels, expected {count}",
                         f"give one label per {what}")


def group_rng(seed: int, group: int) -> np.random.Generator:
    """Generator of seeding group ``group`` (== SeedSequence(seed).spawn(group+1)[group])."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(group,)))


def validate_inputs(returns, mu_ann, cov_ann, rt_weights=None):
    """Check shapes, finiteness, symmetry and PSD-ness; return float arrays.

    ``returns`` are simple per-period returns, so none may be below -1 (-100 %): a
    history typed in percent (5.2 for 5.2 %) is refused rather than recoloured.

    Raises
    ------
    InputError naming ``returns``, ``mu_ann``, ``cov_ann`` or ``rt_weights``.
    """
    # C order: pooled sums (and hence every result) must not depend on the memory layout
    R = np.ascontiguousarray(returns, dtype=float)
    if R.ndim != 2 or R.shape[0] < 2 or R.shape[1] < 1:
        raise InputError("returns", f"must be T x N with T >= 2, got shape {R.shape}",
                         "select the history of per-period returns")
    if not np.all(np.isfinite(R)):
        raise InputError("returns", "contains NaN or infinite values", "clean the history")
    if np.any(R < -1.0):
        # a simple return below -100 % is impossible: most likely percents typed as numbers
        t, j = (int(k) for k in np.argwhere(R < -1.0)[0])
        raise InputError("returns", f"{R[t, j]:g} at row {t + 1}, column {j + 1} is below "
                         "-100 %", "enter simple returns as decimals (0.052 for 5.2 %)")
    T, N = R.shape
    mu = np.asarray(mu_ann, dtype=float).ravel()
    if mu.size != N:
        raise InputError("mu_ann", f"has {mu.size} values, returns has {N} assets",
                         "give one annual mean per asset")
    if not np.all(np.isfinite(mu)):
        raise InputError("mu_ann", "contains NaN", "enter numbers")
    C = np.ascontiguousarray(cov_ann, dtype=float)
    if C.shape != (N, N):
        raise InputError("cov_ann", f"is {C.shape[0]}x{C.shape[1] if C.ndim > 1 else 1}, "
                         f"expected {N}x{N}", "one row and column per asset")
    if not np.all(np.isfinite(C)):
        raise InputError("cov_ann", "contains NaN", "enter numbers")
    scale = max(float(np.abs(C).max()), 1e-300)
    if np.abs(C - C.T).max() > 1e-10 * scale:
        raise InputError("cov_ann", "is not symmetric", "make it equal to its transpose")
    C = 0.5 * (C + C.T)
    wmin = float(np.linalg.eigvalsh(C).min())
    if wmin < -1e-10 * scale:
        raise InputError("cov_ann", f"is not positive semi-definite (min eigenvalue {wmin:.3g})",
                         "use a valid covariance matrix")
    with np.errstate(over="ignore", invalid="ignore"):
        var = np.var(R, axis=0)
    if not np.all(np.isfinite(var)):
        # the history's covariance (the EWMA start) overflows: no return is that large
        t, j = np.unravel_index(int(np.argmax(np.abs(R))), R.shape)
        raise InputError("returns", f"{R[t, j]:g} at row {t + 1}, column {j + 1} is too large "
                         "(the history's variance overflows)",
                         "enter simple returns as decimals (0.052 for 5.2 %)")
    if np.any(var <= 0.0):
        j = int(np.argmin(var))
        raise InputError("returns", f"column {j + 1} is constant", "drop it or fix the data")
    W = None
    if rt_weights is not None:
        W = np.ascontiguousarray(np.atleast_2d(np.asarray(rt_weights, dtype=float)))
        if W.shape[1] != N:
            raise InputError("rt_weights", f"has {W.shape[1]} columns, expected {N}",
                             "one row per RT portfolio, one column per asset")
        if not np.all(np.isfinite(W)):
            raise InputError("rt_weights", "contains NaN", "enter numbers")
    return R, mu, C, W


def check_column_order(tickers, head, name: str = "rt_weights") -> None:
    """Refuse labelled inputs that hold the assets of ``returns`` in another order.

    ``mu_ann``, ``cov_ann`` and RT weights are matched to the assets by position, so the
    same tickers in a different order would silently give each asset another's value.

    Parameters
    ----------
    tickers : list of str or None
        Column labels of ``returns`` (None or empty: nothing to check).
    head : list of str or None
        Labels of the other input along its asset axis.
    name : str
        Argument named in the error.

    Raises
    ------
    InputError naming ``name``.
    """
    if not tickers or not head or len(tickers) != len(head):
        return
    a = [str(t).strip().upper() for t in tickers]
    b = [str(h).strip().upper() for h in head]
    if a != b and sorted(a) == sorted(b):
        raise InputError(name, f"columns are in the order {', '.join(map(str, head))}, "
                         f"returns in {', '.join(map(str, tickers))}",
                         f"put the columns of {name} in the order of returns")


#: Standard deviations of log wealth kept inside double range (the normal mass beyond 8
#: sigma, 1.2e-15, is below double precision).
Z_WEALTH = 8.0


def check_scale(mu_star: np.ndarray, cov_star: np.ndarray, W: np.ndarray | None,
                r_star: np.ndarray | None, periods: int, horizon: int) -> None:
    """Refuse targets whose compounded wealth cannot be represented in double precision.

    Principled bound: every path compounds ``n = max(horizon, periods)`` per-period
    returns (the horizon, or the year the summary annualises over), so wealth is only
    representable when ``n ln(1 + |mu*|) <= ln(1.8e308) = 709.8`` (the target mean) and
    ``8 sqrt(n) sigma* <= 709.8`` (an 8-sigma path; sigma* the per-period target vol).
    Realistic inputs are far inside: a 1,000 % annual mean over 50 years of months, or
    an 8,000 % annual vol over a year, still pass.  The same holds for each RT portfolio
    (target ``r*_k``, variance ``w_k' Sigma* w_k``).

    Raises
    ------
    InputError naming ``mu_ann``, ``cov_ann`` or ``rt_weights``.
    """
    n = float(max(horizon, periods))
    fix = "enter annual decimals (0.08 = 8 %, variance 0.04 = 20 % vol)"
    with np.errstate(over="ignore", invalid="ignore"):
        growth = n * np.log1p(np.abs(mu_star))
        spread = Z_WEALTH * np.sqrt(n) * np.sqrt(np.clip(np.diag(cov_star), 0.0, None))
    where = f"over {int(n)} periods"
    bad = ~(growth <= LOG_MAX)
    if np.any(bad):
        i = int(np.argmax(bad))
        raise InputError("mu_ann", f"item {i + 1} compounds beyond 1e308 {where}", fix)
    if not np.all(np.isfinite(cov_star)) or np.any(~(spread <= LOG_MAX)):
        i = int(np.argmax(~(spread <= LOG_MAX)))
        raise InputError("cov_ann", f"item {i + 1}'s variance spreads wealth beyond 1e308 {where}",
                         fix)
    if W is None:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        pv = np.einsum("kn,nm,km->k", W, cov_star, W)
        ok = (np.isfinite(r_star) & (n * np.log1p(np.abs(r_star)) <= LOG_MAX)
              & (Z_WEALTH * np.sqrt(n) * np.sqrt(np.clip(pv, 0.0, None)) <= LOG_MAX))
    if not np.all(ok):
        k = int(np.argmin(ok))
        raise InputError("rt_weights", f"portfolio {k + 1}'s wealth overflows 1e308 {where}",
                         "enter weights as decimals (0.3 = 30 %)")


def _spec_checks(spec: ScenarioSpec, T: int) -> None:
    if spec.n_paths < 1:
        raise InputError("n_paths", f"must be >= 1, got {spec.n_paths}", "enter a positive count")
    if not 0.0 < spec.lam < 1.0:
        raise InputError("lam", f"must be in (0, 1), got {spec.lam:g}", "e.g. 0.94")
    if spec.periods < 1:
        raise InputError("periods", f"must be >= 1, got {spec.periods}", "12, 52 or 252")
    if spec.method not in METHODS:
        raise InputError("method", f"{spec.method!r} is not one of {', '.join(METHODS)}",
                         "pick one")
    if spec.target not in TARGET_METHODS:
        raise InputError("target", f"{spec.target!r} is not one of "
                         f"{', '.join(TARGET_METHODS)}", "pick one")
    if spec.recolor not in RECOLOR_METHODS:
        raise InputError("recolor", f"{spec.recolor!r} is not one of "
                         f"{', '.join(RECOLOR_METHODS)}", "pick one")
    if spec.block < 0 or spec.block > T:
        raise InputError("block", f"must be 0 (automatic) or 1..{T}, got {spec.block}",
                         "choose a block length up to the history length")
    if spec.horizon < 0:
        raise InputError("horizon", "must be >= 0", "0 means the history length")
    if spec.burn_in < 0:
        raise InputError("burn_in", "must be >= 0", "enter a whole number of periods")
    if not spec.ridge >= 0:  # NaN too: it ran as ridge 0 (and inf dropped the delta)
        raise InputError("ridge", f"must be >= 0, got {spec.ridge:g}", "enter 0 or more")
    if not np.isfinite(spec.ridge):
        raise InputError("ridge", f"must be finite, got {spec.ridge:g}",
                         "enter 0 (exact delta) or a positive ridge")
    if not 0.0 <= spec.eig_floor < 1.0:
        raise InputError("eig_floor", "must be in [0, 1)", "e.g. 1e-10")
    if spec.seed < 0:
        raise InputError("seed", "must be >= 0", "enter a non-negative integer")
    if spec.chunk_paths < 1:  # 0 or -5 ran silently as the smallest chunk
        raise InputError("chunk_paths", f"must be >= 1, got {spec.chunk_paths}",
                         f"enter paths per chunk, e.g. {ScenarioSpec.chunk_paths}")


class _Generator:
    """Generates groups of recoloured (pre-delta) paths deterministically."""

    def __init__(self, spec, R, mu_star, cov_star, block, horizon):
        self.spec = spec
        self.R = np.ascontiguousarray(R)
        self.block = block
        self.horizon = horizon
        self.mu_star = np.ascontiguousarray(mu_star)
        self.mu0 = R.mean(axis=0)
        self.S0 = np.cov(R, rowvar=False, ddof=1).reshape(R.shape[1], R.shape[1])
        if spec.recolor == "cholesky":
            try:
                self.root = np.linalg.cholesky(cov_star)
            except np.linalg.LinAlgError:
                raise InputError("cov_ann", "is singular, the Cholesky recolour needs it "
                                 "positive definite", "use recolor 'symmetric'") from None
            try:
                np.linalg.cholesky(self.S0)
            except np.linalg.LinAlgError:
                raise InputError("returns", "history covariance is singular (T <= N or "
                                 "collinear columns)", "use recolor 'symmetric'") from None
        else:
            self.root = np.ascontiguousarray(sym_sqrt(cov_star))

    def raw(self, group: int, n: int) -> np.ndarray:
        rng = group_rng(self.spec.seed, group)
        # always draw a whole group and keep its first n paths: the stationary scheme draws
        # its block breaks for every path before the block starts, so drawing n paths made
        # path i depend on n (the first paths of a 10-path and a 300-path run differed)
        idx = bootstrap_indices(rng, BLOCK_PATHS, self.spec.burn_in + self.horizon,
                                self.R.shape[0], self.block, self.spec.method)[:n]
        return self.R.take(idx, axis=0, mode="clip")  # indices are in range by construction

    def groups(self, g0: int, g1: int, n_paths: int) -> tuple[np.ndarray, int]:
        """Recoloured paths of groups g0..g1-1 (pre-delta) and floor-hit count."""
        parts = []
        for g in range(g0, g1):
            n = min(BLOCK_PATHS, n_paths - g * BLOCK_PATHS)
            parts.append(self.raw(g, n))
        X = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        s = self.spec
        if s.recolor == "none":
            return np.ascontiguousarray(X[:, s.burn_in:, :]), 0
        kern = {"symmetric": recolor_rank1, "symmetric-eigh": recolor_eigh,
                "cholesky": recolor_cholesky}[s.recolor]
        out, hits = kern(np.ascontiguousarray(X), self.mu0, self.S0, self.mu_star, self.root,
                         float(s.lam), float(s.eig_floor), int(s.burn_in))
        return out, int(hits.sum())


def _by_label(returns, mu_ann, cov_ann, rt_weights):
    """Targets in the order of a returns DataFrame's columns, by label (pandas semantics).

    A ``mu_ann`` Series (or one-column / one-row DataFrame), a ``cov_ann`` DataFrame
    (both axes), an ``rt_weights`` DataFrame (columns) or an ``rt_weights`` Series (one
    RT portfolio) labelled by the tickers in another order was used by position,
    recolouring each asset to another's target; labels that are not the tickers are
    refused (:func:`pyxl.core.labels.target_order`).
    """
    import pandas as pd

    from pyxl.core.labels import as_vector, in_order, square_in_order, target_order

    if not isinstance(returns, pd.DataFrame):
        return mu_ann, cov_ann, rt_weights
    ref = [(returns.columns, "return columns")]
    mu_ann = as_vector(mu_ann)
    if isinstance(mu_ann, pd.Series):
        mu_ann = in_order(mu_ann, ref, "mu_ann")
    if isinstance(cov_ann, pd.DataFrame):
        cov_ann = square_in_order(cov_ann, ref, "cov_ann")
    if isinstance(rt_weights, pd.DataFrame):
        order = target_order(rt_weights.columns, ref, "rt_weights")
        rt_weights = rt_weights if order is None else rt_weights[order]
    elif isinstance(rt_weights, pd.Series):
        rt_weights = in_order(rt_weights, ref, "rt_weights")
    return mu_ann, cov_ann, rt_weights


def generate(
    returns: np.ndarray,
    mu_ann: np.ndarray,
    cov_ann: np.ndarray,
    spec: ScenarioSpec,
    rt_weights: np.ndarray | None = None,
    *,
    tickers: list[str] | None = None,
    rt_labels: list[str] | None = None,
    keep_paths: bool = True,
    sink: Sink | None = None,
    progress: ProgressFn | None = None,
) -> ScenarioSet:
    """Run bootstrap -> recolour -> drift delta and compute the diagnostics.

    Parameters
    ----------
    returns : (T, N) per-period simple returns (the history).
    mu_ann : (N,) annual target means (decimal).
    cov_ann : (N, N) annual target covariance.
    spec : run settings.
    rt_weights : (K, N) RT portfolio weights (a Series: one portfolio), or None (no
        drift delta; the portfolio section then reports the equally weighted portfolio).
        With a returns DataFrame, labelled ``mu_ann``, ``cov_ann`` and ``rt_weights``
        meet its columns by label.
    tickers, rt_labels : labels for the summary (N and K of them).  By default the
        columns of a returns DataFrame and the row labels of an ``rt_weights``
        DataFrame (or the name of an ``rt_weights`` Series); else asset1..N, RT1..K.
    keep_paths : hold every final path in memory (``ScenarioSet.paths``);
        otherwise pass 2 regenerates them.
    sink : ``sink(first_path_index, paths_chunk)`` receives every chunk of
        final (post-delta) paths in order (streaming to disk).
    progress : ``progress(message, fraction)``.

    Returns
    -------
    ScenarioSet
    """
    check_time_order(returns, "returns")  # blocks copy consecutive rows: oldest first
    if rt_labels is None:
        rt_labels = _rt_labels(rt_weights)
    mu_ann, cov_ann, rt_weights = _by_label(returns, mu_ann, cov_ann, rt_weights)
    if tickers is None and hasattr(returns, "columns"):
        tickers = [str(c) for c in returns.columns]
    R, mu, C, W = validate_inputs(returns, mu_ann, cov_ann, rt_weights)
    T, N = R.shape
    _check_labels(tickers, N, "tickers", "column of returns")
    _check_labels(rt_labels if W is not None else None, 0 if W is None else W.shape[0],
                  "rt_labels", "row of rt_weights")
    _spec_checks(spec, T)
    block = spec.block if spec.block > 0 else auto_block_length(R, spec.method)
    H = spec.horizon if spec.horizon > 0 else T
    mu_star, cov_star = to_period(mu, C, spec.periods, spec.target)
    if np.linalg.eigvalsh(cov_star).min() < -1e-12 * max(np.abs(cov_star).max(), 1e-300):
        raise InputError("cov_ann", "per-period covariance from the lognormal match is not "
                         "positive semi-definite", "use target 'arithmetic'")
    if not (np.all(np.isfinite(mu_star)) and np.all(np.isfinite(cov_star))):
        raise InputError("mu_ann" if not np.all(np.isfinite(mu_star)) else "cov_ann",
                         "per-period target is not finite", "enter annual decimals")
    r_star = None if W is None else rt_period_targets(W, mu, spec.periods)
    check_scale(mu_star, cov_star, W, r_star, spec.periods, H)
    gen = _Generator(spec, R, mu_star, cov_star, block, H)
    n = spec.n_paths
    # per-path results of pass 2, allocated now so that a run too large for this
    # machine fails at once rather than after pass 1
    K = 1 if W is None else W.shape[0]
    try:
        terminal = np.empty((n, K))
        dd = np.empty((n, K))
    except MemoryError:
        raise InputError("n_paths", f"{n:,} paths need {2 * 8 * n * K / 1e9:.1f} GB for the "
                         "terminal wealth and drawdown of each path", "use fewer paths") from None
    n_groups = -(-n // BLOCK_PATHS)
    gpc = max(1, -(-spec.chunk_paths // BLOCK_PATHS))
    chunks = [(g, min(g + gpc, n_groups)) for g in range(0, n_groups, gpc)]
    if keep_paths and n * H * N > 400_000_000:
        raise InputError("n_paths", f"{n} paths x {H} x {N} is too large to keep in memory",
                         "stream to disk (keep_paths=False) or use fewer paths")
    prog = progress or (lambda m, f=None: None)
    two_pass = not keep_paths

    # ---- pass 1: r_bar and pooled covariance, per group in order
    cnt = 0
    s1 = np.zeros(N)
    s2 = np.zeros((N, N))
    hits = 0
    kept = np.empty((n, H, N)) if keep_paths else None
    for ci, (g0, g1) in enumerate(chunks):
        Y, h = gen.groups(g0, g1, n)
        hits += h
        for g in range(g0, g1):
            a = (g - g0) * BLOCK_PATHS
            b = min(a + BLOCK_PATHS, Y.shape[0])
            c_, v1, v2 = pooled_moments_block(Y[a:b], mu_star)
            cnt += c_
            s1 += v1
            s2 += v2
        if kept is not None:
            kept[g0 * BLOCK_PATHS: g0 * BLOCK_PATHS + Y.shape[0]] = Y
        prog("generating paths" if not two_pass else "pass 1: realised means",
             (ci + 1) / len(chunks) / (2 if two_pass else 1.25))
    if spec.eig_floor == 0.0 and not (np.all(np.isfinite(s1)) and np.all(np.isfinite(s2))):
        # only an unfloored singular Sigma_t divides by zero: history, targets and scale
        # are checked above, and a positive floor keeps every inverse root finite
        raise InputError("eig_floor", "0 leaves a singular EWMA covariance unfloored, so "
                         "recoloured returns are not finite",
                         "use eig_floor > 0, e.g. 1e-10")
    m1 = s1 / cnt
    r_bar = mu_star + m1
    cov_real = (s2 - cnt * np.outer(m1, m1)) / (cnt - 1)
    cov_real = 0.5 * (cov_real + cov_real.T)

    # ---- drift delta
    has_rt = W is not None
    if has_rt:
        delta = drift_delta(W, r_star, r_bar, spec.ridge)
        if not np.all(np.isfinite(delta)):
            raise InputError("rt_weights", "the drift delta is not finite (rows nearly "
                             "collinear or tiny)", "check rt_weights, or set ridge > 0")
        Wp = W
        labels = rt_labels or [f"RT{k + 1}" for k in range(W.shape[0])]
    else:
        r_star = np.full(1, np.nan)
        delta = np.zeros(N)
        Wp = np.full((1, N), 1.0 / N)
        labels = ["equal weight"]
    mean_post = r_bar + delta

    # ---- pass 2: add delta, portfolio measures, sink
    fan_paths = int(min(n, max(1, FAN_MAX_VALUES // max(H * K, 1))))
    fan_w = np.empty((fan_paths, H, K))
    for ci, (g0, g1) in enumerate(chunks):
        p0 = g0 * BLOCK_PATHS
        if kept is not None:
            p1 = min(g1 * BLOCK_PATHS, n)
            Y = kept[p0:p1]
            Y += delta
        else:
            Y, _ = gen.groups(g0, g1, n)
            Y += delta
            p1 = p0 + Y.shape[0]
        wealth = portfolio_paths(Y, Wp)
        terminal[p0:p1] = wealth[:, -1, :]
        dd[p0:p1] = max_drawdown(wealth)
        if p0 < fan_paths:
            m = min(p1, fan_paths) - p0
            fan_w[p0:p0 + m] = wealth[:m]
        if sink is not None:
            sink(p0, Y)
        prog("pass 2: delta and diagnostics" if two_pass else "diagnostics",
             0.5 + 0.5 * (ci + 1) / len(chunks) if two_pass else 0.8 + 0.2 * (ci + 1) /
             len(chunks))
    if not (np.all(np.isfinite(terminal)) and np.all(np.isfinite(dd))):
        # check_scale keeps the targets inside double range; this is the last guard
        raise InputError("horizon", f"portfolio wealth overflows within {H} periods",
                         "shorten the horizon, or check mu_ann, cov_ann and rt_weights")
    fan = np.empty((H + 1, len(PERCENTILES), K))
    fan[0] = 1.0
    fan[1:] = np.moveaxis(np.percentile(fan_w, PERCENTILES, axis=0), 0, 1)
    if kept is not None:
        kept.flags.writeable = False
    steps = n * H if spec.recolor != "none" else 0
    return ScenarioSet(
        spec=spec, tickers=list(tickers) if tickers else [f"asset{i + 1}" for i in range(N)],
        portfolio_labels=list(labels), block_length=block, horizon=H, mu_ann=mu, cov_ann=C,
        mu_star=mu_star, cov_star=cov_star, weights=Wp, rt_targets=r_star, delta=delta,
        r_bar=r_bar, mean=mean_post, cov=cov_real, floor_hits=hits, steps=steps,
        terminal=terminal, drawdown=dd, fan=fan, fan_paths=fan_paths, paths=kept,
        has_rt=has_rt,
    )
