"""Whole board lots (``lot_size``; seed 000 sec. 1, "lot adjustment"): the rule of
:mod:`pyxl.core.ledger.board_lots` in the engine, checked against the pure-Python
reference, a hand calculation, brute force over the rounding breakpoints, and
through =MNVH_BACKTEST and ``pyxl backtest``."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.cli import main
from pyxl.core.ledger.board_lots import LOT_GROSS_TOL, lot_need, lot_scale, lot_trade
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest, run_grid
from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy
from pyxl.core.mnvh.reference import reference_backtest
from pyxl.errors import InputError
from pyxl.numparse import EXACT_CSV
from pyxl.xl.cache import clear_all
from tests.test_mnvh_engine import (
    assert_same,
    check_identity,
    check_limits,
    paths,
    random_book_against_reference,
    stressed_run,
)

#: ``(hb, h)`` for the lot functions: no hedge taking up the legs' rounding
NO_HEDGE = (np.zeros(1), -1)


def whole(q, lot):
    """Largest distance of a position from its nearest whole lot, in lots."""
    q = np.asarray(q, float)
    lot = np.broadcast_to(np.asarray(lot, float), q.shape)
    on = lot > 0
    return float(np.max(np.abs(q[on] / lot[on] - np.rint(q[on] / lot[on])), initial=0.0))


# --- a hand calculation ---------------------------------------------------------------------

@pytest.mark.parametrize(("shares", "expect"), [(650, 700.0), (675, 700.0), (625, 600.0),
                                                (750, 800.0), (550, 600.0)])
def test_first_trade_by_hand_rounds_a_tie_away_from_zero(shares, expect):
    """Two assets at 128 move to 144 and 112 (r = +-12.5 %, R = 0, equal weights, all
    exact in binary): eq. 1 in absolute mode asks for -/+ beta x 0.5 / 128 x 0.125 =
    beta / 2048 shares; beta = 2048 x 650, 675, 625, 750 asks for exactly that many.
    Whole lots of 100: 700 (6.5 -> 7: a tie goes away from zero, as Excel's ROUND and
    MROUND, on the short side too: -6.5 -> -7), 700, 600, 800 and 600 (5.5 -> 6, where
    half to even would agree; 6.5 is where they differ).  No costs, so cash moves by
    the trade's value at 144 and 112 only."""
    beta = 2048.0 * shares
    P = np.array([[128.0, 128.0], [144.0, 112.0], [144.0, 112.0]])
    cfg = MNVHConfig(lam=0.9, beta=beta, beta_mode="absolute", lot_size=100)
    res = run_backtest(P, np.array([0.5, 0.5]), cfg)
    np.testing.assert_array_equal(res.q[1], [-expect, expect])
    np.testing.assert_array_equal(res.trades[1], [-expect, expect])
    assert res.cash[1] == 1e6 + expect * 144 - expect * 112
    assert res.kappa[1] == 1.0
    # bar 2: no move, so eq. 1 asks for lam q: 0.9 x 700 = 630 -> 600, 0.9 x 800 = 720 -> 700
    np.testing.assert_array_equal(np.abs(res.q[2]), 100 * np.floor(0.9 * expect / 100 + 0.5))
    frac = run_backtest(P, np.array([0.5, 0.5]), MNVHConfig(lam=0.9, beta=beta,
                                                             beta_mode="absolute"))
    np.testing.assert_array_equal(np.abs(frac.q[1]), shares)


# --- engine against the reference, on random books ------------------------------------------

LOTS = st.sampled_from([1.0, 10.0, 100.0, 7.5, "vector"])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), lam=st.floats(0.0, 1.0), beta=st.floats(0.0, 400.0),
       lag=st.sampled_from([0, 1]), lots=st.sampled_from(["fifo", "average"]),
       cap=st.sampled_from([None, 0.8, 2.0]), pos=st.sampled_from([None, 0.05, 0.3]),
       floor=st.sampled_from([-2e5, 0.0, 4e5]), dd=st.sampled_from([None, 0.3]),
       hedge=st.booleans(), impact=st.booleans(), lot=LOTS)
def test_engine_matches_reference_in_whole_lots(seed, lam, beta, lag, lots, cap, pos, floor,
                                                dd, hedge, impact, lot):
    def lot_size(rng):
        if lot == "vector":  # 0 = fractional; with a hedge, sometimes its own lot last
            return tuple(rng.choice([0.0, 1.0, 50.0, 100.0],
                                    5 + int(hedge and rng.random() < 0.5)))
        return lot

    a, cfg = random_book_against_reference(seed, lam, beta, lag, lots, cap, pos, floor, dd,
                                           hedge, impact, lot_size)
    used = cfg.lot_size
    sizes = np.broadcast_to(np.asarray(used, float), (5,)) if np.ndim(used) == 0 else \
        np.asarray(used[:5])
    assert whole(a.q, sizes) < 1e-9
    assert whole(a.trades, sizes) < 1e-9
    if hedge and (np.ndim(used) == 0 or len(used) == 6):
        assert whole(a.hedge_q, used if np.ndim(used) == 0 else used[5]) < 1e-9


def test_stressed_book_in_whole_lots_matches_reference_and_deleverages_whole_lots():
    """A book that hits the gross cap, the cash floor and forced deleveraging: the engine
    agrees with the reference, positions stay whole lots, and each deleveraging keeps at
    most (1 - delta) of every position (it closes at least the fraction delta)."""
    for lot in (1.0, 100.0, 1000.0):
        P, cfg, res = stressed_run(lot_size=lot)
        ref = reference_backtest(P, np.r_[1.5, -0.5, np.zeros(6)], cfg, adv=np.full(8, 2e4))
        assert_same(res, ref)
        assert [(t, k) for t, k, _ in res.risk_events] == [(t, k) for t, k, _ in ref.events]
        kinds = Counter(k for _, k, _ in res.risk_events)
        assert kinds["forced_delever"] > 0 and kinds["gross_cap"] > 0
        assert whole(res.q, lot) == 0.0
        for t, k, delta in res.risk_events:
            if k == "forced_delever":
                before, after = np.abs(res.q[t - 1]), np.abs(res.q[t])
                assert np.all(after <= (1 - delta) * before + 1e-9 * lot), t
                assert np.all(after >= (1 - delta) * before - lot * (1 + 1e-9)), t
        check_identity(res, cfg.cash0)
        check_limits(res, cfg)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cash0", [2e4, 1e5])
def test_small_long_biased_book_never_breaks_its_floor_in_whole_lots(seed, cash0):
    """Lots worth 2,000-15,000 against 20,000-100,000 of cash, long-biased weights, a gross
    cap and the floor at 0: rounding the kappa-scaled trade to whole lots breaks a limit
    on many bars, so the scale is searched down.  Cash stays on or above its floor and
    gross under its cap on every bar, and the engine matches the reference."""
    _, P = paths(seed, 80, 5, vol=0.04)
    w = np.r_[0.6, 0.4, 0.3, -0.2, -0.1]
    cfg = MNVHConfig(beta=60, cash0=cash0, min_cash=0.0, max_gross=1.5, lot_size=100,
                     fees=FeeModel(fee_rate=1e-3, fixed_fee=1.0))
    a = run_backtest(P, w, cfg)
    b = reference_backtest(P, w, cfg)
    assert_same(a, b)
    assert [(t, k) for t, k, _ in a.risk_events] == [(t, k) for t, k, _ in b.events]
    check_limits(a, cfg)
    assert np.all(a.cash >= 0.0)
    assert whole(a.q, 100) == 0.0
    assert sum(k in ("cash_limit", "gross_cap") for _, k, _ in a.risk_events) >= 5


def test_a_tiny_lot_converges_to_fractional_shares():
    """Lots of 1e-7 shares change positions by at most 5e-8 shares a bar: the run is the
    fractional one to about 1e-9 of NAV."""
    _, P = paths(11, 400, 6)
    w = np.full(6, 1 / 6)
    fees = FeeModel(fee_rate=5e-4, half_spread=1e-4)
    frac = run_backtest(P, w, MNVHConfig(fees=fees))
    tiny = run_backtest(P, w, MNVHConfig(fees=fees, lot_size=1e-7))
    assert np.max(np.abs(tiny.nav - frac.nav)) < 1e-9 * frac.nav.max()
    assert not np.array_equal(tiny.q, frac.q)
    # positions of 1e4 shares are 1e11 lots: their last bit is 2e-5 of a lot
    assert whole(tiny.q, 1e-7) < 1e-4


def test_position_cap_holds_in_whole_lots():
    """The cap is rounded down to whole lots: a clipped position never passes it."""
    _, P = paths(5, 300, 6)
    cfg = MNVHConfig(beta=200, max_position=0.05, lot_size=100, fees=FeeModel(fee_rate=5e-4))
    res = run_backtest(P, np.full(6, 1 / 6), cfg)
    assert any(k == "max_position" for _, k, _ in res.risk_events)
    navpre = res.nav[:-1] + res.mtm[1:] + res.financing[1:]
    assert np.all(np.abs(res.q[1:] * res.prices[1:]) <= 0.05 * navpre[:, None] * (1 + 1e-12))
    assert whole(res.q, 100) == 0.0


def test_zero_in_a_vector_leaves_that_asset_fractional():
    _, P = paths(2, 200, 3)
    res = run_backtest(P, np.full(3, 1 / 3), MNVHConfig(lot_size=(100, 0, 10)))
    assert whole(res.q[:, 0], 100) == 0.0 and whole(res.q[:, 2], 10) == 0.0
    assert whole(res.q[:, 1], 100) > 0.01  # fractional shares


# --- the scale search against brute force -----------------------------------------------------

def _feasible(q, x, p, slack, lots):
    need, _ = lot_need(q, x, p, np.zeros((1, len(q))), 0, False, 0.0, 0.0)
    return slack - need >= 0.0


def _breakpoints(q, dq, lots, hi):
    """Every scale in (0, hi] where some asset's rounded position changes."""
    out = []
    for a, b, L in zip(q, dq, lots, strict=True):
        if b == 0.0:
            continue
        lo_m, hi_m = sorted(((a) / L, (a + hi * b) / L))
        for m in range(int(np.floor(lo_m)) - 1, int(np.ceil(hi_m)) + 2):
            k = ((m + 0.5) * L - a) / b
            if 0.0 < k <= hi:
                out.append(k)
    return np.unique(out)


@pytest.mark.parametrize("seed", range(40))
def test_scale_search_finds_the_largest_feasible_scale_when_every_trade_is_a_buy(seed):
    """All buys: the cash a whole-lot trade needs rises with the scale, so the largest
    feasible scale is well defined; brute force over every rounding breakpoint agrees
    with the search's choice of trade."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    p = rng.uniform(20, 200, n)
    lots = rng.choice([1.0, 10.0, 100.0], n)
    q = lots * rng.integers(0, 5, n)
    dq = rng.uniform(0.3, 4.0, n) * lots
    slack = float(p @ dq) * rng.uniform(0.3, 1.0)
    hi = min(1.0, slack / float(p @ dq))  # the continuous kappa (no costs)
    x = np.zeros(n)
    k, why = lot_scale(q, dq, p, lots, 0.0, hi, slack, np.inf, False, np.zeros((1, n)), 0,
                       False, 0.0, 0.0, x, *NO_HEDGE)
    assert k >= 0.0 and _feasible(q, x, p, slack, lots)
    # brute force: the rounded trade just after each breakpoint, from the top
    ks = np.r_[_breakpoints(q, dq, lots, hi), hi]
    mids = np.r_[(ks[:-1] + ks[1:]) / 2, hi]
    best = None
    for m in mids[::-1]:
        y = np.zeros(n)
        lot_trade(q, dq, lots, m, y, *NO_HEDGE)
        if _feasible(q, y, p, slack, lots):
            best = y
            break
    if best is None:
        best = np.zeros(n)
    np.testing.assert_array_equal(x, best)
    assert why == (0 if k == hi else 1)


@pytest.mark.parametrize("seed", range(40))
def test_scale_search_stops_at_an_edge_of_feasibility(seed):
    """Buys and sells: the search's trade is feasible and the next whole-lot trade above
    its scale (past the next breakpoint) is not, or the scale is the continuous kappa."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 7))
    p = rng.uniform(20, 200, n)
    lots = rng.choice([1.0, 10.0, 100.0], n)
    q = lots * rng.integers(-5, 6, n)
    dq = rng.uniform(-4.0, 4.0, n) * lots
    S = float(p @ dq)
    slack = max(S, 0.0) * rng.uniform(0.2, 1.0) + 1.0
    hi = min(1.0, slack / S) if S > 0 else 1.0
    x = np.zeros(n)
    k, _ = lot_scale(q, dq, p, lots, 0.0, hi, slack, np.inf, False, np.zeros((1, n)), 0,
                     False, 0.0, 0.0, x, *NO_HEDGE)
    if k < 0:  # nothing feasible above 0: only when even the smallest trades break it
        return
    assert _feasible(q, x, p, slack, lots)
    if k < hi:
        bps = _breakpoints(q, dq, lots, hi)
        above = bps[bps > k]
        nxt = above[0] if above.size else hi
        after = above[1] if above.size > 1 else hi
        y = np.zeros(n)
        lot_trade(q, dq, lots, 0.5 * (nxt + after) if after > nxt else hi, y, *NO_HEDGE)
        assert not _feasible(q, y, p, slack, lots)


def test_scale_search_names_the_gross_cap_when_only_it_breaks():
    q, p, lots = np.zeros(2), np.array([100.0, 100.0]), np.array([100.0, 100.0])
    dq = np.array([160.0, -160.0])  # gross 2 x 16,000 at full scale; rounded: 2 x 20,000
    x = np.zeros(2)
    k, why = lot_scale(q, dq, p, lots, 0.0, 1.0, 1e9, 35_000.0, True, np.zeros((1, 2)), 0,
                       False, 0.0, 0.0, x, *NO_HEDGE)
    assert why == 2 and 0 < k < 1
    np.testing.assert_array_equal(x, [100.0, -100.0])


# --- the grid, bad input and the adapters ------------------------------------------------------

def test_grid_points_equal_single_runs_in_whole_lots():
    _, P = paths(4, 250, 5)
    w = np.full(5, 0.2)
    cfg = MNVHConfig(lot_size=100, fees=FeeModel(fee_rate=5e-4, fixed_fee=1.0))
    g = run_grid(P, w, [0.8, 0.95], [20.0, 60.0], cfg, threads=2)
    for (lam, beta), nav in zip(itertools.product([0.8, 0.95], [20.0, 60.0]), g.nav,
                                strict=True):
        one = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, lot_size=100, fees=cfg.fees))
        np.testing.assert_array_equal(nav, one.nav)


@pytest.mark.parametrize(("value", "fix"), [(-100, ">= 0"), (float("nan"), ">= 0"),
                                            ("abc", "number"), ([[1, 2], [3, 4]], "number"),
                                            (1e-12, "at least 1e-09"),
                                            ((100, 5e-324), "at least 1e-09")])
def test_bad_lot_size_is_named(value, fix):
    with pytest.raises(InputError) as e:
        MNVHConfig(lot_size=value)
    assert e.value.arg == "lot_size" and fix in str(e.value)


def test_lot_size_vector_of_the_wrong_length_is_named():
    _, P = paths(1, 50, 4)
    with pytest.raises(InputError, match="lot_size.*3 values for 4 assets"):
        run_backtest(P, np.full(4, 0.25), MNVHConfig(lot_size=(100, 100, 100)))


def test_lot_size_through_formula_cli_and_api(xl, tmp_path, capsys):
    """=MNVH_BACKTEST(..., lot_size) is argument 23 (after debit_rate); the formula, the
    CLI's --lot-size and the Python API give the same Final NAV to the last digit, and
    it differs from the fractional run."""
    from pyxl.data import load_sp500_prices

    px = load_sp500_prices("2015-01-02", "2016-12-30")
    p = px.to_numpy(float)
    api = run_strategy(p, research_config(lot_size=100.0), build_inputs(p, "equal"))
    assert whole(api.q, 100) == 0.0
    grid = tuple([("Date", *px.columns)] + [(d.to_pydatetime(), *r) for d, r in
                                            zip(px.index, p.tolist(), strict=True)])
    args = [grid] + [None] * 21
    clear_all()
    lots = {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args, 100)}["Final NAV"]
    clear_all()
    frac = {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args)}["Final NAV"]
    assert lots == api.nav[-1] != frac
    clear_all()
    row = [[100.0] * p.shape[1]]
    assert {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args, row)}["Final NAV"] == lots
    px.rename_axis("Date").to_csv(tmp_path / "p.csv")
    assert main(["backtest", str(tmp_path / "p.csv"), "--lot-size", "100", "--no-xlsx", "-o",
                 str(tmp_path / "o")]) == 0
    c = pd.read_csv(tmp_path / "o" / "mnvh" / "metrics.csv", **EXACT_CSV)
    assert c.set_index("label").loc["Final NAV", "MNVH"] == lots
    led = pd.read_csv(tmp_path / "o" / "mnvh" / "ledger.csv", **EXACT_CSV)
    qcols = [col for col in led.columns if col.startswith("q:")]
    assert qcols and whole(led[qcols].to_numpy(), 100) == 0.0
    capsys.readouterr()
    assert main(["backtest", str(tmp_path / "p.csv"), "--lot-size", "-5"]) == 2
    assert capsys.readouterr().err.strip().startswith("pyxl: --lot-size: must be finite")
    clear_all()
    err = xl("MNVH_BACKTEST", *args, [[100.0, 100.0]])
    assert "lot_size" in str(err) and "2 values for 20 assets" in str(err)


@pytest.mark.parametrize("x", [0.5, -0.5, 1.5, -2.5, 2.4999999999999996, 0.49999999999999994,
                               -0.49999999999999994, 3.5000000000000004, 1e15 + 0.5, 0.0,
                               -0.0, 7.0, 4503599627370495.5, 123.49999999999999])
def test_half_away_is_excel_round(x):
    """Ties go away from zero (Excel's ROUND(x, 0)); everything else to the nearest."""
    from decimal import ROUND_HALF_UP, Decimal

    from pyxl.core.ledger.board_lots import half_away

    assert half_away(x) == float(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(("flags", "said"), [
    (["--lot-size", "100,100"], "--lot-size: has 2 values for 5 assets; give one number "
                                "(e.g. 100) or 5 values, one per asset"),
    (["--lot-size", ",".join(["100"] * 6)], "--lot-size: has 6 values for 5 assets"),
    (["--lot-size", "abc"], "--lot-size: 'abc' is not a number or a comma list"),
    (["--lot-size", "nan"], "--lot-size: must be finite and >= 0"),
])
def test_cli_names_lot_size_errors_under_the_option(tmp_path, capsys, flags, said):
    _, P = paths(3, 60, 5)
    pd.DataFrame(P, index=pd.bdate_range("2020-01-01", periods=60, name="Date"),
                 columns=list("ABCDE")).to_csv(tmp_path / "p.csv")
    assert main(["backtest", str(tmp_path / "p.csv"), *flags, "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("pyxl: " + said)


def test_cli_per_asset_lot_sizes_with_the_hedge_last(tmp_path):
    """Six values for five assets are accepted with --hedge (the sixth is the hedge's lot)
    and every position in the ledger, hedge included, is a whole number of its lots."""
    _, P = paths(3, 120, 5)
    days = pd.bdate_range("2020-01-01", periods=120, name="Date")
    pd.DataFrame(P, index=days, columns=list("ABCDE")).to_csv(tmp_path / "p.csv")
    b = 100 * np.cumprod(1 + 0.01 * np.random.default_rng(0).standard_normal(120))
    pd.DataFrame({"Date": days, "IDX": b}).to_csv(tmp_path / "b.csv", index=False)
    assert main(["backtest", str(tmp_path / "p.csv"), "--benchmark", str(tmp_path / "b.csv"),
                 "--hedge", "--lot-size", "1,10,100,0,5,2", "--no-xlsx",
                 "-o", str(tmp_path / "o")]) == 0
    led = pd.read_csv(tmp_path / "o" / "mnvh" / "ledger.csv", **EXACT_CSV)
    q = led[[c for c in led.columns if c.startswith("q:")] + ["hedge_q"]].to_numpy()
    assert q.shape[1] == 6 and np.abs(q[:, 5]).max() > 0
    for j, lot in enumerate([1, 10, 100, 0, 5, 2]):
        if lot:
            assert whole(q[:, j], lot) == 0.0, j
    assert whole(q[:, 3], 1) > 0.01  # the 0 leaves D fractional


def test_grid_over_hedge_on_and_off_takes_n_plus_one_lot_sizes():
    """With N + 1 lot sizes (the hedge's last) an ablation over hedge on and off uses the
    first N for the unhedged points: the table equals the one with the same single lot
    size for every asset, hedge included, and so does the walk-forward."""
    from pyxl.core.mnvh.ablation import ablation_grid, walk_forward

    _, P = paths(8, 300, 4)
    bench = 100 * np.cumprod(1 + 0.01 * np.random.default_rng(1).standard_normal(300))
    kw = dict(lams=[0.9], betas=[20.0, 40.0], schemes=["equal"], hedges=[False, True])
    one = ablation_grid(P, research_config(lot_size=10.0), benchmark=bench, **kw)
    each = ablation_grid(P, research_config(lot_size=(10.0,) * 5), benchmark=bench, **kw)
    pd.testing.assert_frame_equal(one, each)
    assert one["hedge"].tolist() == [False, False, True, True]
    wkw = dict(kw, is_periods=120, oos_periods=60)
    a = walk_forward(P, research_config(lot_size=10.0), benchmark=bench, **wkw)
    b = walk_forward(P, research_config(lot_size=(10.0,) * 5), benchmark=bench, **wkw)
    np.testing.assert_array_equal(a.oos_nav, b.oos_nav)
    pd.testing.assert_frame_equal(a.folds, b.folds)


def _full_bisection(q, dq, p, lots, slack, G, kimp, lin, fixed_fee):
    """The whole-lot scale search written plainly: the last feasible point of a
    bisection of [0, 1], every step checking the whole rounded trade (1.0 when the full
    trade is feasible).  Returns the scale and its trade."""
    n = len(q)

    def ok(m):
        y = np.zeros(n)
        lot_trade(q, dq, lots, m, y, *NO_HEDGE)
        need, g = lot_need(q, y, p, kimp, 0, bool(kimp.any()), lin, fixed_fee)
        return slack - need >= 0.0 and g <= G * (1.0 + LOT_GROSS_TOL), y

    if ok(1.0)[0]:
        return 1.0, ok(1.0)[1]
    a, b = 0.0, 1.0
    assert ok(a)[0]
    while True:
        m = 0.5 * (a + b)
        if m in (a, b):
            break
        if ok(m)[0]:
            a = m
        else:
            b = m
    return a, ok(a)[1]


@pytest.mark.parametrize("seed", range(30))
def test_search_on_one_asset_gives_the_full_bisections_scale_and_trade(seed):
    """Once the search's ends differ by one lot of one asset it checks that asset alone;
    a full bisection over the whole trade (written here) must give the same scale and
    trade, bit for bit."""
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(2, 9))
    p = rng.uniform(500, 30_000, n)
    lots = rng.choice([1.0, 100.0], n)
    q = lots * rng.integers(-20, 21, n)
    dq = rng.uniform(-6.0, 6.0, n) * lots
    slack = float(abs(p @ dq)) * rng.uniform(0.05, 0.6)
    x = np.zeros(n)
    k, _ = lot_scale(q, dq, p, lots, 0.0, 1.0, slack, np.inf, False, np.zeros((1, n)), 0,
                     False, 5e-4, 0.0, x, *NO_HEDGE)
    a, xa = _full_bisection(q, dq, p, lots, slack, np.inf, np.zeros((1, n)), 5e-4, 0.0)
    assert k == a
    np.testing.assert_array_equal(x, xa)


@pytest.mark.parametrize("seed", range(24))
def test_search_on_large_books_gives_the_full_bisections_result(seed):
    """On books of 40-200 whole-lot assets (lots of 1, 10 and 100) with a gross cap,
    impact and a fixed fee, the search's scale and trade (its ends' trades passed on,
    the single-asset finish, the branch-free rounding) equal those of a full bisection
    that rounds every asset at every step (written here), bit for bit."""
    rng = np.random.default_rng(900 + seed)
    n = int(rng.choice([40, 120, 200]))
    p = rng.uniform(20.0, 80.0, n)
    lots = rng.choice([1.0, 10.0, 100.0], n)
    q = lots * rng.integers(-30, 31, n)
    dq = rng.normal(0.0, 25.0, n) * (1.0 + (lots > 1.0) * 9.0)
    kimp = rng.uniform(0.0, 2e-6, (1, n)) * (seed % 2)
    g0 = float(np.abs(q) @ p)
    G = np.inf if seed % 3 == 0 else g0 * rng.uniform(1.0, 1.2)
    slack = float(abs(p @ dq)) * rng.uniform(0.05, 0.6)
    x = np.zeros(n)
    k, _ = lot_scale(q, dq, p, lots, 0.0, 1.0, slack, G, np.isfinite(G), kimp, 0,
                     bool(kimp.any()), 5e-4, 0.3, x, *NO_HEDGE)
    a, xa = _full_bisection(q, dq, p, lots, slack, G, kimp, 5e-4, 0.3)
    if k < 0.0:  # the search found no feasible scale: nor may the full bisection
        pytest.fail(f"no scale found; the full bisection gave {a}")
    assert k == a
    np.testing.assert_array_equal(x, xa)


# --- a fractional hedge takes up the whole-lot legs' rounding -------------------------------

def test_hedge_takes_up_the_legs_rounding_by_hand():
    """Legs at 1,000 and 2,000 yen in lots of 100, betas 1.0 and 1.5, a fractional hedge at
    500: hb = (1.0 x 1000 / 500, 1.5 x 2000 / 500) = (2, 6) hedge units per share.  The
    continuous trade (130, -40, -20) is neutral (2 x 130 - 6 x 40 - 20 = 0); rounded, the
    legs buy 100 and 0 (residuals -30 and +40), so the hedge trades
    -20 - (2 x -30 + 6 x 40) = -200, and the book stays neutral: 2 x 100 - 200 = 0.  A
    deleveraging of 1/4 of (300, -100, -100) keeps 2 lots and 0 lots (floor(2.25),
    floor(0.75)): trades (-100, +100) against the continuous (-75, +25), residuals -25 and
    +75, so the hedge trades 25 - (2 x -25 + 6 x 75) = -375, and the exposure after,
    2 x 200 - 475 = -75, is 3/4 of the exposure before, 2 x 300 - 6 x 100 - 100 = -100."""
    from pyxl.core.ledger.board_lots import lot_delever

    hb, lots = np.array([2.0, 6.0, 0.0]), np.array([100.0, 100.0, 0.0])
    x = np.zeros(3)
    lot_trade(np.zeros(3), np.array([130.0, -40.0, -20.0]), lots, 1.0, x, hb, 2)
    np.testing.assert_array_equal(x, [100.0, 0.0, -200.0])
    q = np.array([300.0, -100.0, -100.0])
    lot_delever(q, lots, 0.25, x, hb, 2)
    np.testing.assert_array_equal(x, [-100.0, 100.0, -375.0])
    after = q + x
    assert 2 * after[0] + 6 * after[1] + after[2] == 0.75 * (2 * 300 - 6 * 100 - 100)


def _exposure(q, P, betas, s):
    """Beta exposure of positions ``q`` (legs then hedge) at bar ``s``'s prices, with the
    betas the engine uses at ``s`` (row ``s - 1``), in currency."""
    return float(betas[s - 1] @ (q[:-1] * P[s, :-1]) + q[-1] * P[s, -1])


@pytest.mark.parametrize("seed", range(6))
def test_fractional_hedge_keeps_a_whole_lot_book_neutral(seed):
    """Six yen stocks in lots of 100 with a fractional hedge (lot sizes for the legs only)
    and time-varying betas.  On every bar that trades the exposure after the trade, from
    positions, prices and betas alone, is (1 - kappa) times the exposure before it (and
    (1 - delta) after a forced deleveraging), as with fractional stocks: 0 to rounding on
    a bar with kappa = 1.  Before the hedge took up the legs' rounding it was up to 1.1 %
    of NAV on such books."""
    rng = np.random.default_rng(700 + seed)
    T, N = 120, 6
    P = rng.uniform(800, 9000, N) * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    hp = 2500.0 * np.exp(np.cumsum(rng.normal(0, 0.01, T)))
    betas = rng.uniform(0.5, 1.6, N) * np.exp(rng.normal(0, 0.05, (T, N)))
    cfg = MNVHConfig(lam=0.9, beta=35.0, cash0=1e8, lot_size=(100.0,) * N,
                     max_gross=(None, 2.0)[seed % 2], min_cash=(0.0, 9e7)[seed % 2 == 0],
                     fees=FeeModel(fee_rate=5e-4, fixed_fee=200.0))
    res = run_backtest(P, np.full(N, 1.0 / N), cfg, hedge_prices=hp, asset_betas=betas)
    Q = np.column_stack([res.q, res.hedge_q])
    PP = np.column_stack([P, hp])
    delev = {t for t, k, _ in res.risk_events if k == "forced_delever"}
    assert not {k for _, k, _ in res.risk_events} & {"drawdown_stop", "insolvent"}
    checked = 0
    for s in range(1, T):
        if not np.any(Q[s] != Q[s - 1]):
            continue
        before, after = _exposure(Q[s - 1], PP, betas, s), _exposure(Q[s], PP, betas, s)
        left = 1.0 - (res.delever[s] if s in delev else res.kappa[s])
        tol = 1e-9 * float(np.abs(Q[s] * PP[s]).sum() + np.abs(Q[s - 1] * PP[s]).sum())
        assert abs(after - left * before) <= tol, (s, after, left * before)
        checked += 1
    assert checked > 100
    assert np.array_equal(res.q, 100.0 * np.round(res.q / 100.0))


def test_hedge_offset_of_cancelling_dust_is_no_trade():
    """CI's derandomised draw: beta 2.2e-16 gives targets of about 1e-14 shares, so every
    whole-lot leg rounds to 0 and the fractional hedge's offset, a sum of terms of about
    1e-14, cancels to about 1e-29 units, a value that depends on the order and fusing of
    the floating-point operations (numba fused them, Python did not: 2.2e-29 against
    1.6e-29, and 0 against 1.3e-29 on one bar), so the engine paid a fixed fee of 2 on
    one bar fewer than the reference.  Such a residue (within 1e-12 of its terms) is no
    trade: the hedge never trades, no fee is paid, and engine and reference agree."""
    a, _ = random_book_against_reference(
        9928, 0.0, 2.220446049250313e-16, 0, "fifo", None, None, -2e5, None, True, False,
        lambda rng: tuple(rng.choice([0.0, 1.0, 50.0, 100.0],
                                     5 + int(rng.random() < 0.5))))
    assert not a.hedge_trades.any() and not a.trades.any()
    np.testing.assert_array_equal(a.fees, 0.0)
