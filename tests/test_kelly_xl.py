"""Kelly formulas through the xlwings Excel-call harness: values, blanks, text, shapes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import excel_range, excel_row
from conftest import xl_error as _err

from pyxl.core import kelly as K
from pyxl.xl import handles


def test_leverage_seed_value_and_defaults(xl):
    assert round(xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01)[0][0], 1) == 2.3
    half = xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, 0.5)[0][0]
    assert half == pytest.approx(0.5 * (0.075 / 0.182 ** 2))
    # omitted and blank fraction both mean full Kelly
    full = xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01)[0][0]
    assert xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, None)[0][0] == full
    assert xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, xl.MISSING)[0][0] == full
    # numbers typed as text are accepted
    assert xl("KELLY_LEVERAGE", "0.085", 0.182, 0.01)[0][0] == full


def test_leverage_bad_inputs(xl):
    assert "sigma: must be > 0" in _err(xl("KELLY_LEVERAGE", 0.085, 0.0, 0.01))
    assert "sigma: must be > 0" in _err(xl("KELLY_LEVERAGE", 0.085, -0.1, 0.01))
    assert "sigma: text 'abc'" in _err(xl("KELLY_LEVERAGE", 0.085, "abc", 0.01))
    assert "rf: is blank" in _err(xl("KELLY_LEVERAGE", 0.085, 0.182, None))
    assert "fraction: must be > 0" in _err(xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, 0))
    with pytest.raises(TypeError, match="required argument 'rf'"):
        xl("KELLY_LEVERAGE", 0.085, 0.182)


def test_percents_typed_as_numbers_are_refused(xl):
    """The seed's S&P 500 row typed in percent (8.5, 18.2, 1) names the mistake instead of
    returning a Kelly leverage of 0.023; the bounds sit at 500 % volatility and 100 % rf."""
    for name, args in [("KELLY_LEVERAGE", ()), ("KELLY_GROWTH", (2.0,)),
                       ("KELLY_HORIZON", ()), ("KELLY_TABLE", ())]:
        msg = _err(xl(name, *args, 8.5, 18.2, 1.0))  # sigma or rf, whichever is read first
        assert ("sigma: must be < 5, got 18.2; enter annual decimals (0.182 = 18.2 %)" in msg
                or "rf: must be < 1, got 1; enter an annual decimal (0.01 = 1 %)" in msg), msg
        msg = _err(xl(name, *args, 8.5, 18.2, 0.01))
        assert "sigma: must be < 5, got 18.2" in msg, (name, msg)
        msg = _err(xl(name, *args, 0.085, 0.182, 1.0))
        assert "rf: must be < 1, got 1" in msg, (name, msg)
    # inside the bounds: an asset of 499 % volatility, a rate of 99 % or -0.5 % a year
    assert xl("KELLY_LEVERAGE", 0.5, 4.99, 0.99)[0][0] == pytest.approx(-0.49 / 4.99 ** 2)
    assert xl("KELLY_LEVERAGE", 0.085, 0.182, -0.005)[0][0] == pytest.approx(0.09 / 0.182 ** 2)
    assert "sigma: must be < 5, got 5" in _err(xl("KELLY_LEVERAGE", 0.085, 5.0, 0.01))
    assert "rf: must be > -1" in _err(xl("KELLY_LEVERAGE", 0.085, 0.182, -1.0))
    # a covariance in percent squared: 331.24 is 18.2 squared
    mu = excel_range([0.085, 0.06])
    cov_pct = ((331.24, 50.0), (50.0, 225.0))
    msg = _err(xl("KELLY_WEIGHTS", mu, cov_pct, 0.01))
    assert "cov: variance 331.24 of asset 1 is a volatility of 18.2" in msg, msg
    w = xl("KELLY_WEIGHTS", mu, ((0.033124, 0.005), (0.005, 0.0225)), 0.01)
    np.testing.assert_allclose([r[0] for r in w], K.kelly_weights(
        np.array([0.085, 0.06]), np.array([[0.033124, 0.005], [0.005, 0.0225]]), 0.01),
        rtol=1e-12)


def test_growth_scalar_column_row_and_models(xl):
    g = xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01)[0][0]
    assert g == pytest.approx(K.growth_approx(2.0, 0.085, 0.182, 0.01))
    col = xl("KELLY_GROWTH", excel_range([1.0, 2.0, 3.0]), 0.085, 0.182, 0.01)
    row = xl("KELLY_GROWTH", excel_row([1.0, 2.0, 3.0]), 0.085, 0.182, 0.01)
    assert [c[0] for c in col] == row[0]
    assert len(row) == 1 and len(col) == 3
    ex = xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, "lognormal", 252)[0][0]
    assert ex == pytest.approx(K.growth_exact(2.0, 0.085, 0.182, 0.01, "lognormal", 252))
    nrm = xl("KELLY_GROWTH", 1.5, 0.085, 0.182, 0.01, "Normal", 12)[0][0]
    assert nrm == pytest.approx(K.growth_exact(1.5, 0.085, 0.182, 0.01, "normal", 12))
    # blank model = approximation
    assert xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, None)[0][0] == g


def test_growth_on_historical_returns(xl):
    rng = np.random.default_rng(np.random.SeedSequence(4))
    r = rng.normal(0.0004, 0.012, 500)
    rfp = math.expm1(0.02 / 252)
    expect = [252 * np.mean(np.log(1 + rfp + n * (r - rfp))) for n in (1.0, 3.0)]
    got = xl("KELLY_GROWTH", excel_row([1.0, 3.0]), None, None, 0.02, excel_range(r), 252)
    np.testing.assert_allclose(got[0], expect, rtol=1e-12)
    # one crash day of -40 %: 3x is wiped out
    crash = np.append(r, -0.4)
    assert "leverage 3 can wipe out" in _err(
        xl("KELLY_GROWTH", 3.0, None, None, 0.02, excel_range(crash), 252))
    assert "model: blank cell" in _err(
        xl("KELLY_GROWTH", 1.0, None, None, 0.02, excel_range([0.01, None, 0.02]), 252))
    # parametric models still need mu and sigma
    assert "mu: is blank" in _err(xl("KELLY_GROWTH", 1.0, None, 0.18, 0.02))


def test_growth_errors(xl):
    assert "can wipe out" in _err(xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, "lognormal", 1))
    assert "model: 'student'" in _err(xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, "student"))
    assert "n: blank cell" in _err(xl("KELLY_GROWTH", excel_range([1.0, None, 2.0]), 0.085,
                                      0.182, 0.01))
    assert "periods: must be a whole" in _err(
        xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, "lognormal", 2.5))


MU = np.array([0.08, 0.06, 0.10])
COV = np.array([[0.040, 0.010, 0.012], [0.010, 0.020, 0.004], [0.012, 0.004, 0.090]])


def test_weights_orientation_and_values(xl):
    expect = np.linalg.solve(COV, MU - 0.01)
    col = xl("KELLY_WEIGHTS", excel_range(MU), excel_range(COV), 0.01)
    row = xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.01)
    np.testing.assert_allclose([c[0] for c in col], expect, rtol=1e-12)
    np.testing.assert_allclose(row[0], expect, rtol=1e-12)
    labelled = (("A", "B", "C"), *excel_range(COV))
    np.testing.assert_allclose(xl("KELLY_WEIGHTS", excel_row(MU), labelled, 0.01)[0], expect,
                               rtol=1e-12)
    half = xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.01, 0.5)
    np.testing.assert_allclose(half[0], expect / 2, rtol=1e-12)


def test_weights_constraints(xl):
    out = xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.01, 1, 1.5, True)
    w = np.array(out[0])
    assert np.all(w >= -1e-7) and w.sum() <= 1.5 + 1e-6
    np.testing.assert_allclose(w, K.kelly_weights(MU, COV, 0.01, 1, 1.5, True), atol=1e-8)
    # per-asset cap (one cell for all) and budget: fully invested, no asset above 40 %
    out = xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.01, 1, None, True, 0.4, 1.0)
    w = np.array(out[0])
    assert w.sum() == pytest.approx(1.0, abs=1e-6) and w.max() <= 0.4 + 1e-6
    # one cap per asset, blank = no cap for that asset
    caps = ((0.1, None, 0.2),)
    out = xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.01, 1, None, False, caps)
    w = np.array(out[0])
    assert abs(w[0]) <= 0.1 + 1e-6 and abs(w[2]) <= 0.2 + 1e-6


def test_weights_bad_inputs(xl):
    bad = np.array([[0.04, 0.05], [0.05, 0.02]])
    assert "cov: is not positive semi-definite" in _err(
        xl("KELLY_WEIGHTS", excel_range(MU[:2]), excel_range(bad), 0.0))
    assert "cov: is 2x2, expected 3x3" in _err(
        xl("KELLY_WEIGHTS", excel_range(MU), excel_range(COV[:2, :2]), 0.0))
    assert "mu: text" in _err(
        xl("KELLY_WEIGHTS", excel_range([0.08, "x", 0.1]), excel_range(COV), 0.0))
    assert "cov: blank cell" in _err(
        xl("KELLY_WEIGHTS", excel_range(MU), excel_range([[0.04, None, 0.0]] * 3), 0.0))
    assert "budget" in _err(
        xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.0, 1, 0.5, False, None, 1.0))
    assert "max_weight: caps sum" in _err(
        xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.0, 1, None, True, 0.2, 1.0))
    assert "long_only: 'maybe'" in _err(
        xl("KELLY_WEIGHTS", excel_row(MU), excel_range(COV), 0.0, 1, None, "maybe"))


def _scen():
    rng = np.random.default_rng(np.random.SeedSequence(42))
    return rng.normal([0.008, 0.005], [0.05, 0.03], size=(60, 2))


def test_scenario_values_header_and_handle(xl):
    r = _scen()
    expect = K.kelly_scenario(r, 0.001, 3.0)
    out = xl("KELLY_SCENARIO", excel_range(r), 0.001, 3.0)
    assert len(out) == 1 and len(out[0]) == 2
    np.testing.assert_allclose(out[0], expect, atol=1e-8)
    with_header = (("AAA", "BBB"), *excel_range(r))
    np.testing.assert_allclose(xl("KELLY_SCENARIO", with_header, 0.001, 3.0)[0], expect,
                               atol=1e-8)
    h = handles.put(r, "scn", r)
    np.testing.assert_allclose(xl("KELLY_SCENARIO", h, 0.001, 3.0)[0], expect, atol=1e-8)

    class Paths:  # an object exposing .paths (n_paths, T, N), as a scenario engine might
        paths = r.reshape(3, 20, 2)

    h2 = handles.put(Paths(), "scn", "paths", r)
    np.testing.assert_allclose(xl("KELLY_SCENARIO", h2, 0.001, 3.0)[0], expect, atol=1e-8)
    import pandas as pd

    h3 = handles.put(pd.DataFrame(r, columns=["A", "B"]), "scn", "frame", r)
    np.testing.assert_allclose(xl("KELLY_SCENARIO", h3, 0.001, 3.0)[0], expect, atol=1e-8)
    # rf blank = 0, long_only
    lo = xl("KELLY_SCENARIO", excel_range(r), None, None, True)[0]
    np.testing.assert_allclose(lo, K.kelly_scenario(r, 0.0, None, True), atol=1e-8)


def test_scenario_errors(xl):
    r = _scen()
    assert "never loses" in _err(xl("KELLY_SCENARIO", excel_range(np.abs(r))))
    assert "returns: blank cell" in _err(
        xl("KELLY_SCENARIO", excel_range([[0.01, None], [0.02, -0.01]])))
    assert "expected 'scn'" in _err(xl("KELLY_SCENARIO", "pyxl:mbp#0123456789ab"))
    assert "expired" in _err(xl("KELLY_SCENARIO", "pyxl:scn#0123456789ab"))
    class NoPaths:  # a scenario set generated without keeping its paths
        paths = None

    assert "kept no paths" in _err(xl("KELLY_SCENARIO", handles.put(NoPaths(), "scn", "np")))
    h = handles.put({"meta": 1}, "scn", "dict")
    assert "holds no array" in _err(xl("KELLY_SCENARIO", h))
    assert "returns: has 1 rows" in _err(xl("KELLY_SCENARIO", excel_row([0.01, 0.02])))


def test_horizon_rubinstein_and_defaults(xl):
    alpha = 0.025 + 0.18 ** 2 / 2
    t_cash = xl("KELLY_HORIZON", alpha, 0.18, 0.0)[0][0]
    t_stock = xl("KELLY_HORIZON", alpha, 0.18, 0.0, None, 1)[0][0]
    assert t_cash == pytest.approx(208, rel=0.01)
    assert t_stock == pytest.approx(4700, rel=0.04)
    assert int(xl("KELLY_HORIZON", 0.041, 0.18, 0.0)[0][0]) == 208
    # explicit defaults give the same answer
    n_star = alpha / 0.18 ** 2
    assert xl("KELLY_HORIZON", alpha, 0.18, 0.0, 0.95, 0, n_star)[0][0] == pytest.approx(t_cash)
    t99 = xl("KELLY_HORIZON", alpha, 0.18, 0.0, 0.99)[0][0]
    assert t99 > t_cash


def test_horizon_errors(xl):
    assert "never out-grows" in _err(xl("KELLY_HORIZON", 0.0412, 0.18, 0.0, 0.95, 0, 3.0))
    assert "confidence: must be < 1" in _err(xl("KELLY_HORIZON", 0.0412, 0.18, 0.0, 1.0))
    assert "sigma: must be > 0" in _err(xl("KELLY_HORIZON", 0.0412, 0.0, 0.0))


def test_table_shape_and_values(xl):
    out = xl("KELLY_TABLE", 0.085, 0.182, 0.0)
    assert out[0][0] == "Kelly fraction" and len(out) == 5 and len(out[0]) == 7
    assert [r[0] for r in out[1:]] == ["1/4 Kelly", "1/2 Kelly", "3/4 Kelly", "full Kelly"]
    kept = [r[3] for r in out[1:]]
    np.testing.assert_allclose(kept, [0.4375, 0.75, 0.9375, 1.0])
    p_half = [r[5] for r in out[1:]]
    np.testing.assert_allclose(p_half, [0.5 ** 7, 0.5 ** 3, 0.5 ** (5 / 3), 0.5])
    out = xl("KELLY_TABLE", 0.085, 0.182, 0.0, 0.8)
    np.testing.assert_allclose(out[4][5], 0.8)
    # no edge: Kelly holds cash, wealth never moves: never doubles (blank), never halves
    flat = xl("KELLY_TABLE", 0.0, 0.182, 0.0)
    assert flat[4][1] == 0.0 and flat[4][6] == "" and flat[4][5] == 0.0
    assert "drawdown: must be < 1" in _err(xl("KELLY_TABLE", 0.085, 0.182, 0.0, 1.5))
    assert math.isfinite(out[1][6])
