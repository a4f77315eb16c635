"""Cross-adapter consistency: the same prices and options give the same numbers through
=MNVH_BACKTEST, ``pyxl backtest`` and the Python API (and the Kelly formulas, the CLI and
the core), to the last digit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.core.metrics import backtest_metrics
from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy
from pyxl.numparse import EXACT_CSV  # pandas < 3 parses floats 1 ulp off
from pyxl.xl.cache import clear_all

T, N = 200, 5
TICKERS = [f"T{i}" for i in range(N)]
DATES = pd.bdate_range("2020-01-01", periods=T)


def _data():
    rng = np.random.default_rng(3)
    p = np.round(30 * np.cumprod(1 + rng.normal(0.0002, 0.02, (T, N)), axis=0), 4)
    b = np.round(1000 * np.cumprod(1 + rng.normal(0, 0.01, T)), 3)
    return p, b


def _grid(p, dates, name_row):
    return tuple([("Date", *name_row)]
                 + [(d.to_pydatetime(), *r) for d, r in zip(dates, np.atleast_2d(p.T).T.tolist(),
                                                           strict=True)])


def _write(tmp_path, p, b):
    prices = tmp_path / "p.csv"
    bench = tmp_path / "b.csv"
    frame = pd.DataFrame(p, index=pd.Index(DATES, name="Date"), columns=TICKERS)
    frame.to_csv(prices)
    pd.DataFrame({"Date": DATES, "SPX": b}).to_csv(bench, index=False)
    return prices, bench


# every option set, and away from its default
OPTS = dict(lam=0.85, beta=20.0, weights="invvol", fee_rate=0.001, half_spread=0.0002,
            hedge=True, throttle=True, beta_mode="nav", cash0=5e5, max_gross=3.0,
            max_position=0.5, drawdown_stop=0.5, exec_lag=1, fixed_fee=1.0,
            borrow_rate=0.02, cash_rate=0.01, min_cash=0.0, periods_per_year=252)
FLAGS = ["--lam", "0.85", "--beta", "20", "--weights", "invvol", "--fee-rate", "0.001",
         "--half-spread", "0.0002", "--hedge", "--throttle", "--beta-mode", "nav",
         "--cash0", "500000", "--max-gross", "3", "--max-position", "0.5",
         "--drawdown-stop", "0.5", "--exec-lag", "1", "--fixed-fee", "1",
         "--borrow-rate", "0.02", "--cash-rate", "0.01", "--min-cash", "0",
         "--periods-per-year", "252", "--no-xlsx"]


def _formula(xl, p, b, **over):
    o = {**OPTS, **over}
    clear_all()
    out = xl("MNVH_BACKTEST", _grid(p, DATES, TICKERS), o["lam"], o["beta"], o["weights"],
             o["fee_rate"], o["half_spread"], _grid(b[:, None], DATES, ["SPX"]), o["hedge"],
             o["throttle"], o["beta_mode"], o["cash0"], o["max_gross"], o["max_position"],
             o["drawdown_stop"], o["exec_lag"], o["fixed_fee"], o["borrow_rate"],
             o["cash_rate"], o["min_cash"], o["periods_per_year"])
    return {r[0]: r[1] for r in out}


def _cli(tmp_path, prices, bench, out="o", flags=FLAGS):
    assert main(["backtest", str(prices), "--benchmark", str(bench), "-o",
                 str(tmp_path / out), *flags]) == 0
    path = tmp_path / out / "mnvh" / "metrics.csv"
    return pd.read_csv(path, **EXACT_CSV).set_index("label")["MNVH"]


def _same(a, b):
    """Equal to the last digit; a blank formula cell (None) is the CLI's NaN."""
    a = np.nan if a is None or a == "" else float(a)
    return a == b or (np.isnan(a) and np.isnan(b))


def test_cli_backtest_equals_formula_and_api_to_the_last_digit(xl, tmp_path, capsys):
    """``pyxl backtest`` on a CSV and =MNVH_BACKTEST on the same cells, every option set,
    agree bit for bit, and both equal the Python API on a row-major array.  Before, the
    CLI handed the engine a column-major array (a DataFrame's values), whose numpy sums
    round in another order: Final NAV 507763.09331178345 against 507763.0933117835 in the
    formula, Sharpe 1.3504478232866106 against ...5806 (invvol weights, rho throttle)."""
    p, b = _data()
    prices, bench = _write(tmp_path, p, b)
    f = _formula(xl, p, b)
    c = _cli(tmp_path, prices, bench)
    cfg = research_config(lam=0.85, beta=20.0, cash0=5e5, max_gross=3.0, max_position=0.5,
                          drawdown_stop=0.5, exec_lag=1, fee_rate=0.001, half_spread=0.0002,
                          fixed_fee=1.0, borrow_rate=0.02, cash_rate=0.01)
    res = run_strategy(p, cfg, build_inputs(p, "invvol", benchmark=b, hedge=True,
                                            throttle=True))
    api = backtest_metrics(res, p, benchmark=b)
    assert api["final_nav"] == f["Final NAV"]
    assert api["sharpe"] == f["Sharpe"]
    diffs = {k: (f[k], c[k]) for k in c.index if k in f and not _same(f[k], c[k])}
    assert not diffs


def test_cli_newest_first_files_equal_formula_newest_first_range(xl, tmp_path, capsys):
    """Newest-first prices and benchmark (each with its dates) give the oldest-first
    figures in both adapters."""
    p, b = _data()
    prices = tmp_path / "p.csv"
    bench = tmp_path / "b.csv"
    pd.DataFrame(p, index=pd.Index(DATES, name="Date"), columns=TICKERS).iloc[::-1] \
        .to_csv(prices)
    pd.DataFrame({"Date": DATES, "SPX": b}).iloc[::-1].to_csv(bench, index=False)
    c = _cli(tmp_path, prices, bench)
    f = _formula(xl, p, b)
    assert c["Final NAV"] == f["Final NAV"] and c["Sharpe"] == f["Sharpe"]


def test_formula_benchmark_meets_prices_by_date_like_the_cli(xl, tmp_path, capsys):
    """A dated benchmark whose dates are not the prices' was paired row by row by
    =MNVH_BACKTEST (a benchmark five years off gave a beta and a hedge without a word),
    while ``pyxl backtest --benchmark`` meets it by date and refuses a missing date."""
    p, b = _data()
    later = DATES + pd.DateOffset(years=5)
    clear_all()
    out = xl("MNVH_BACKTEST", _grid(p, DATES, TICKERS), None, None, None, None, None,
             _grid(b[:, None], later, ["SPX"]), True)
    text = out[0][0]
    assert text.startswith("#PyXL! benchmark:") and "2020-01-01" in text, text
    prices = tmp_path / "p.csv"
    pd.DataFrame(p, index=pd.Index(DATES, name="Date"), columns=TICKERS).to_csv(prices)
    bench = tmp_path / "b.csv"
    pd.DataFrame({"Date": later, "SPX": b}).to_csv(bench, index=False)
    assert main(["backtest", str(prices), "--benchmark", str(bench), "-o",
                 str(tmp_path / "o"), "--no-xlsx"]) == 2
    assert "2020-01-01" in capsys.readouterr().err


def test_formula_longer_dated_benchmark_is_taken_on_the_price_dates(xl, tmp_path, capsys):
    """A benchmark covering more dates than the prices (a longer index history) is taken
    on the price dates, as by the CLI; the figures equal a benchmark of exactly those
    rows."""
    p, b = _data()
    extra_dates = pd.bdate_range(end=DATES[0] - pd.offsets.BDay(1), periods=7).append(DATES)
    extra = np.concatenate([np.linspace(900, 990, 7), b])
    clear_all()
    longer = xl("MNVH_BACKTEST", _grid(p, DATES, TICKERS), None, None, None, None, None,
                _grid(extra[:, None], extra_dates, ["SPX"]), True)
    clear_all()
    exact = xl("MNVH_BACKTEST", _grid(p, DATES, TICKERS), None, None, None, None, None,
               _grid(b[:, None], DATES, ["SPX"]), True)
    assert longer == exact
    prices, _ = _write(tmp_path, p, b)
    bench = tmp_path / "b_long.csv"
    pd.DataFrame({"Date": extra_dates, "SPX": extra}).to_csv(bench, index=False)
    c = _cli(tmp_path, prices, bench, flags=["--hedge", "--no-xlsx"])
    f = {r[0]: r[1] for r in exact}
    assert c["Final NAV"] == f["Final NAV"]
    assert c["Beta to benchmark"] == f["Beta to benchmark"]


def test_formula_refuses_a_repeated_date_like_the_cli(xl, tmp_path, capsys):
    """A date on two rows was one more bar in =MNVH_BACKTEST and an error in
    ``pyxl backtest``; both now refuse it, naming the rows."""
    p, _ = _data()
    dates = DATES.tolist()
    dates[5] = dates[4]
    dates = pd.DatetimeIndex(dates)
    clear_all()
    text = xl("MNVH_BACKTEST", _grid(p, dates, TICKERS))[0][0]
    assert text == ("#PyXL! prices: date 2020-01-07 is on rows 5 and 6; remove the "
                    "repeated row (one row per date)")
    prices = tmp_path / "p.csv"
    pd.DataFrame(p, index=pd.Index(dates, name="Date"), columns=TICKERS).to_csv(prices)
    assert main(["backtest", str(prices), "-o", str(tmp_path / "o"), "--no-xlsx"]) == 2
    assert "2020-01-07" in capsys.readouterr().err


def test_defaults_agree_formula_cli(xl, tmp_path, capsys):
    """Every option left out: the formula's defaults and the CLI's defaults are the same
    run (lam 0.9, beta 35 x NAV, equal weights, 5 bp + 1 bp, cash 1e6, 252 bars/year)."""
    p, b = _data()
    prices, _ = _write(tmp_path, p, b)
    clear_all()
    f = {r[0]: r[1] for r in xl("MNVH_BACKTEST", _grid(p, DATES, TICKERS))}
    assert main(["backtest", str(prices), "-o", str(tmp_path / "o"), "--no-xlsx"]) == 0
    c = pd.read_csv(tmp_path / "o" / "mnvh" / "metrics.csv", **EXACT_CSV).set_index("label")["MNVH"]
    diffs = {k: (f[k], c[k]) for k in c.index if k in f and not _same(f[k], c[k])}
    assert not diffs


@pytest.mark.parametrize("cmd, expected", [
    (["leverage", "0.085", "0.182", "0.01", "--fraction", "0.5"], "Kelly leverage 1.1321"),
    (["horizon", "0.085", "0.182", "0.01"], "63.7 years"),
])
def test_kelly_cli_prints_the_formula_values(xl, capsys, cmd, expected):
    """``pyxl kelly`` prints the closed forms the formulas return (S&P 500 row of the
    seed: n* = 0.075 / 0.182^2 = 2.26422, half Kelly 1.13211; horizon (z sigma / (n
    (mu - rf) - n^2 sigma^2 / 2))^2 ... 63.73 years at the Kelly leverage vs cash)."""
    assert main(["kelly", *cmd]) == 0
    assert expected in capsys.readouterr().out
    n = xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, 0.5)[0][0]
    assert n == pytest.approx(0.5 * 0.075 / 0.182 ** 2, rel=1e-15)
    years = xl("KELLY_HORIZON", 0.085, 0.182, 0.01)[0][0]
    nk = 0.075 / 0.182 ** 2
    drift = nk * 0.075 - nk ** 2 * 0.182 ** 2 / 2
    assert years == pytest.approx((1.6448536269514722 * nk * 0.182 / drift) ** 2, rel=1e-12)


@pytest.mark.parametrize("scheme", ["invvol", "markowitz"])
def test_core_results_do_not_depend_on_the_memory_layout(scheme):
    """A column-major price table (``df.to_numpy()`` of a CSV) gave another last digit
    than the same prices row-major (the formula's cells): numpy's sums round in memory
    order.  The core now takes every layout as row-major."""
    from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy

    rng = np.random.default_rng(np.random.SeedSequence(11))
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (600, 12)), axis=0))
    cfg = research_config()
    a = run_strategy(p, cfg, build_inputs(p, scheme, throttle=True))
    b = run_strategy(np.asfortranarray(p), cfg,
                     build_inputs(np.asfortranarray(p), scheme, throttle=True))
    np.testing.assert_array_equal(a.nav, b.nav)


def test_debit_rate_charges_negative_cash_in_formula_cli_and_api(xl, tmp_path, capsys):
    """=MNVH_BACKTEST(..., debit_rate) (argument 22, after metric) and --debit-rate charge
    negative cash at their own rate; blank keeps cash_rate on it.  This book (bundled data
    2008-2009, beta 70, no gross cap) goes insolvent on bar 320 and holds negative cash
    from there on."""
    from pyxl.data import load_sp500_prices

    px = load_sp500_prices("2008-01-02", "2009-12-31")
    p = px.to_numpy(float)
    cfg = research_config(lam=0.95, beta=70.0, cash_rate=0.01, debit_rate=0.1)
    res = run_strategy(p, cfg, build_inputs(p, "equal"))
    neg = np.flatnonzero(res.cash[:-1] < 0)
    assert neg.size > 100
    # independent arithmetic: a flat book's financing is debit_rate / 252 x cash
    flat = neg[res.gross[neg] == 0]
    assert flat.size > 100
    np.testing.assert_allclose(res.financing[flat + 1], 0.1 / 252 * res.cash[flat],
                               rtol=1e-13)
    grid = _grid(p, px.index, list(px.columns))
    args = [grid, 0.95, 70.0] + [None] * 14 + [0.01, None, None]
    clear_all()
    charged = {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args, None, 0.1)}["Final NAV"]
    clear_all()
    blank = {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args)}["Final NAV"]
    assert charged == res.nav[-1] < blank < 0
    px.rename_axis("Date").to_csv(tmp_path / "p.csv")
    assert main(["backtest", str(tmp_path / "p.csv"), "--lam", "0.95", "--beta", "70",
                 "--cash-rate", "0.01", "--debit-rate", "0.1", "--no-xlsx", "-o",
                 str(tmp_path / "o")]) == 0
    c = pd.read_csv(tmp_path / "o" / "mnvh" / "metrics.csv", **EXACT_CSV)
    assert c.set_index("label").loc["Final NAV", "MNVH"] == charged
    assert main(["backtest", str(tmp_path / "p.csv"), "--debit-rate", "nan"]) == 2
    assert capsys.readouterr().err.strip().startswith("pyxl: --debit-rate: must be a finite")
