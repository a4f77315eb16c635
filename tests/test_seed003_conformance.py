"""Seed 003 (Kelly leverage blog post) conformance: the maths behind each output, checked
against independent computations written here (closed forms, quadrature, seeded Monte Carlo,
brute-force grids), never against the code's own output.

Seed items covered: eqs. mu(n), sigma(n), the appendix's second-order approximation of the
geometric mean, n* = (mu - rf)/sigma^2, Rubinstein's "95 % sure" horizon statement, fractional
Kelly and leverage drift; plus the issue's exact-on-scenarios and multi-asset outputs.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import xl_error
from scipy.integrate import quad
from scipy.optimize import brentq, minimize
from scipy.stats import norm

from pyxl.core import kelly as K
from pyxl.errors import InputError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "kelly.md"


# ------------------------------------------------------------- the appendix (docs statement)
def _appendix_chain(mu: float, sigma: float, keep_square: bool) -> float:
    """The seed's appendix step by step: ln(1+x) ~ x - x^2/2, then e^y ~ 1 + y (+ y^2/2),
    dropping terms of third order in the returns."""
    er, er2 = mu, sigma**2 + mu**2
    y = er - er2 / 2
    if not keep_square:
        return 1 + y
    # 1 + y + y^2/2 with y^2 ~ E[R]^2 (the E[R]E[R^2] and E[R^2]^2 terms are third order+)
    return 1 + y + er**2 / 2


def test_appendix_needs_the_square_of_the_exponential_and_docs_say_so():
    mu, sigma = 0.085, 0.182
    seed = 1 + mu - sigma**2 / 2
    assert _appendix_chain(mu, sigma, keep_square=True) == pytest.approx(seed, abs=1e-15)
    assert abs(_appendix_chain(mu, sigma, keep_square=False) - seed) > 3e-3   # mu^2/2
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    assert "`e^x ~ 1 + x + x^2/2`" in text            # the expansion the seed uses
    assert "`e^x ~ 1 + x`)" not in text                 # the old, wrong description
    # the docs' figure for the gap between the simple-rate and the log-rate reading
    g = 0.01 + (0.085 - 0.01) ** 2 / (2 * 0.182**2)
    m = re.search(r"\(([\d.]+) % a year at the S&P 500 row's ([\d.]+) %\)", text)
    assert m and float(m.group(1)) == round(100 * (g - math.log1p(g)), 2)
    assert float(m.group(2)) == round(100 * g, 2)


def test_seed_reading_of_the_yearly_example_in_the_docs():
    """R ~ N(30 %, 5 %) yearly at 5x: the seed's simple-rate approximation 146.9 % vs the
    exact geometric mean exp(E ln(1 + 5R)) - 1, by quadrature written here."""
    elog = quad(lambda z: math.log(1 + 5 * (0.30 + 0.05 * z)) * norm.pdf(z), -8, 8,
                epsabs=1e-13)[0]
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    m = re.search(r"`exp\(([\d.]+)\) - 1` = ([\d.]+) % against the approximation's ([\d.]+) %",
                  text)
    assert m, "docs sentence moved"
    assert float(m.group(1)) == round(elog, 3)
    assert float(m.group(2)) == round(100 * math.expm1(elog), 1)
    assert float(m.group(3)) == round(100 * (5 * 0.30 - 25 * 0.05**2 / 2), 1)
    # the lognormal model's mean yearly return the docs quote
    assert "(8.87 % a year for mu = 8.5 %)" in text and round(100 * math.expm1(0.085), 2) == 8.87


# ------------------------------------------------------------------ growth: exact models
@pytest.mark.parametrize("n, periods", [(1.0, 252), (2.0, 252), (3.0, 252), (2.0, 12)])
def test_exact_lognormal_growth_against_hermite_quadrature(n, periods):
    mu, sigma, rf = 0.085, 0.182, 0.01
    dt = 1 / periods
    rfp = math.expm1(rf * dt)

    def integrand(z):
        r = math.expm1((mu - sigma**2 / 2) * dt + sigma * math.sqrt(dt) * z)
        return math.log(1 + rfp + n * (r - rfp)) * norm.pdf(z)

    # |z| <= 8: the docs' convention (the mass beyond is 1.2e-15)
    want = periods * quad(integrand, -8, 8, epsabs=1e-14, epsrel=1e-12, limit=200)[0]
    assert K.growth_exact(n, mu, sigma, rf, "lognormal", periods) == pytest.approx(want,
                                                                                    abs=1e-10)


# ------------------------------------------------------------------------- horizon maths
def test_horizon_is_the_95pct_terminal_statement_by_monte_carlo():
    """At T = KELLY_HORIZON, P(W_n*(T) > W_0(T)) = 0.95 in the continuous GBM: exact sampling
    of B_T (no discretisation), seeded Generator."""
    mu, sigma, rf = 0.0412, 0.18, 0.0
    n = (mu - rf) / sigma**2
    for nb in (0.0, 1.0):
        t = K.horizon_years(mu, sigma, rf, 0.95, nb)
        b = np.random.default_rng(np.random.SeedSequence(3003)).standard_normal(400_000)
        b *= math.sqrt(t)
        gap = ((n - nb) * (mu - rf) - (n * n - nb * nb) * sigma**2 / 2) * t + (n - nb) * sigma * b
        assert np.mean(gap > 0) == pytest.approx(0.95, abs=0.002)


def test_horizon_against_the_kelly_leverage_itself_names_it(xl):
    """vs_leverage = n*: nothing out-grows it.  Before, the fix read 'pick a leverage strictly
    between 2.26 and 2.26', an empty interval."""
    mu, sigma, rf = 0.085, 0.182, 0.01
    n_star = (mu - rf) / sigma**2
    for lev in (3.0, 1.0):
        out = xl_error(xl("KELLY_HORIZON", mu, sigma, rf, 0.95, n_star, lev))
        assert "vs_leverage: 2.26 is the Kelly leverage" in out, out
        assert "strictly between 2.26 and 2.26" not in out
    # leverage left out: it defaults to n* itself, which has its own line
    out = xl_error(xl("KELLY_HORIZON", mu, sigma, rf, 0.95, n_star))
    assert "vs_leverage: equals the Kelly leverage" in out
    # an ordinary non-out-growing leverage keeps its (non-empty) interval
    out = xl_error(xl("KELLY_HORIZON", mu, sigma, rf, 0.95, 0, 5))
    assert f"strictly between 0 and {2 * n_star:.3g}" in out


def test_prob_outperform_negative_years_is_named():
    with pytest.raises(InputError, match="years"):
        K.prob_outperform(-1.0, 2.0, 0.0, 0.085, 0.182, 0.01)
    with pytest.raises(InputError, match="years"):
        K.prob_outperform(math.nan, 2.0, 0.0, 0.085, 0.182, 0.01)
    # independent: Phi(D sqrt(T) / V)
    d = 2 * 0.075 - 4 * 0.182**2 / 2
    assert K.prob_outperform(10, 2.0, 0.0, 0.085, 0.182, 0.01) == pytest.approx(
        norm.cdf(d * math.sqrt(10) / (2 * 0.182)), rel=1e-12)


# ------------------------------------------------------------------ drawdown probabilities
def test_ruin_probability_finite_refuses_bad_levels_and_stays_a_probability():
    # x = 1.5 gave 2.99 ("probability" > 1); vol 0 raised ZeroDivisionError
    with pytest.raises(InputError, match="drawdown"):
        K.ruin_probability_finite(1.5, 0.05, 0.2, 10)
    with pytest.raises(InputError, match="vol"):
        K.ruin_probability_finite(0.5, 0.05, -0.2, 10)
    with pytest.raises(InputError, match="years"):
        K.ruin_probability_finite(0.5, 0.05, 0.2, -1)
    # deterministic paths: g t reaches ln 0.5 = -0.693 within 10 years only if g <= -0.0693
    assert K.ruin_probability_finite(0.5, -0.1, 0.0, 10) == 1.0
    assert K.ruin_probability_finite(0.5, -0.05, 0.0, 10) == 0.0
    # small vol and negative drift: exp(-2 g b / s^2) overflowed
    assert K.ruin_probability_finite(0.5, -0.1, 1e-3, 10) == pytest.approx(1.0)


def test_ruin_probability_finite_by_brownian_bridge_monte_carlo():
    rng = np.random.default_rng(np.random.SeedSequence(33))
    g, s, t, x = -0.05, 0.2, 5.0, 0.7
    steps, paths = 250, 60_000
    dt, b = t / steps, math.log(x)
    pos = np.zeros(paths)
    hit = np.zeros(paths, bool)
    for _ in range(steps):
        new = pos + g * dt + s * math.sqrt(dt) * rng.standard_normal(paths)
        cross = np.exp(-2 * np.maximum(pos - b, 0) * np.maximum(new - b, 0) / (s * s * dt))
        hit |= (new <= b) | (rng.random(paths) < cross)
        pos = new
    sd = math.sqrt(0.25 / paths)
    assert K.ruin_probability_finite(x, g, s, t) == pytest.approx(hit.mean(), abs=4 * sd)


# ------------------------------------------------------- exact Kelly on scenarios: brute force
def _grid_best(r, rf, ok):
    a = np.arange(-5, 5.0001, 0.02)
    grid = np.array(list(itertools.product(a, a)))
    grid = grid[ok(grid)]
    wealth = 1 + rf + (r - rf) @ grid.T
    alive = np.all(wealth > 0, axis=0)
    vals = np.where(alive, np.log(np.where(wealth > 0, wealth, 1)).mean(axis=0), -np.inf)
    return float(vals.max())


@pytest.mark.parametrize("limits", [
    {}, {"long_only": True}, {"max_leverage": 1.5}, {"max_leverage": 2.0, "long_only": True},
    {"max_weight": 0.8},
])
def test_scenario_optimum_never_beaten_by_a_grid(limits):
    rng = np.random.default_rng(np.random.SeedSequence(303))
    checked = 0
    for _ in range(12):
        r = rng.normal(0.01, 0.08, (int(rng.integers(4, 10)), 2))
        r[int(rng.integers(len(r)))] = rng.uniform(-0.6, -0.2, 2)
        rf = 0.002

        def ok(w):
            m = np.ones(len(w), bool)
            if limits.get("long_only"):
                m &= np.all(w >= -1e-12, axis=1)
            if "max_leverage" in limits:
                m &= np.abs(w).sum(axis=1) <= limits["max_leverage"] + 1e-12
            if "max_weight" in limits:
                m &= np.all(np.abs(w) <= limits["max_weight"] + 1e-12, axis=1)
            return m

        kw = dict(limits)
        if "max_weight" in kw:
            kw["max_weight"] = np.full(2, kw["max_weight"])
        try:
            w = K.kelly_scenario(r, rf, **kw)
        except InputError as e:   # a free lunch: check one exists (a direction never losing)
            assert "never loses" in str(e)
            th = np.linspace(0, 2 * np.pi, 100_001)
            pay = (r - rf) @ np.stack([np.cos(th), np.sin(th)])
            assert np.any(np.all(pay >= -1e-12, axis=0) & (pay.max(axis=0) > 1e-9))
            continue
        # feasible to solver precision (the grid's own test is exact)
        if limits.get("long_only"):
            assert np.all(w >= -1e-8)
        assert np.abs(w).sum() <= limits.get("max_leverage", np.inf) + 1e-8
        assert np.all(np.abs(w) <= limits.get("max_weight", np.inf) + 1e-8)
        got = float(np.mean(np.log(1 + rf + (r - rf) @ w)))
        assert got >= _grid_best(r, rf, ok) - 1e-12
        checked += 1
    assert checked >= 4


def test_one_asset_scenario_optimum_is_the_root_of_the_first_order_condition():
    r = np.array([-1.0, 3.0, 3.0])   # a default scenario: the weight must stay below 1
    w = brentq(lambda x: -1 / (1 - x) + 2 * 3 / (1 + 3 * x), 0, 1 - 1e-12)
    assert w == pytest.approx(5 / 9, abs=1e-12)
    assert K.kelly_scenario(r)[0] == pytest.approx(w, abs=1e-9)


# -------------------------------------------------------------- multi-asset closed form
def test_multi_asset_closed_form_maximises_the_exact_daily_lognormal_growth():
    """Sigma^-1 (mu - rf) against a numerical maximum of the exact expected log growth of a
    book rebalanced daily on a correlated lognormal (tensor Gauss-Hermite quadrature)."""
    mu = np.array([0.08, 0.06, 0.10])
    cov = np.array([[0.040, 0.010, 0.012], [0.010, 0.020, 0.004], [0.012, 0.004, 0.090]])
    rf, per = 0.01, 252
    x, wt = np.polynomial.hermite_e.hermegauss(16)
    wt = wt / wt.sum()
    z = np.array(list(itertools.product(x, x, x)))
    p = np.prod(np.array(list(itertools.product(wt, wt, wt))), axis=1)
    ret = np.expm1((mu - np.diag(cov) / 2) / per + z @ np.linalg.cholesky(cov).T / math.sqrt(per))
    rfp = math.expm1(rf / per)
    x_ex = ret - rfp

    def neg(w):
        wealth = 1 + rfp + x_ex @ w
        return -per * float(p @ np.log(wealth)), -per * (x_ex / wealth[:, None]).T @ p

    best = minimize(neg, np.zeros(3), jac=True, method="BFGS", options={"gtol": 1e-12})
    closed = K.kelly_weights(mu, cov, rf)
    np.testing.assert_allclose(closed, np.linalg.solve(cov, mu - rf), rtol=1e-12)
    # daily rebalancing: the exact optimum is the closed form to ~1e-3 in weight and the
    # growth lost by using the closed form is below 1e-6 a year
    np.testing.assert_allclose(best.x, closed, atol=5e-3)
    assert -neg(closed)[0] >= -best.fun - 1e-6


# ------------------------------------------------------------------------ leverage drift
def test_drift_kernel_against_a_python_loop_with_root_finding():
    rng = np.random.default_rng(np.random.SeedSequence(2003))
    r = rng.normal(0.0004, 0.012, 600)
    rf, cost = 0.025, 0.0005
    rfp = math.expm1(rf / 252)
    for target, every in ((2.0, 1), (2.0, 21), (-1.0, 5), (0.5, 1)):
        e, c, traded = target, 1 - target, 0.0
        for t, x in enumerate(r):
            e, c = e * (1 + x), c * (1 + rfp)
            w = e + c
            if (t + 1) % every == 0:
                e0 = e
                e = brentq(lambda y, w=w, e0=e0, n=target: y - n * (w - cost * abs(y - e0)),
                           -100, 100, xtol=1e-15)
                c -= (e - e0) + cost * abs(e - e0)
                traded += abs(e - e0) / w
        res = K.simulate_leverage(r, target, K.rebalance_mask(r.size, every), rf, cost)
        years = r.size / 252
        assert res.growth == pytest.approx(math.log(e + c) / years, abs=1e-12)
        assert res.turnover == pytest.approx(traded / years, rel=1e-10)


@pytest.mark.parametrize("arg", ["n", "n_b", "mu", "rf"])
def test_log_wealth_gap_names_a_nan_argument(arg):
    """NaN in, NaN out silently (Python API); now the argument is named."""
    from pyxl.core.kelly.closed_form import log_wealth_gap

    kw = {"n": 2.0, "n_b": 1.0, "mu": 0.085, "sigma": 0.182, "rf": 0.01, arg: float("nan")}
    with pytest.raises(InputError) as e:
        log_wealth_gap(**kw)
    assert e.value.arg == arg
