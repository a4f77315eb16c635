"""Audit 7: huge or absurd inputs give one line naming the argument, never inf or a crash.

Each case was found by the audit-6 fuzz (1e300 in a cell, a date serial 45000 typed as a
rate).  The limits are principled (see the docstrings of ``MAX_SCENARIO_RETURN``,
``check_scale``, ``MAX_VARIANCE``, ``check_rates`` and ``MAX_PERIODS_PER_YEAR``); each test
also checks that realistic extremes on the near side of a limit still compute, against an
independent value (closed form, brute force, a dense cvxpy model).
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import openpyxl
import pytest
from conftest import excel_range, excel_row

from pyxl.core import kelly
from pyxl.core.kelly import kelly_scenario
from pyxl.core.ledger import FeeModel
from pyxl.core.mbp import make_universe
from pyxl.core.mbp.model import make_data
from pyxl.core.metrics import MAX_PERIODS_PER_YEAR, performance_metrics
from pyxl.core.mnvh.engine import check_rates
from pyxl.errors import InputError
from pyxl.xl import winstub
from pyxl.xl.cache import clear_all

ERR = -2146826246  # an #N/A cell as Excel hands it to xlwings


@pytest.fixture(autouse=True)
def _fresh():
    clear_all()
    yield
    clear_all()


def col(v):
    return excel_range(np.asarray(v, dtype=float))


def err(out):
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    text = out[0][0]
    assert isinstance(text, str) and text.startswith("#PyXL! "), out
    assert len(text) <= 255 and "internal error" not in text
    return text[len("#PyXL! "):]


def with_cell(rng, i, j, value):
    rows = [list(r) for r in rng]
    rows[i][j] = value
    return tuple(map(tuple, rows))


# ------------------------------------------------------------------------------ Kelly


def test_kelly_growth_huge_sigma_names_sigma():
    """sigma = 1e300 was read as ruin and blamed on n ("can wipe out the account").  The
    formula now refuses any sigma >= 5 as a percent typed as a number; the core, which
    has no such bound, still names sigma^2's overflow."""
    text = err(winstub.call_formula("KELLY_GROWTH", col([0.5, 1, 2]), 0.085, 1e300, 0.01))
    assert text.startswith("sigma: must be < 5, got 1e+300;")
    with pytest.raises(InputError, match=r"^sigma: 1e\+300 is too large \(sigma\^2 overflows\);"):
        kelly.growth_approx(np.array([0.5, 1.0, 2.0]), 0.085, 1e300, 0.01)


def test_kelly_growth_large_but_representable_sigma_is_the_closed_form():
    n, mu, s, rf = np.array([0.5, 1.0, 2.0]), 0.085, 1e150, 0.01
    got = np.asarray(kelly.growth_approx(n, mu, s, rf), float).ravel()
    np.testing.assert_allclose(got, rf + n * (mu - rf) - n * n * s * s / 2, rtol=1e-14)


def test_kelly_table_huge_mu_names_mu():
    text = err(winstub.call_formula("KELLY_TABLE", 1e300, 0.182, 0.01))
    assert text.startswith("mu: mu - rf = 1e+300 with sigma 0.182")


_SCN = 0.01 + 0.05 * np.random.default_rng(7).standard_normal((12, 2))


def test_kelly_scenario_huge_return_names_returns():
    """A 1e300 cell ended in an internal LinAlgError / ScsWork error or blamed max_leverage."""
    for big in (1e7, 1e300):
        for cap in (3.0, None):
            r = _SCN.copy()
            r[6, 1] = big
            text = err(winstub.call_formula("KELLY_SCENARIO", excel_range(r), 0.0, cap))
            assert text.startswith(f"returns: {big:g} at row 7, column 2 is a gain of more "
                                   "than 1e+06 times"), text


def test_kelly_scenario_million_fold_gain_still_solves_by_brute_force():
    """At the limit (1e6) the capped optimum matches a brute-force search of the l1 ball."""
    r = _SCN.copy()
    r[6, 1] = 1e6
    w = np.array(winstub.call_formula("KELLY_SCENARIO", excel_range(r), 0.0, 3.0),
                 float).ravel()
    assert np.abs(w).sum() <= 3 + 1e-9

    def growth(v):
        wealth = 1 + r @ v
        return np.mean(np.log(wealth)) if np.all(wealth > 0) else -np.inf

    grid = np.linspace(-3, 3, 601)
    best = max(growth(np.array([a, b])) for a in grid for b in grid
               if abs(a) + abs(b) <= 3 + 1e-12)
    assert growth(w) >= best - 1e-9
    with pytest.raises(InputError, match="^returns:"):
        r[6, 1] = 1.0000001e6
        kelly_scenario(r, 0.0, 3.0)


# --------------------------------------------------------------------------- MBB_RECOLOR

_R3 = 0.005 + 0.04 * np.random.default_rng(7).standard_normal((24, 3))
_MU3 = np.array([0.05, 0.06, 0.08])
_COV3 = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.06]])
_RT = np.array([[0.5, 0.3, 0.2]])


def _recolor(R=_R3, mu=_MU3, C=_COV3, W=_RT, periods=12):
    return winstub.call_formula("MBB_RECOLOR", excel_range(R), excel_row(mu), excel_range(C),
                                3, 10, 0.94, periods, 0, excel_range(W))


def test_recolor_huge_inputs_name_their_argument():
    R = _R3.copy()
    R[12, 0] = 1e300
    assert err(_recolor(R=R)).startswith("returns: 1e+300 at row 13, column 1 is too large")
    mu = _MU3.copy()
    mu[1] = 1e300
    assert err(_recolor(mu=mu)).startswith("mu_ann: item 2 compounds beyond 1e308")
    C = _COV3.copy()
    C[1, 1] = 1e300
    assert err(_recolor(C=C)).startswith("cov_ann: item 2's variance spreads wealth beyond 1e308")
    W = _RT.copy()
    W[0, 1] = 1e300
    assert err(_recolor(W=W)).startswith("rt_weights: portfolio 1's wealth overflows")


def test_recolor_realistic_extremes_still_run():
    """1,000 % annual means and 500 % annual vols (crypto) on daily periods are accepted,
    and the RT portfolio still hits its geometric target exactly (seed 002 step 4)."""
    mu = np.array([10.0, 0.06, -0.5])
    C = np.diag([25.0, 0.05, 0.06])
    out = _recolor(mu=mu, C=C, periods=252)
    rt = next(r for r in out if r[0] == "RT1")
    target = (1 + _RT[0] @ mu) ** (1 / 252) - 1
    assert rt[3] == pytest.approx(target, rel=1e-12) and rt[4] == pytest.approx(target,
                                                                                abs=1e-12)
    nums = [c for r in out for c in r if isinstance(c, float)]
    assert all(math.isfinite(c) for c in nums)


# ----------------------------------------------------------------------------------- MBP

_U = make_universe(n=12, seed=5, breaks=(4, 8))


def _mbp_args(**over):
    a = {"alpha": _U.alpha, "bench_w": _U.bench_w, "segment": _U.segment,
         "exposures": _U.exposures, "factor_cov": _U.factor_cov, "spec_var": _U.spec_var}
    a.update(over)
    return [col(a["alpha"]), col(a["bench_w"]), col(a["segment"]), excel_range(a["exposures"]),
            excel_range(a["factor_cov"]), col(a["spec_var"])]


def _dense_mbp(alpha, te=0.02):
    """Independent dense model: max alpha'w, sum 1, w >= 0, segments at benchmark, TE."""
    S = _U.exposures @ _U.factor_cov @ _U.exposures.T + np.diag(_U.spec_var)
    root = np.linalg.cholesky(S)
    w = cp.Variable(_U.alpha.size)
    seg = _U.segment.astype(int)
    cons = [cp.sum(w) == 1, w >= 0, cp.norm(root.T @ (w - _U.bench_w)) <= te]
    cons += [cp.sum(w[seg == m]) == _U.bench_w[seg == m].sum() for m in np.unique(seg)]
    cp.Problem(cp.Maximize(alpha @ w), cons).solve(solver=cp.CLARABEL)
    return np.asarray(w.value, float)


def test_mbp_alpha_scale_is_free_and_exact():
    """alpha of 1e9 gave weights breaking the budget, 1e12 weights of 6705, 1e20+ a
    "solver:" line.  The optimum does not depend on the scale of alpha."""
    for k in (1e9, 1e300):
        w = np.array(winstub.call_formula("MBP_OPTIMIZE", *_mbp_args(alpha=_U.alpha * k),
                                          0.02), float).ravel()
        np.testing.assert_allclose(w, _dense_mbp(_U.alpha), atol=2e-5)
    a = _U.alpha.copy()
    a[6] = 1e300  # one huge cell: the portfolio maximises the weight of asset 7
    w = np.array(winstub.call_formula("MBP_OPTIMIZE", *_mbp_args(alpha=a), 0.02),
                 float).ravel()
    np.testing.assert_allclose(w, _dense_mbp(np.eye(12)[6]), atol=2e-5)


def test_mbp_huge_risk_inputs_name_their_argument():
    s = _U.spec_var.copy()
    s[6] = 1e300
    assert err(winstub.call_formula("MBP_OPTIMIZE", *_mbp_args(spec_var=s), 0.02)).startswith(
        "spec_var: item 7 is 1e+300, more than 10000")
    B = _U.exposures.copy()
    B[6, 3] = 1e300
    for name, extra in (("MBP_OPTIMIZE", [0.02]), ("MBP_REPORT", [])):
        args = _mbp_args(exposures=B)
        if name == "MBP_REPORT":
            args[0] = col(_U.bench_w)
        assert err(winstub.call_formula(name, *args, *extra)).startswith(
            "exposures: row 7 gives a factor variance of"), name
    F = _U.factor_cov.copy()
    F[5, 5] = 1e300
    assert err(winstub.call_formula("MBP_OPTIMIZE", *_mbp_args(factor_cov=F), 0.02)).startswith(
        "factor_cov: row 6 holds 1e+300, more than 10000")


def test_mbp_variance_limit_is_a_vol_of_10000_percent():
    s = _U.spec_var.copy()
    s[6] = 1e4  # a vol of 100 (10,000 % a year) is still accepted
    make_data(_U.bench_w, _U.segment, _U.exposures, _U.factor_cov, s)
    s[6] = 1.0001e4
    with pytest.raises(InputError, match="^spec_var: item 7"):
        make_data(_U.bench_w, _U.segment, _U.exposures, _U.factor_cov, s)


def test_mbp_core_checks_segment_label_before_the_int_cast():
    seg = _U.segment.astype(float).copy()
    seg[3] = 1e300
    with pytest.raises(InputError, match=r"^segment: label 1e\+300 is more than the number of "
                       r"assets \(12\)"):
        make_data(_U.bench_w, seg, _U.exposures, _U.factor_cov, _U.spec_var)


# --------------------------------------------------------------------------------- MNVH

_P = 100 * np.exp(np.cumsum(0.01 * np.random.default_rng(7).standard_normal((60, 4)), axis=0))


def _backtest(prices=_P, **kw):
    names = ["prices", "lam", "beta", "weights", "fee_rate", "half_spread", "benchmark",
             "hedge", "throttle", "beta_mode", "cash0", "max_gross", "max_position",
             "drawdown_stop", "exec_lag", "fixed_fee", "borrow_rate", "cash_rate", "min_cash",
             "periods_per_year", "metric"]
    args = [winstub.MISSING] * len(names)
    args[0] = (("AAA", "BBB", "CCC", "DDD"),) + excel_range(prices)
    for k, v in kw.items():
        args[names.index(k)] = v
    return winstub.call_formula("MNVH_BACKTEST", *args)


@pytest.mark.parametrize("arg,value,start", [
    ("cash_rate", 45000.0, "cash_rate: 45000 a year compounds beyond 1e308"),
    ("cash_rate", 1e300, "cash_rate: 1e+300 a year compounds beyond 1e308"),
    ("borrow_rate", 1e300, "borrow_rate: 1e+300 a year compounds beyond 1e308"),
    ("periods_per_year", 1e300, "periods_per_year: 1e+300 is more than 31,622,400"),
])
def test_backtest_absurd_rates_and_periods_name_their_argument(arg, value, start):
    assert err(_backtest(**{arg: value})).startswith(start)


def test_backtest_huge_price_names_prices():
    P = _P.copy()
    P[30, 1] = 1e300
    assert err(_backtest(P)).startswith("prices: NAV overflows; the price at row 31, column 2 ")


def test_backtest_realistic_rates_and_periods_run():
    for kw in ({"cash_rate": -0.005}, {"cash_rate": 1.2, "borrow_rate": 0.5},
               {"periods_per_year": 12}, {"periods_per_year": 52},
               {"periods_per_year": 525_600}):
        out = _backtest(**kw)
        lab = {r[0]: r[1] for r in out}
        assert all(isinstance(v, float) and math.isfinite(v) for v in lab.values()
                   if not isinstance(v, str)), kw
        assert lab["Years"] == pytest.approx(59 / kw.get("periods_per_year", 252))


def test_rate_limit_is_the_yearly_growth_factor_in_double_range():
    """(1 + r/P)^P must be finite: the limit is P (e^(ln(1.8e308)/P) - 1)."""
    log_max = math.log(np.finfo(float).max)
    for P in (1, 12, 252):
        top = P * math.expm1(log_max / P)
        check_rates(FeeModel(cash_rate=top * (1 - 1e-9), periods_per_year=P))
        with pytest.raises(InputError, match="^cash_rate:"):
            check_rates(FeeModel(cash_rate=top * (1 + 1e-9), periods_per_year=P))
    assert 252 * math.expm1(log_max / 252) == pytest.approx(3961, abs=1)


def test_cagr_beyond_double_range_is_blank_not_inf():
    nav = np.array([1.0, 1.0156])
    m = performance_metrics(nav, periods_per_year=MAX_PERIODS_PER_YEAR)
    assert math.isnan(m["cagr"])  # 1.0156 ** 31,622,400 is beyond 1e308
    m = performance_metrics(nav, periods_per_year=252)
    assert m["cagr"] == pytest.approx(1.0156**252 - 1, rel=1e-12)
    with pytest.raises(InputError, match="^periods_per_year:"):
        performance_metrics(nav, periods_per_year=MAX_PERIODS_PER_YEAR + 1)


# ------------------------------------------------------------------ workbook engine


def test_workbook_error_cell_in_optional_argument_is_refused(tmp_path):
    """The workbook engine read an error cell as blank: =KELLY_LEVERAGE(.., #N/A) used
    fraction 1.  Now the same line as in Excel (pyxl.xl.convert, err_to_str)."""
    from pyxl.workbook import calculate

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["E1"], ws["E2"], ws["E3"], ws["E4"] = 0.085, 0.182, 0.01, "=NA()"
    ws["A1"] = "=KELLY_LEVERAGE(E1,E2,E3,E4)"
    ws["A2"] = "=KELLY_LEVERAGE(E1,E2,E3)"
    wb.save(tmp_path / "b.xlsx")
    rep = calculate(tmp_path / "b.xlsx", None)
    line = "#PyXL! fraction: error value #N/A at the cell; fix that cell or its formula"
    assert rep.value("S", "A1") == line
    assert winstub.call_formula("KELLY_LEVERAGE", 0.085, 0.182, 0.01, ERR) == [[line]]
    assert rep.value("S", "A2") == pytest.approx((0.085 - 0.01) / 0.182**2, rel=1e-14)


def test_finite_but_absurd_nav_names_the_prices():
    """A 1e300 price can leave NAV finite (-5.4e302 in a Python 3.13 fuzz run) while the
    volatility overflows to inf: NAV beyond 1e100 x cash0 is refused, naming prices."""
    from pyxl.core.mnvh.engine import check_nav

    nav = np.array([1e6, 1.01e6, -5.41e302, -5.4e302])
    with pytest.raises(InputError) as err:
        check_nav(nav, FeeModel(), 4, 1e6)
    assert err.value.arg == "prices" and "row 3" in str(err.value)
    check_nav(np.array([1e6, 1e105]), FeeModel(), 2, 1e6)  # 1e99 x cash0: a result


def test_absurd_nav_from_a_rate_names_the_rate():
    from pyxl.core.mnvh.engine import check_nav

    fees = FeeModel(cash_rate=5.0, periods_per_year=252)  # 500 % a year, 13,000 days
    assert 13_000 * np.log1p(5.0 / 252) > np.log(1e100)
    with pytest.raises(InputError) as err:
        check_nav(np.array([1e6, 1e107]), fees, 13_000, 1e6)
    assert err.value.arg == "cash_rate"


def _walk(seed=3, T=60, N=4):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((T, N)), axis=0))


def _cells(P):
    return tuple(tuple(float(v) for v in r) for r in P)


def test_huge_beta_is_named_not_the_prices():
    out = winstub.call_formula("MNVH_BACKTEST", _cells(_walk()), None, 1e300)[0][0]
    assert out.startswith("#PyXL! beta: 1e+300 scales positions"), out


@pytest.mark.parametrize("typo", [1e300, 1e-250])
def test_the_typo_price_is_named_by_row_and_column(typo):
    P = _walk()
    P[3, 2] = typo
    out = winstub.call_formula("MNVH_BACKTEST", _cells(P))[0][0]
    assert out.startswith("#PyXL! prices: NAV ") and "row 4, column 3" in out, out


def test_grid_names_the_beta_whose_nav_blows_up():
    """The (lambda, beta) grid applies the same NAV limit as the single run."""
    from pyxl.core.mnvh import MNVHConfig, run_grid

    P = _walk()
    w = np.full(P.shape[1], 1.0 / P.shape[1])
    ok = run_grid(P, w, [0.9], [1.0, 35.0], MNVHConfig())
    assert np.isfinite(ok.nav).all()
    with pytest.raises(InputError) as err:
        run_grid(P, w, [0.9], [35.0, 1e300], MNVHConfig(), threads=1)
    assert err.value.arg == "beta" and "1e+300" in str(err.value)
    bad = P.copy()
    bad[3, 2] = 1e300
    with pytest.raises(InputError) as err:
        run_grid(bad, w, [0.9], [35.0], MNVHConfig(), threads=1)
    assert err.value.arg == "prices" and "row 4, column 3" in str(err.value)
