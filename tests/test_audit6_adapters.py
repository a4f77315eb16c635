"""Audit 6: the same inputs give the same numbers through every adapter (CLI, formulas,
reports, template macros).  Values are checked against independent computations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main

CODES = ["7203", "6758", "9984"]


def _returns(T: int = 48) -> np.ndarray:
    rng = np.random.default_rng(11)
    return 0.006 + 0.05 * rng.standard_normal((T, len(CODES)))


def _write(path, header, rows, labels=None, corner="Date"):
    lines = []
    if header is not None:
        lines.append(",".join(([corner] if labels is not None else []) + list(header)))
    for k, r in enumerate(rows):
        cells = [repr(float(v)) for v in r]
        lines.append(",".join(([labels[k]] if labels is not None else []) + cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def _summary(path) -> list[list[str]]:
    return pd.read_csv(path, header=None, dtype=str, keep_default_na=False).values.tolist()


@pytest.mark.parametrize("dated", [True, False])
def test_scenarios_cli_reads_numeric_ticker_codes_as_a_header(tmp_path, dated):
    """Tokyo codes (7203, ...) in the header row were read as a first return of +720,300 %
    (one period too many, realised vol of about 90 % against a 20 % target)."""
    R = _returns()
    # month ends in order (a returns CSV with dates is read oldest first, and unordered
    # dates are refused)
    dates = (list(pd.date_range("2019-01-31", periods=len(R), freq="ME").strftime("%Y-%m-%d"))
             if dated else None)
    mu = np.array([0.05, 0.06, 0.07])
    C = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.0], [0.0, 0.0, 0.03]])
    _write(tmp_path / "r.csv", CODES, R, dates)
    _write(tmp_path / "mu.csv", CODES, [mu])
    _write(tmp_path / "cov.csv", CODES, C, CODES, corner="")
    # the same numbers without any header: the reference run
    _write(tmp_path / "r0.csv", None, R)
    _write(tmp_path / "mu0.csv", None, [mu])
    _write(tmp_path / "cov0.csv", None, C)
    common = ["--paths", "200", "--block", "4", "--seed", "5"]
    assert main(["scenarios", "--returns", str(tmp_path / "r.csv"), "--mu",
                 str(tmp_path / "mu.csv"), "--cov", str(tmp_path / "cov.csv"), *common,
                 "--summary", str(tmp_path / "s.csv")]) == 0
    assert main(["scenarios", "--returns", str(tmp_path / "r0.csv"), "--mu",
                 str(tmp_path / "mu0.csv"), "--cov", str(tmp_path / "cov0.csv"), *common,
                 "--summary", str(tmp_path / "s0.csv")]) == 0
    got, ref = _summary(tmp_path / "s.csv"), _summary(tmp_path / "s0.csv")
    rows = {r[0]: r[1:] for r in got}
    assert rows["horizon (periods)"][0] == str(len(R))   # T periods, not T + 1
    for code in CODES:                                    # the codes label the asset rows
        assert code in rows
    assert [r[1:] for r in got] == [r[1:] for r in ref]   # same numbers as headerless files


def test_kelly_scenario_cli_reads_numeric_ticker_codes_as_a_header(tmp_path, capsys):
    from pyxl.core import kelly as K

    R = _returns()
    _write(tmp_path / "s.csv", CODES, R)
    assert main(["kelly", "scenario", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"over {len(R)} scenarios" in out[-1]
    assert [line.split()[0] for line in out[:3]] == CODES
    w = K.kelly_scenario(R, 0.0, None, False, None, None)
    assert [float(line.split()[1]) for line in out[:3]] == pytest.approx(np.round(w, 4))


def test_kelly_weights_cli_reads_a_covariance_labelled_with_codes(tmp_path, capsys):
    C = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.0], [0.0, 0.0, 0.03]])
    _write(tmp_path / "c.csv", CODES, C, CODES, corner="")
    mu, rf = np.array([0.08, 0.06, 0.07]), 0.01
    assert main(["kelly", "weights", "--mu", *map(str, mu), "--cov", str(tmp_path / "c.csv"),
                 "--rf", str(rf)]) == 0
    out = capsys.readouterr().out.splitlines()
    w = np.linalg.solve(C, mu - rf)   # full Kelly, unconstrained: inv(C)(mu - rf)
    assert [line.split()[0] for line in out[:3]] == CODES
    assert [float(line.split()[1]) for line in out[:3]] == pytest.approx(np.round(w, 4))


def test_backtest_report_no_trading_costs_column_keeps_the_borrow_fee(tmp_path):
    """'MNVH, no trading costs' drops commission, fixed fee and spread, not financing:
    cash interest was kept but the borrow fee on shorts was dropped with the trading costs."""
    from pyxl.core.ledger.fees import FeeModel
    from pyxl.core.mnvh import run_backtest
    from pyxl.core.mnvh.ablation import research_config
    from pyxl.core.mnvh.weights import make_weights
    from pyxl.reports.mnvh import write_backtest_report

    rng = np.random.default_rng(3)
    T, N = 300, 4
    p = 50 * np.exp(np.cumsum(0.015 * rng.standard_normal((T, N)), axis=0))
    prices = pd.DataFrame(p, index=pd.bdate_range("2020-01-01", periods=T),
                          columns=list("ABCD"))
    cfg = research_config(borrow_rate=0.25, cash_rate=0.03)
    rep = write_backtest_report(prices, cfg, tmp_path, xlsx=False, echo=False)
    got = rep.metrics.loc["final_nav", "MNVH, no trading costs"]
    # reference: the engine with the financing terms only (cash interest and the borrow fee)
    fin = FeeModel(borrow_rate=0.25, cash_rate=0.03, periods_per_year=252)
    ref = run_backtest(p, make_weights("equal", p), research_config().__class__(
        **{**cfg.__dict__, "fees": fin}))
    assert ref.nav[-1] == pytest.approx(got, rel=1e-12)
    # and the borrow fee matters here: without it the run ends elsewhere
    no_borrow = run_backtest(p, make_weights("equal", p), research_config().__class__(
        **{**cfg.__dict__, "fees": FeeModel(cash_rate=0.03, periods_per_year=252)}))
    assert abs(no_borrow.nav[-1] - got) > 1e-3 * got


def test_mnvh_macro_refuses_newest_first_prices(tmp_path):
    """The template's price table has no date column, so newest-first rows ran the backtest
    backwards in time (Final NAV 959,541.94 on the shipped data) while =MNVH_BACKTEST on the
    dated table and ``pyxl backtest`` sort them (959,819.27): the Run button now says so."""
    import shutil

    import openpyxl

    import pyxl.udfs as udfs
    from pyxl.macros import run
    from pyxl.macros.book import OpenpyxlBook
    from pyxl.templates import mnvh
    from pyxl.templates import spec as S

    path = tmp_path / "mnvh_ledger.xlsx"
    shutil.copy(Path(__file__).resolve().parents[1] / "workbooks" / "mnvh_ledger.xlsx", path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Prices"]
    n = S.MNVH_STOCKS
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2, max_row=1 + S.MNVH_DAYS,
                                                        max_col=1 + n)]
    for i, r in enumerate(rows[::-1]):
        for j, v in enumerate(r):
            ws.cell(2 + i, 1 + j, v)
    wb.save(path)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("mnvh_dates:") and "oldest" in res.message
    assert openpyxl.load_workbook(path)["Out_Backtest"].max_row <= 5   # nothing written
    # sorted back, the button gives what the formula gives on the dated newest-first table
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            ws.cell(2 + i, 1 + j, v)
    wb.save(path)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert res.ok, res.message
    out = openpyxl.load_workbook(path, data_only=True)["Out_Backtest"]
    final = [r[1] for r in out.iter_rows(values_only=True) if r[0] == "Final NAV"][0]
    d = mnvh.DEFAULTS
    dated = [["Date", *mnvh.price_frame().columns]] + rows[::-1]
    direct = dict(udfs.MNVH_BACKTEST(
        dated, d["mnvh_lam"], d["mnvh_beta"], "equal", d["mnvh_fee_rate"], 0, "", False, False,
        "absolute", d["mnvh_cash0"], "", "", "", 0, d["mnvh_fixed_fee"], 0, 0,
        d["mnvh_min_cash"]))
    assert final == pytest.approx(direct["Final NAV"], rel=1e-12)
