"""``pyxl backtest | ablation | walkforward`` on CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.mnvh import read_price_csv
from pyxl.core.metrics import backtest_metrics
from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy
from pyxl.errors import InputError


def _frame(T=260, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2021-01-04", periods=T)
    m = rng.normal(0, 0.01, T)
    p = 20 * np.cumprod(1 + m[:, None] + rng.normal(0, 0.012, (T, 3)), axis=0)
    return (pd.DataFrame(p, index=idx, columns=["X", "Y", "Z"]).rename_axis("Date"),
            pd.DataFrame({"IDX": 100 * np.cumprod(1 + m)}, index=idx).rename_axis("Date"))


def test_backtest_command_matches_core(tmp_path, capsys):
    prices, bench = _frame()
    # newest-first file: the reader sorts it
    prices.iloc[::-1].to_csv(tmp_path / "p.csv")
    bench.to_csv(tmp_path / "b.csv")
    rc = main(["backtest", str(tmp_path / "p.csv"), "--benchmark", str(tmp_path / "b.csv"),
               "--lam", "0.85", "--beta", "12", "--fee-rate", "0.001", "--hedge",
               "--weights", "0.5,0.3,0.2", "--no-xlsx", "-o", str(tmp_path / "out")])
    assert rc == 0
    assert "Sharpe" in capsys.readouterr().out
    got = pd.read_csv(tmp_path / "out" / "mnvh" / "metrics.csv", index_col=0)
    p, b = prices.to_numpy(), bench["IDX"].to_numpy()
    cfg = research_config(lam=0.85, beta=12, fee_rate=0.001)
    res = run_strategy(p, cfg, build_inputs(p, np.array([0.5, 0.3, 0.2]), benchmark=b,
                                            hedge=True))
    m = backtest_metrics(res, p, benchmark=b)
    for key in ("cagr", "sharpe", "turnover", "beta_bench", "avg_gross"):
        assert got.loc[key, "MNVH"] == pytest.approx(m[key], rel=1e-9), key


def test_ablation_and_walkforward_commands(tmp_path, capsys):
    prices, bench = _frame(T=400, seed=1)
    prices.to_csv(tmp_path / "p.csv")
    bench.to_csv(tmp_path / "b.csv")
    out = str(tmp_path / "out")
    assert main(["ablation", str(tmp_path / "p.csv"), "--benchmark", str(tmp_path / "b.csv"),
                 "--lams", "0.8,0.9", "--betas", "5,20", "--schemes", "equal,invvol",
                 "-o", out]) == 0
    tab = pd.read_csv(tmp_path / "out" / "mnvh" / "ablation.csv")
    assert len(tab) == 2 * 2 * 2 * 2
    assert main(["walkforward", str(tmp_path / "p.csv"), "--lams", "0.8,0.9", "--betas", "5,20",
                 "--schemes", "equal", "--is-periods", "200", "--oos-periods", "100",
                 "-o", out]) == 0
    wf = pd.read_csv(tmp_path / "out" / "mnvh" / "walkforward.csv")
    assert list(wf["oos_first"]) == [200, 300]
    assert "Out-of-sample" in capsys.readouterr().out


def test_csv_errors_are_one_line(tmp_path, capsys):
    prices, _ = _frame(T=10)
    bad = prices.copy().astype(object)
    bad.iloc[4, 1] = "n/a"
    bad.to_csv(tmp_path / "bad.csv")
    with pytest.raises(InputError, match=r"prices: bad.csv: column 'Y', row 2021-01-08.*'n/a'"):
        read_price_csv(tmp_path / "bad.csv")
    neg = prices.copy()
    neg.iloc[2, 0] = -1.0
    neg.to_csv(tmp_path / "neg.csv")
    assert main(["backtest", str(tmp_path / "neg.csv"), "-o", str(tmp_path)]) == 2
    assert "is not a price > 0" in capsys.readouterr().err
    with pytest.raises(InputError, match="not found"):
        read_price_csv(tmp_path / "missing.csv")
    blank = prices.copy().astype(object)
    blank.iloc[3, 2] = ""
    blank.to_csv(tmp_path / "blank.csv")
    with pytest.raises(InputError, match=r"column 'Z', row 2021-01-07: blank"):
        read_price_csv(tmp_path / "blank.csv")
    prices.to_csv(tmp_path / "good.csv")
    assert main(["ablation", str(tmp_path / "good.csv"), "--lams", "a,b",
                 "-o", str(tmp_path)]) == 2
    assert "--lams: 'a,b' is not a comma-separated list" in capsys.readouterr().err


def test_backtest_csv_without_dates(tmp_path):
    prices, _ = _frame(T=300, seed=4)
    prices.reset_index(drop=True).to_csv(tmp_path / "nodates.csv", index=False)
    assert main(["backtest", str(tmp_path / "nodates.csv"), "--no-xlsx",
                 "-o", str(tmp_path / "o")]) == 0
    edge = pd.read_csv(tmp_path / "o" / "mnvh" / "edge_by_year.csv")
    assert list(edge["year"]) == [0, 1]  # blocks of 252 bars


def test_a_ruined_backtest_says_so_and_has_no_sharpe(tmp_path, capsys):
    """Before 2026-11-24, beta 70 and no gross cap on the bundled data ended at NAV
    -141,440 from 1e6 and printed a Sharpe of +0.56, above the index's 0.42."""
    rc = main(["backtest", "--beta", "70", "--lam", "0.95", "--no-xlsx", "-o", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    ledger = pd.read_csv(tmp_path / "mnvh" / "ledger.csv", index_col=0, encoding="utf-8-sig")
    nav = ledger["nav"]
    first = nav.index[np.flatnonzero(nav.to_numpy() <= 0)[0]]  # independent of the report
    line = next(ln for ln in out.splitlines() if ln.startswith("RUINED:"))
    assert f"reached {nav[first]:,.2f} (<= 0) on {first}" in line
    m = pd.read_csv(tmp_path / "mnvh" / "metrics.csv", index_col=0, encoding="utf-8-sig")
    assert np.isnan(m.loc["sharpe", "MNVH"]) and np.isnan(m.loc["sortino", "MNVH"])
    assert m.loc["cagr", "MNVH"] == -1.0
    # the benchmark survived and keeps its ratio
    assert m.loc["sharpe", "Benchmark (buy and hold)"] > 0
    # the walk-forward's chained out-of-sample book with the defaults is ruined too
    assert main(["walkforward", "-o", str(tmp_path / "wf")]) == 0
    out = capsys.readouterr().out
    assert "RUINED: the chained out-of-sample book's NAV reached" in out
    assert "NaN" not in out  # the ruined fold's Sharpe is blank, as in the metrics table
    wf = pd.read_csv(tmp_path / "wf" / "mnvh" / "walkforward_oos_metrics.csv", index_col=0,
                     encoding="utf-8-sig")
    assert wf.loc["total_return", "oos"] < -1.0 and np.isnan(wf.loc["sharpe", "oos"])


def test_a_surviving_backtest_prints_no_ruin_line(tmp_path, capsys):
    prices, _ = _frame()
    prices.to_csv(tmp_path / "p.csv")
    assert main(["backtest", str(tmp_path / "p.csv"), "--no-xlsx", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    m = pd.read_csv(tmp_path / "mnvh" / "metrics.csv", index_col=0, encoding="utf-8-sig")
    assert m.loc["final_nav", "MNVH"] > 0 and np.isfinite(m.loc["sharpe", "MNVH"])
    assert "RUINED" not in out
