"""Closed-form Kelly leverage, growth, time-to-outperform and fractional-Kelly risk.

Units everywhere: annual decimals (0.085 = 8.5 % a year).  ``mu`` is the
*arithmetic* (instantaneous) expected return of the unlevered portfolio,
``sigma`` its volatility, ``rf`` the financing/deposit rate (continuously
compounded).  Growth rates returned are *log* (continuously compounded) rates.

The model is the one of seed 003: levering a portfolio ``n`` times gives
``mu(n) = n mu + (1 - n) rf`` and ``sigma(n) = n sigma`` and a growth rate

    g(n) = rf + n (mu - rf) - n^2 sigma^2 / 2,

which is the seed's second-order approximation of the geometric mean and is
*exact* for a continuously rebalanced geometric Brownian motion (Ito).  It is
maximised at the Kelly leverage ``n* = (mu - rf) / sigma^2 = S / sigma``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

from pyxl.errors import InputError

__all__ = [
    "kelly_leverage",
    "growth_approx",
    "growth_exact",
    "growth_scenarios",
    "log_wealth_gap",
    "horizon_years",
    "prob_outperform",
    "ruin_probability",
    "ruin_probability_finite",
    "time_to_double",
    "FractionRow",
    "fractional_table",
    "DISTRIBUTIONS",
    "Z_CUT",
]

#: Parametric distributions understood by :func:`growth_exact`.
DISTRIBUTIONS = ("lognormal", "normal")

#: The exact parametric growth integrates the standard-normal driver over
#: |z| <= Z_CUT: the mass outside (1.2e-15) is below double-precision resolution.
Z_CUT = 8.0

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(400)


def _check_one(**values: object) -> None:
    """Raise an :class:`InputError` naming the first argument that is not one number.

    The closed forms of this module are scalar (one asset, one leverage): an array,
    a list or a pandas Series reached ``float()`` or ``if x > 0`` and raised numpy's
    "only 0-dimensional arrays ..." or "truth value of an array is ambiguous", which
    named neither the argument nor the fix.
    """
    for name, value in values.items():
        if value is not None and np.ndim(value) > 0:
            raise InputError(name, f"must be one number, got an array of shape "
                             f"{np.shape(value)}",
                             "call once per asset or leverage (a loop or list comprehension)")


def _check_sigma(sigma: float, name: str = "sigma") -> None:
    _check_one(**{name: sigma})
    if not (sigma > 0 and math.isfinite(sigma)):
        raise InputError(name, f"must be > 0, got {sigma:g}", "enter the annual volatility")
    if sigma * sigma == 0:   # sigma^2 underflows: every formula divides by it
        raise InputError(name, f"{sigma:g} is too small (sigma^2 underflows)",
                         "enter annual decimals (0.182 = 18.2 %)")
    if not math.isfinite(sigma * sigma):   # sigma^2 overflows: every formula squares it
        raise InputError(name, f"{sigma:g} is too large (sigma^2 overflows)",
                         "enter annual decimals (0.182 = 18.2 %)")


def _check_finite(fix: str = "enter a decimal", /, **values: float | None) -> None:
    """Raise an :class:`InputError` naming the first argument that is NaN or infinite
    (``None`` is accepted: an omitted optional limit); ``fix`` is the message's fix."""
    _check_one(**values)
    for name, value in values.items():
        if value is not None and not math.isfinite(value):
            raise InputError(name, f"must be a finite number, got {value:g}", fix)


def scenario_probs(probs, t: int) -> np.ndarray:
    """Scenario probabilities: ``probs`` divided by their sum, or ``1/t`` each when None.

    Parameters
    ----------
    probs : (t,) array-like or None
        Non-negative weights of the ``t`` scenarios (any positive total).
    t : int
        Number of scenarios (rows of the returns).

    Returns
    -------
    (t,) numpy.ndarray
        Probabilities summing to 1.

    Raises
    ------
    InputError
        Naming ``probs`` when it has another length, a NaN, a negative value or a zero
        total (before, these reached the optimiser, whose breakdown blamed ``returns``,
        and negative weights gave weights without a word).
    """
    if probs is None:
        return np.full(t, 1.0 / t)
    p = np.asarray(probs, dtype=float).ravel()
    if p.size != t:
        raise InputError("probs", f"has {p.size} values for {t} scenarios",
                         "give one probability per row of returns")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
        raise InputError("probs", "must be finite, >= 0 and not all 0",
                         "enter scenario probabilities (or weights) >= 0")
    return p / p.sum()


def kelly_leverage(mu: float, sigma: float, rf: float, fraction: float = 1.0) -> float:
    """Kelly leverage ``fraction * (mu - rf) / sigma**2``.

    Parameters
    ----------
    mu : float
        Arithmetic expected annual return of the unlevered portfolio (decimal).
    sigma : float
        Annual volatility (decimal, > 0).
    rf : float
        Annual risk-free / financing rate (decimal).
    fraction : float
        Fraction of full Kelly (1 = full, 0.5 = half Kelly).

    Returns
    -------
    float
        Leverage n (1 = unlevered, 2 = borrow one unit per unit of equity).
    """
    _check_sigma(sigma)
    _check_finite(mu=mu, rf=rf)
    _check_one(fraction=fraction)
    if not (fraction > 0 and math.isfinite(fraction)):
        raise InputError("fraction", f"must be > 0, got {fraction:g}", "e.g. 0.5 for half Kelly")
    n = fraction * (mu - rf) / (sigma * sigma)
    if not math.isfinite(n):
        raise InputError("sigma", f"(mu - rf) / sigma^2 overflows (sigma {sigma:g})",
                         "enter annual decimals (0.182 = 18.2 %)")
    return n


def growth_approx(n: float | np.ndarray, mu: float, sigma: float, rf: float) -> float | np.ndarray:
    """Approximate (continuous-rebalancing exact) log growth ``rf + n(mu-rf) - n^2 sigma^2/2``.

    Raises
    ------
    InputError
        Naming ``sigma`` when sigma^2 overflows (see ``_check_sigma``), ``mu``/``rf``
        when not finite, and ``n`` when a leverage is so large that ``n^2 sigma^2``
        overflows: the growth is then below -1.8e308, not a number a cell can hold.
    """
    _check_sigma(sigma)
    _check_finite(mu=mu, rf=rf)
    n = np.asarray(n, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        g = rf + n * (mu - rf) - 0.5 * n * n * sigma * sigma
    if not np.all(np.isfinite(g)):
        bad = float(np.ravel(n)[~np.isfinite(np.ravel(g))][0])
        raise InputError("n", f"leverage {bad:g} with sigma {sigma:g} makes the growth "
                         "overflow (n^2 sigma^2 beyond 1e308)",
                         "check n and sigma (annual decimals, 0.182 = 18.2 %)")
    return float(g) if g.ndim == 0 else g


def growth_exact(
    n: float, mu: float, sigma: float, rf: float, dist: str = "lognormal", periods: int = 1
) -> float:
    """Exact expected log growth per year when rebalancing to leverage ``n`` each period.

    The year is cut into ``periods`` equal periods of length ``dt = 1/periods``.
    In each period the portfolio's simple return ``R`` is

    - ``"lognormal"``: ``ln(1 + R) ~ N((mu - sigma^2/2) dt, sigma^2 dt)`` (the GBM
      with arithmetic drift ``mu`` observed every ``dt``), or
    - ``"normal"``: ``R ~ N(mu dt, sigma^2 dt)``,

    cash earns ``exp(rf dt) - 1`` and the levered wealth multiplies by
    ``W = 1 + rf_p + n (R - rf_p)``.  Returned: ``periods * E[ln W]``.

    As ``periods`` grows the lognormal value tends to :func:`growth_approx`
    (exact for continuous rebalancing); with yearly rebalancing and high
    leverage it falls below it, and it is ``-inf`` once a period can wipe the
    account out (``W <= 0``).  The expectation is integrated over the driver
    ``|z| <= Z_CUT`` (8 standard deviations; the rest has probability 1.2e-15,
    below double precision), so "can wipe out" means "within 8 sigma".

    Returns
    -------
    float
        Annual expected log growth (``-inf`` when ruin is possible).
    """
    _check_sigma(sigma)
    _check_finite(n=n, mu=mu, rf=rf)
    _check_one(periods=periods)
    if dist not in DISTRIBUTIONS:
        raise InputError("model", f"{dist!r} is not one of {', '.join(DISTRIBUTIONS)}", "pick one")
    if periods < 1:
        raise InputError("periods", f"must be >= 1, got {periods}", "enter rebalances per year")
    dt = 1.0 / periods
    z = Z_CUT * _GL_NODES
    wts = Z_CUT * _GL_WEIGHTS * np.exp(-0.5 * z * z)
    wts = wts / wts.sum()
    if dist == "lognormal":
        r = np.expm1((mu - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * z)
    else:
        r = mu * dt + sigma * math.sqrt(dt) * z
    rfp = math.expm1(rf * dt)
    w = 1.0 + rfp + n * (r - rfp)
    ends = 1.0 + rfp + n * (np.array([r[0], r[-1]]) - rfp)
    if np.any(ends <= 0) or np.any(w <= 0):
        return -math.inf
    return float(periods * np.dot(wts, np.log(w)))


def growth_scenarios(
    n: float | np.ndarray, returns: np.ndarray, rf: float = 0.0, probs: np.ndarray | None = None
) -> float | np.ndarray:
    """Exact mean log growth per period on discrete scenarios (the seed's sum p_i ln(1+R_i)).

    Parameters
    ----------
    n : float or array
        Leverage(s) on the single-asset return series.
    returns : (T,) array
        Simple returns per period (one asset or one portfolio).
    rf : float
        Risk-free rate *per period*.
    probs : (T,) array, optional
        Scenario probabilities (default equal).

    Returns
    -------
    float or array
        ``sum_i p_i ln(1 + rf + n (R_i - rf))`` per period; ``-inf`` where a
        scenario leaves wealth <= 0.
    """
    r = np.asarray(returns, dtype=float).ravel()
    p = scenario_probs(probs, r.size)
    nn = np.atleast_1d(np.asarray(n, dtype=float))
    w = 1.0 + rf + nn[:, None] * (r[None, :] - rf)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(np.all(w > 0, axis=1), np.log(np.where(w > 0, w, 1.0)) @ p, -np.inf)
    return float(g[0]) if np.ndim(n) == 0 else g


def log_wealth_gap(
    n: float, n_b: float, mu: float, sigma: float, rf: float
) -> tuple[float, float]:
    """Drift and volatility per year of ``ln W_n - ln W_{n_b}`` for a continuously rebalanced GBM.

    ``drift = (n - n_b)(mu - rf) - (n^2 - n_b^2) sigma^2 / 2`` and
    ``vol = |n - n_b| sigma`` (both levered books hold the same asset, so the
    difference of their log wealths is a Brownian motion with these parameters).
    """
    _check_sigma(sigma)
    _check_finite("enter a number", n=n, n_b=n_b, mu=mu, rf=rf)
    # factored so leverages a few ulps apart keep their relative accuracy (n^2 - n_b^2
    # would cancel)
    drift = (n - n_b) * ((mu - rf) - 0.5 * (n + n_b) * sigma * sigma)
    return drift, abs(n - n_b) * sigma


def prob_outperform(
    years: float, n: float, n_b: float, mu: float, sigma: float, rf: float
) -> float:
    """P(leverage ``n`` is ahead of ``n_b`` after ``years``) = Phi(drift sqrt(T) / vol).

    Parameters
    ----------
    years : float
        Horizon T in years, finite and >= 0.
    n, n_b : float
        Leverages of the two books (0 = cash, 1 = the unlevered portfolio).
    mu, sigma, rf : float
        Arithmetic expected return, volatility and risk-free rate, annual decimals.

    Returns
    -------
    float
        ``Phi(D sqrt(T) / V)`` with ``D``, ``V`` from :func:`log_wealth_gap`
        (0.5 when the two books are the same).

    Raises
    ------
    InputError
        Naming ``years`` when it is negative or not finite (``sqrt(T)`` raised a bare
        "math domain error" before).
    """
    _check_finite("enter the horizon in years (>= 0)", years=years)
    if years < 0:
        raise InputError("years", f"must be >= 0, got {years:g}", "enter the horizon in years")
    drift, vol = log_wealth_gap(n, n_b, mu, sigma, rf)
    if vol == 0:
        return 0.5
    return float(ndtr(drift * math.sqrt(years) / vol))


def horizon_years(
    mu: float, sigma: float, rf: float, confidence: float = 0.95, vs_leverage: float = 0.0,
    leverage: float | None = None,
) -> float:
    """Years needed to be ``confidence``-sure leverage ``leverage`` beats ``vs_leverage``.

    Model: continuously rebalanced GBM (Rubinstein 1991).  With ``drift`` and
    ``vol`` from :func:`log_wealth_gap`, ``P(ln W_n(T) > ln W_nb(T)) =
    Phi(drift sqrt(T) / vol)``, so the horizon is ``T = (z_p vol / drift)^2``.
    For the Kelly leverage this simplifies to ``T = (2 z_p / ((n* - n_b) sigma))^2``.

    Inputs are arithmetic: ``mu`` is the arithmetic expected return (the same
    ``mu`` as :func:`kelly_leverage`).  A *log* (geometric / median) excess
    return ``m`` converts as ``mu - rf = m + sigma^2/2``.

    Raises
    ------
    InputError
        When ``leverage`` never beats ``vs_leverage`` (drift <= 0) or they are equal.
    """
    _check_sigma(sigma)
    _check_finite(mu=mu, rf=rf, vs_leverage=vs_leverage, leverage=leverage)
    _check_one(confidence=confidence)
    if not (0.5 < confidence < 1):
        raise InputError("confidence", f"must be in (0.5, 1), got {confidence:g}", "e.g. 0.95")
    n = kelly_leverage(mu, sigma, rf) if leverage is None else leverage
    if n == vs_leverage:
        if leverage is None:   # the user left leverage out: name what they did enter
            raise InputError("vs_leverage",
                             f"equals the Kelly leverage (mu - rf)/sigma^2 = {n:.3g}",
                             "compare against another leverage (0 = cash, 1 = the portfolio)")
        raise InputError("leverage", "equals vs_leverage", "compare two different leverages")
    drift, vol = log_wealth_gap(n, vs_leverage, mu, sigma, rf)
    other = 2 * (mu - rf) / sigma**2 - vs_leverage   # the gap is > 0 strictly between these
    if drift <= 0 and abs(other - vs_leverage) <= 1e-12 * max(1.0, abs(vs_leverage)):
        # vs_leverage is the Kelly leverage: the interval is empty, nothing out-grows it
        raise InputError(
            "vs_leverage",
            f"{vs_leverage:.3g} is the Kelly leverage, which no leverage out-grows",
            "compare against another leverage (0 = cash, 1 = the portfolio)",
        )
    if drift <= 0:
        raise InputError(
            "leverage",
            f"{n:.3g} never out-grows {vs_leverage:.3g} (growth gap {drift:.3g}/yr)",
            f"pick a leverage strictly between {vs_leverage:.3g} and {other:.3g}",
        )
    z = ndtri(confidence)
    return float((z * vol / drift) ** 2)


def ruin_probability(x: float, growth: float, vol: float) -> float:
    """P(wealth ever falls to ``x`` times its start) for GBM with log drift ``growth``, vol ``vol``.

    ``x**(2 growth / vol^2)`` for ``growth > 0`` and ``0 < x < 1``; 1 otherwise.
    """
    _check_one(drawdown=x, growth=growth, vol=vol)
    if not (0 < x < 1):
        raise InputError("drawdown", f"must be in (0, 1), got {x:g}", "e.g. 0.5 for halving")
    if vol <= 0:
        return 0.0 if growth >= 0 else 1.0
    if growth <= 0:
        return 1.0
    return float(x ** (2.0 * growth / (vol * vol)))


def ruin_probability_finite(x: float, growth: float, vol: float, years: float) -> float:
    """P(min over [0, T] of GBM wealth <= ``x``): first passage of a drifted Brownian motion.

    ``Phi((-b - g T)/(s sqrt T)) + exp(-2 g b / s^2) Phi((-b + g T)/(s sqrt T))``, ``b = -ln x``.

    Parameters
    ----------
    x : float
        Wealth level as a fraction of the start, in (0, 1).
    growth : float
        Log drift g of wealth a year (decimal).
    vol : float
        Volatility s of log wealth a year (decimal, >= 0).
    years : float
        Horizon T in years (>= 0).

    Returns
    -------
    float
        A probability in [0, 1] (with ``vol`` 0 the path is ``g t``: 1 if it reaches
        ``ln x`` by T, else 0).

    Raises
    ------
    InputError
        Naming ``drawdown`` outside (0, 1) (``x`` 1.5 gave a "probability" of 2.99),
        ``vol`` < 0 or ``years`` < 0 (``vol`` 0 raised ZeroDivisionError).
    """
    _check_finite("enter a decimal", drawdown=x, growth=growth, vol=vol, years=years)
    if not (0 < x < 1):
        raise InputError("drawdown", f"must be in (0, 1), got {x:g}", "e.g. 0.5 for halving")
    if vol < 0:
        raise InputError("vol", f"must be >= 0, got {vol:g}", "enter the volatility")
    if years < 0:
        raise InputError("years", f"must be >= 0, got {years:g}", "enter the horizon in years")
    b = -math.log(x)
    if vol == 0 or years == 0:   # no randomness (or no time): the path is g t
        return 1.0 if min(0.0, growth * years) <= -b else 0.0
    st = vol * math.sqrt(years)
    # the second term in logs: exp(-2 g b / s^2) overflows for g < 0 and a small s while
    # the product with Phi(...) stays <= 1
    second = math.exp(min(-2.0 * growth * b / (vol * vol)
                          + float(log_ndtr((-b + growth * years) / st)), 0.0))
    return float(min(1.0, ndtr((-b - growth * years) / st) + second))


def time_to_double(growth: float) -> float:
    """Expected first time wealth doubles, ``ln 2 / g`` years (``inf`` when ``g <= 0``)."""
    _check_one(growth=growth)
    return math.log(2.0) / growth if growth > 0 else math.inf


@dataclass(frozen=True)
class FractionRow:
    """One row of the fractional-Kelly risk table (see :func:`fractional_table`)."""

    fraction: float
    leverage: float
    growth: float
    growth_kept: float
    volatility: float
    prob_drawdown: float
    years_to_double: float


def fractional_table(
    mu: float, sigma: float, rf: float, drawdown: float = 0.5,
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
) -> list[FractionRow]:
    """Growth kept, volatility, drawdown probability and doubling time per Kelly fraction.

    For fraction ``f`` the leverage is ``n = f n*``; growth ``g = rf + n(mu-rf) - n^2 s^2/2``
    (log, nominal wealth); growth kept ``(g - rf)/(g* - rf) = 2f - f^2``; volatility ``n sigma``;
    probability of *ever* falling to ``drawdown`` x start wealth ``x^(2g/(n sigma)^2)``
    (``x^(2/f - 1)`` when rf = 0); expected time to double ``ln 2 / g``.
    """
    _check_sigma(sigma)
    _check_one(drawdown=drawdown)
    n_star = kelly_leverage(mu, sigma, rf)
    if not math.isfinite(0.5 * n_star * (mu - rf)):   # g* - rf = (mu - rf)^2 / (2 sigma^2)
        raise InputError("mu", f"mu - rf = {mu - rf:g} with sigma {sigma:g} puts the Kelly "
                         "growth beyond 1e308", "check mu, rf and sigma (annual decimals)")
    g_star = growth_approx(n_star, mu, sigma, rf)
    rows = []
    for f in fractions:
        n = f * n_star
        g = growth_approx(n, mu, sigma, rf)
        kept = (g - rf) / (g_star - rf) if g_star != rf else math.nan
        vol = abs(n) * sigma
        rows.append(FractionRow(f, n, g, kept, vol, ruin_probability(drawdown, g, vol),
                                time_to_double(g)))
    return rows
