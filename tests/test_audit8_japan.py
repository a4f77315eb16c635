"""A Tokyo portfolio manager's inputs: TSE codes typed as numbers (7203), Japanese headers
(日付, 銘柄), dates as Japanese text (2024年1月4日, 令和6年1月4日) or as numbers (20240104,
Excel serials), CSVs saved by Japanese Excel (cp932) or as "CSV UTF-8" (BOM).

Each layout must give the same numbers as the plain layout (text tickers, date cells), and
figures are checked against independent values (ledger recomputed by hand, Kelly closed form).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pyxl.numparse import jp_date_text
from pyxl.xl import winstub

CODES = [7203, 6758, 9984, 8306, 4063]


def _prices(T=80, seed=8):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    p0 = np.array([2800.0, 13000.0, 6000.0, 1300.0, 45000.0])
    r = 0.015 * rng.standard_normal((T, len(p0)))
    r[0] = 0.0
    return np.round(p0 * np.exp(np.cumsum(r, axis=0)), 1)


def _dates(T):
    return list(pd.bdate_range("2024-01-04", periods=T).to_pydatetime())


def _backtest(rows):
    out = winstub.call_formula("MNVH_BACKTEST", tuple(tuple(r) for r in rows))
    assert not str(out[0][0]).startswith("#PyXL!"), out
    return {r[0]: r[1] for r in out}


@pytest.fixture(scope="module")
def plain():
    """Text tickers over date cells: the layout every other one must match."""
    P = _prices()
    rows = [["Date", *map(str, CODES)]] + [[d, *p] for d, p in zip(_dates(len(P)), P,
                                                                   strict=True)]
    return P, _backtest(rows)


def _same(got, want, T):
    assert got["Periods"] == T - 1  # the header row is not a bar
    assert got["Final NAV"] == want["Final NAV"]
    assert got["Sharpe"] == want["Sharpe"]


def test_backtest_blank_corner_numeric_codes_over_date_cells(plain):
    # a DataFrame pasted with its index: blank A1, codes typed as numbers, date cells below;
    # the code row was read as the first bar of prices (NAV -1.4e7 instead of +1.07e6)
    P, want = plain
    rows = [[None, *CODES]] + [[d, *p] for d, p in zip(_dates(len(P)), P, strict=True)]
    _same(_backtest(rows), want, len(P))


@pytest.mark.parametrize("style", ["seireki", "reiwa", "fullwidth"])
def test_backtest_japanese_text_dates(plain, style):
    # refused as "one row per asset ... =TRANSPOSE(...)", a wrong fix for a dated table
    P, want = plain
    fmt = {"seireki": lambda d: f"{d.year}年{d.month}月{d.day}日",
           "reiwa": lambda d: f"令和{d.year - 2018}年{d.month}月{d.day}日",
           "fullwidth": lambda d: f"{d.year}年{d.month}月{d.day}日".translate(
               str.maketrans("0123456789", "０１２３４５６７８９"))}[style]
    rows = [["日付", *CODES]] + [[fmt(d), *p] for d, p in zip(_dates(len(P)), P, strict=True)]
    _same(_backtest(rows), want, len(P))
    newest_first = [rows[0]] + rows[1:][::-1]
    _same(_backtest(newest_first), want, len(P))


@pytest.mark.parametrize("kind", ["yyyymmdd", "serial"])
def test_backtest_numeric_dates_under_japanese_date_header(plain, kind):
    # "Date" over 20240104 worked; "日付" over the same was "text '日付' ... enter a number"
    P, want = plain
    num = {"yyyymmdd": lambda d: int(d.strftime("%Y%m%d")),
           "serial": lambda d: (d - dt.datetime(1899, 12, 30)).days}[kind]
    rows = [["日付", *CODES]] + [[num(d), *p] for d, p in zip(_dates(len(P)), P, strict=True)]
    _same(_backtest(rows), want, len(P))


def _returns(T=60, seed=3):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return 0.006 + 0.05 * rng.standard_normal((T, 3))


def _kelly_scenario(rows):
    out = winstub.call_formula("KELLY_SCENARIO", tuple(tuple(r) for r in rows), -0.0001)
    assert not str(out[0][0]).startswith("#PyXL!"), out
    return np.array(out[0], dtype=float)


def _kelly_first_order(R, rf):
    """Independent check: the gradient mean_t (R_t - rf) / (1 + rf + (R_t - rf)'w) is 0."""
    def grad(w):
        X = R - rf
        return (X / (1 + rf + X @ w)[:, None]).mean(axis=0)
    return grad


def test_kelly_scenario_numeric_code_header_without_dates():
    # the code row was one scenario of +720,300 % returns: weights silently different
    R = _returns()
    rows = [CODES[:3]] + [list(r) for r in R]
    w = _kelly_scenario(rows)
    assert np.abs(_kelly_first_order(R, -0.0001)(w)).max() < 1e-7


@pytest.mark.parametrize("head, num", [
    ("日付", lambda d: int(d.strftime("%Y%m%d"))),
    ("年月", lambda d: d.year * 100 + d.month),
])
def test_kelly_scenario_numeric_dates_under_date_word(head, num):
    R = _returns()
    months = pd.date_range("2019-01-31", periods=len(R), freq="ME").to_pydatetime()
    rows = [[head, *CODES[:3]]] + [[num(d), *r] for d, r in zip(months, R, strict=True)]
    w = _kelly_scenario(rows)
    assert np.abs(_kelly_first_order(R, -0.0001)(w)).max() < 1e-7


# --------------------------------------------------------------------------- CLI readers
def _write(path, frame, encoding):
    frame.to_csv(path, index=False, encoding=encoding)
    return path


@pytest.mark.parametrize("dates", ["yyyymmdd", "serial", "kanji", "reiwa"])
def test_price_csv_japanese_dates(tmp_path, dates):
    from pyxl.commands.mnvh import read_price_csv

    P = _prices(T=10)
    days = _dates(len(P))
    col = {"yyyymmdd": [int(d.strftime("%Y%m%d")) for d in days],
           "serial": [(d - dt.datetime(1899, 12, 30)).days for d in days],
           "kanji": [f"{d.year}年{d.month}月{d.day}日" for d in days],
           "reiwa": [f"令和{d.year - 2018}年{d.month}月{d.day}日" for d in days]}[dates]
    frame = pd.DataFrame(P, columns=[str(c) for c in CODES])
    frame.insert(0, "日付", col)
    got = read_price_csv(_write(tmp_path / "p.csv", frame, "cp932"))
    # yyyymmdd and serials were an asset named 日付 priced at 20,240,104 yen
    assert list(got.columns) == [str(c) for c in CODES]
    assert list(got.index) == [pd.Timestamp(d) for d in days]
    np.testing.assert_array_equal(got.to_numpy(), P)


def test_price_csv_bad_japanese_date_is_named(tmp_path):
    from pyxl.commands.mnvh import read_price_csv
    from pyxl.errors import InputError

    path = tmp_path / "p.csv"
    path.write_bytes("日付,7203,6758\n2024年1月4日,2800,1300\n2024年1月5日,2810,1310\n"
                     "2024年2月30日,2790,1290\n".encode("cp932"))
    with pytest.raises(InputError, match="row 4 \\('2024年2月30日'\\) is not a date"):
        read_price_csv(path)


def _labelled_cov(tmp_path, encoding):
    rng = np.random.default_rng(np.random.SeedSequence(4))
    A = 0.05 * rng.standard_normal((40, 5))
    C = A.T @ A / 40 * 12
    frame = pd.DataFrame(C, columns=[str(c) for c in CODES])
    frame.insert(0, "銘柄", CODES)
    return C, _write(tmp_path / "cov.csv", frame, encoding)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_scenarios_reader_code_column_under_meigara(tmp_path, encoding):
    # 銘柄 over codes 7203...: "non-numeric or blank cells in the data" (cov), a 5 x 2 mu
    from pyxl.commands.scenarios import read_numeric_csv

    C, path = _labelled_cov(tmp_path, encoding)
    got, rows, cols = read_numeric_csv(path, "--cov")
    np.testing.assert_array_equal(got, C)
    assert rows == cols == [str(c) for c in CODES]
    mu = pd.DataFrame({"銘柄": CODES, "mu": [0.06, 0.07, 0.08, 0.05, 0.065]})
    got, rows, cols = read_numeric_csv(_write(tmp_path / "mu.csv", mu, encoding), "--mu")
    np.testing.assert_array_equal(got.ravel(), mu["mu"].to_numpy())
    assert rows == [str(c) for c in CODES] and cols == ["mu"]


def test_kelly_weights_cli_code_column_under_meigara(tmp_path):
    # was "cov: is 5x6, expected 5x5"
    C, path = _labelled_cov(tmp_path, "cp932")
    mu = np.array([0.06, 0.07, 0.08, 0.05, 0.065])
    rf = -0.001  # a JGB-like rate below zero
    out = subprocess.run([sys.executable, "-m", "pyxl", "kelly", "weights", "--cov", str(path),
                          "--rf", str(rf), "--mu", *map(str, mu)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    lines = [ln.split() for ln in out.stdout.splitlines()]
    got = {ln[0]: float(ln[1]) for ln in lines if len(ln) == 2}
    want = np.linalg.solve(C, mu - rf)  # full Kelly, no limits: Sigma^-1 (mu - rf)
    for code, x in zip(CODES, want, strict=True):
        assert got[str(code)] == pytest.approx(x, abs=6e-5)  # printed to 4 decimals


def test_jp_date_text_eras():
    assert jp_date_text("令和元年5月1日") == "2019-05-01"
    assert jp_date_text("平成31年4月30日") == "2019-04-30"
    assert jp_date_text("昭和64年1月7日") == "1989-01-07"
    assert jp_date_text("2024年1月") == "2024-01"
    assert jp_date_text("2024年2月30日") == "2024年2月30日"  # not a date: left to be refused
    assert jp_date_text("トヨタ") == "トヨタ" and jp_date_text(7203) == 7203


def test_backtest_cli_yen_ledger_reconciles(tmp_path):
    """End to end: cp932 prices, a TOPIX hedge, NAV 1e10 yen, 245 days a year, cash at
    -0.1 %: the final NAV recomputed from the ledger CSV's cash, positions and prices."""
    P = _prices(T=120)
    days = _dates(len(P))
    rng = np.random.default_rng(np.random.SeedSequence(9))
    topix = np.round(2400 * np.exp(np.cumsum(0.01 * rng.standard_normal(len(P)))), 2)
    frame = pd.DataFrame(P, columns=["トヨタ", "ソニーG", "SBG", "三菱UFJ", "信越化学"])
    frame.insert(0, "日付", [d.strftime("%Y/%m/%d") for d in days])
    prices = _write(tmp_path / "p.csv", frame, "cp932")
    bench = _write(tmp_path / "b.csv", pd.DataFrame({"日付": frame["日付"], "TOPIX": topix}),
                   "cp932")
    out = subprocess.run([sys.executable, "-m", "pyxl", "backtest", str(prices), "--benchmark",
                          str(bench), "--hedge", "--cash0", "1e10", "--periods-per-year", "245",
                          "--cash-rate", "-0.001", "--no-xlsx", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    led = pd.read_csv(tmp_path / "out" / "mnvh" / "ledger.csv")
    assert led.columns[-1] == "trade:信越化学"
    q = led[[f"q:{c}" for c in frame.columns[1:]]].to_numpy()
    nav = led["cash"].iloc[-1] + q[-1] @ P[-1] + led["hedge_q"].iloc[-1] * topix[-1]
    assert nav == pytest.approx(led["nav"].iloc[-1], rel=1e-14)
    # cash replayed from the trades: 5 bp commission + 1 bp half spread, cash interest -0.1 %
    tr = led[[f"trade:{c}" for c in frame.columns[1:]]].to_numpy()
    ht = led["hedge_trade"].to_numpy()
    cash = 1e10
    for t in range(len(P)):
        if t:
            cash += cash * (-0.001 / 245) if cash >= 0 else 0.0
        notional = np.abs(tr[t]) @ P[t] + abs(ht[t]) * topix[t]
        cash -= tr[t] @ P[t] + ht[t] * topix[t] + 0.0006 * notional
    assert cash == pytest.approx(led["cash"].iloc[-1], rel=1e-12)
