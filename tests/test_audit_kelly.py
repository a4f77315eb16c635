"""Audit regressions for the Kelly toolkit (issue #4, seed 003).

Every expected value is independent of the code under test: closed forms, brute-force
grids, or first-order optimality (KKT) conditions checked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import excel_range, excel_row
from conftest import xl_error as _err

import pyxl.core.kelly as K
from pyxl.cli import main
from pyxl.core.kelly import portfolio as P
from pyxl.errors import InputError

# --- long-only scenario Kelly on near-arbitrage sets was refused as "growth unbounded" ---------

# Bounded long-only problems (no w >= 0, w != 0 has R w >= 0 in every row) whose optimum has
# large weights.  The barrier stalled at roundoff and the free-lunch LP then read Clarabel's
# 1e-8 noise around d = 0 as a free lunch.
_NEAR_ARB = {
    "6x2_rf2": (0.02, [
        [0.36652684069028291, -0.044388640542082719],
        [0.11847122522854830, 0.32134299816826423],
        [-0.25901878601383749, 0.41272399376520280],
        [0.35299833557805560, 0.29573146582785942],
        [-0.00023304022924944268, 0.12553525993573333],
        [-0.22930981022555125, 0.064488543458863359]]),
    "4x2": (0.0, [
        [0.3359926963508299, 0.45900448249388165],
        [0.32310037740047426, 0.00897213857170688],
        [-0.031170254331143094, -0.3363591904561371],
        [0.08841150369376313, 0.4791678295254998]]),
    "8x3": (0.0, [
        [-0.2453021809717411, 0.23213494689733072, -0.057913336398690396],
        [0.4822380420447041, 0.08176320370183698, -0.21431896747799067],
        [0.08209832297509798, -0.05649837982785558, 0.43251331442522944],
        [0.4522951032565096, 0.2300319269371882, -0.055624708423012065],
        [0.06732881016853963, 0.3088148337314826, -0.15341376396348388],
        [-0.15168246924264822, 0.2596598604449805, 0.23149802914948447],
        [-0.010503276331996353, -0.019566581283163215, -0.4402812441647526],
        [0.3434121887707513, 0.01847419908735138, -0.30906768092685144]]),
}


@pytest.mark.parametrize("key", sorted(_NEAR_ARB))
def test_long_only_near_arbitrage_is_solved_not_called_unbounded(key):
    rf, rows = _NEAR_ARB[key]
    r = np.array(rows)
    x = r - rf
    w = K.kelly_scenario(r, rf, long_only=True)
    wealth = 1.0 + rf + x @ w
    assert np.all(w >= -1e-9) and np.all(wealth > 0)
    # KKT of max mean ln(1 + rf + x w) s.t. w >= 0, checked by hand: the gradient
    # mean(x_i / wealth) is <= 0 everywhere and 0 where w_i > 0 (scaled by |x| |w|).
    grad = (x / wealth[:, None]).mean(axis=0)
    scale = 1e-7 / max(1.0, float(np.max(np.abs(w))))
    assert np.all(grad <= scale), grad
    assert np.all(np.abs(grad[w > 1e-6]) <= scale), (grad, w)


def test_free_lunch_lp_ignores_solver_noise_around_zero():
    rf, rows = _NEAR_ARB["6x2_rf2"]
    excess = np.array(rows) - rf
    # bounded for long-only: row 0 needs d1 <= 5.38 d0, row 5 needs d1 >= 5.60 d0
    P._check_bounded(excess, None, True, None, None)   # must not raise
    with pytest.raises(InputError, match="never loses"):
        P._check_bounded(np.abs(excess), None, True, None, None)   # a real free lunch


# --- a -100 % return (a default) is a valid simple return ------------------------------------

def test_scenario_accepts_a_total_loss_and_keeps_that_weight_below_one(xl):
    # two equally likely outcomes: +100 % or -100 %.  Kelly (closed form for a two-outcome bet
    # with b = 1, a = 1, p = 1/2) is 0; with +150 % / -100 %: f* = p/a - q/b = 0.5 - 0.5/1.5.
    r = np.array([[1.5], [-1.0]])
    w = K.kelly_scenario(r)
    assert w[0] == pytest.approx(0.5 - 0.5 / 1.5, abs=1e-9)
    out = xl("KELLY_SCENARIO", excel_range(r))
    assert out[0][0] == pytest.approx(0.5 - 0.5 / 1.5, abs=1e-9)
    # growth at a fractional leverage survives a -100 % period: ln(1 + 0.5 r) mean, by hand
    g = xl("KELLY_GROWTH", 0.5, None, None, 0.0, excel_range([1.5, -1.0]), 1)[0][0]
    assert g == pytest.approx(0.5 * (math.log(1.75) + math.log(0.5)), rel=1e-12)
    # full leverage is wiped out by it: an error line naming n
    assert "n: leverage 1 can wipe out" in _err(
        xl("KELLY_GROWTH", 1.0, None, None, 0.0, excel_range([1.5, -1.0]), 1))
    # below -100 % is still impossible for a simple return
    assert "returns: has a return below -100 %" in _err(
        xl("KELLY_SCENARIO", excel_range([[0.1], [-1.2]])))


# --- per-asset caps in KELLY_SCENARIO, as in KELLY_WEIGHTS -----------------------------------

def test_scenario_per_asset_caps_match_a_brute_force_grid(xl):
    rng = np.random.default_rng(np.random.SeedSequence(41))
    r = rng.normal([0.02, 0.01], [0.08, 0.05], (40, 2))
    caps = (0.5, None)   # cap the first asset only; blank = no cap
    out = xl("KELLY_SCENARIO", excel_range(r), None, None, None, ((0.5, None),))
    w = np.array(out[0])
    # brute force on a grid with |w0| <= 0.5
    a = np.linspace(-0.5, 0.5, 1001)
    b = np.linspace(-15, 15, 3001)
    best = -np.inf
    for w0 in a[::10]:
        wealth = 1.0 + w0 * r[:, 0:1] + r[:, 1:2] * b[None, :]
        g = np.where(np.all(wealth > 0, axis=0),
                     np.log(np.where(wealth > 0, wealth, 1.0)).mean(axis=0), -np.inf)
        best = max(best, float(g.max()))
    assert abs(w[0]) <= caps[0] + 1e-9
    assert best - 1e-4 <= K.scenario_growth(w, r)
    assert K.scenario_growth(w, r) >= best - 1e-9
    # the cap binds (the uncapped optimum holds more of asset 1)
    assert abs(K.kelly_scenario(r)[0]) > 0.5
    assert "max_weight: has 3 values, expected 1 or 2" in _err(
        xl("KELLY_SCENARIO", excel_range(r), None, None, None, excel_row([0.5, 1.0, 1.0])))


# --- sigma whose square underflows: internal error instead of a line naming sigma -------------

@pytest.mark.parametrize("formula, args", [
    ("KELLY_LEVERAGE", (0.085, 1e-200, 0.01)),
    ("KELLY_TABLE", (0.085, 1e-200, 0.01)),
    ("KELLY_HORIZON", (0.0, 1e-200, 0.01, 0.95, 0.0, 1.0)),
])
def test_tiny_sigma_is_an_error_line_naming_sigma(xl, formula, args):
    assert _err(xl(formula, *args)).startswith("#PyXL! sigma:")


# --- the CLI calls the core directly: NaN / out-of-range numbers gave nan or a traceback ------

@pytest.mark.parametrize("call, arg", [
    (lambda: K.kelly_weights([math.nan, 0.06], np.eye(2) * 0.04, 0.01), "mu"),
    (lambda: K.kelly_weights([0.08, 0.06], np.eye(2) * 0.04, math.nan), "rf"),
    (lambda: K.kelly_weights([0.08, 0.06], np.eye(2) * 0.04, 0.01, math.inf), "fraction"),
    (lambda: K.kelly_weights([0.08, 0.06], np.eye(2) * 0.04, 0.01, 1, math.nan), "max_leverage"),
    (lambda: K.kelly_weights([0.08, 0.06], np.eye(2) * 0.04, 0.01, 1, None, False, None,
                             math.nan), "budget"),
    (lambda: K.kelly_weights([0.08, 0.06], np.array([[0.04, math.nan], [math.nan, 0.04]]), 0.01),
     "cov"),
    (lambda: K.kelly_scenario(np.array([[0.1, 0.0], [-0.1, 0.02]]), -1.0), "rf"),
    (lambda: K.kelly_scenario(np.array([[0.1, 0.0], [-0.1, 0.02]]), math.nan), "rf"),
    (lambda: K.kelly_scenario(np.array([[0.1, 0.0], [-0.1, 0.02]]), 0.0, math.nan), "max_leverage"),
    (lambda: K.horizon_years(math.nan, 0.18, 0.0, 0.95, 0.0, 1.0), "mu"),
    (lambda: K.horizon_years(0.05, 0.18, 0.0, 0.95, 0.0, math.nan), "leverage"),
    (lambda: K.growth_exact(2.0, math.nan, 0.18, 0.01, "lognormal", 12), "mu"),
    (lambda: K.growth_exact(math.nan, 0.08, 0.18, 0.01, "lognormal", 12), "n"),
])
def test_core_rejects_non_finite_inputs(call, arg):
    with pytest.raises(InputError) as exc:
        call()
    assert exc.value.arg == arg


def test_cli_scenario_rf_minus_one_is_one_line(tmp_path, capsys):
    f = tmp_path / "r.csv"
    f.write_text("a,b\n0.01,0.02\n-0.02,0.01\n0.03,-0.01\n")
    assert main(["kelly", "scenario", str(f), "--rf", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyxl: rf:"), err


def test_horizon_default_leverage_equal_to_vs_names_vs_leverage(xl):
    # mu = rf: the Kelly leverage is 0 = cash; the user never typed a leverage
    text = _err(xl("KELLY_HORIZON", 0.01, 0.18, 0.01))
    assert text.startswith("#PyXL! vs_leverage: equals the Kelly leverage"), text
    # n* = 0.0324/0.18^2 = 1 against the unlevered portfolio
    text = _err(xl("KELLY_HORIZON", 0.0324, 0.18, 0.0, 0.95, 1))
    assert text.startswith("#PyXL! vs_leverage:"), text
    # an explicit equal leverage still names leverage
    assert _err(xl("KELLY_HORIZON", 0.05, 0.18, 0.0, 0.95, 1, 1)).startswith("#PyXL! leverage:")


def test_zero_covariance_is_named_as_zero_not_as_indefinite():
    with pytest.raises(InputError, match=r"cov: is zero \(no risk in any asset\)"):
        K.kelly_weights(np.array([0.05, 0.06]), np.zeros((2, 2)), 0.01)


def test_riskless_mix_with_excess_return_names_the_cause():
    """A singular covariance whose null space earns excess return: growth is unbounded
    under long-only limits without a cap (two perfectly correlated assets, different mu)."""
    cov = np.array([[0.04, 0.04], [0.04, 0.04]])
    with pytest.raises(InputError, match=r"max_leverage: growth is unbounded.*gains without risk"):
        K.kelly_weights(np.array([0.05, 0.08]), cov, 0.01, budget=1.0)


def test_barrier_converges_on_a_large_scenario_set():
    """50,000 scenarios x 50 assets, long-only with a budget: at large t the barrier's
    Newton decrement fell below phi's rounding and never met an absolute 1e-12 stop, so
    the barrier ran out of steps and the slow cone fallback ran (116 s at 100,000).  The
    answer must satisfy the KKT conditions of max mean ln(1 + x'w), w >= 0, sum w = 1."""
    T, N = 50_000, 50
    rng = np.random.default_rng(7)
    L = np.linalg.cholesky(0.05**2 * (0.3 + 0.7 * np.eye(N)))
    R = np.clip(rng.uniform(0.0, 0.008, N) + rng.standard_t(5, (T, N)) * math.sqrt(0.6) @ L.T,
                -0.95, None)
    x = (R - 0.0002) / 1.0002
    w = P._barrier_kelly(x, np.full(T, 1.0 / T), None, True, None, 1.0)
    assert w is not None
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
    g = (x / (1.0 + x @ w)[:, None]).mean(axis=0)  # gradient of the mean log growth
    held = w > 1e-6
    lam = g[held].mean()
    assert np.abs(g[held] - lam).max() < 1e-8       # equal marginal growth where held
    assert g[~held].max() <= lam + 1e-8             # no gain from adding a name not held
