"""The MNVH demo section and the report writer: files, figures and the ledger checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy
from pyxl.progress import null_progress
from pyxl.reports import mnvh as R


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    files = R.run_demo(out, null_progress)
    return out / "mnvh", files


def test_demo_writes_every_output(demo):
    folder, files = demo
    names = {f.name for f in files}
    assert {"metrics.csv", "equity_curve.png", "ledger.csv", "ledger.xlsx", "lots.csv",
            "risk_events.csv", "ablation.csv", "walkforward.csv", "edge_by_year.csv",
            "walkforward_oos_metrics.csv", "run_log.txt"} <= names
    for f in files:
        assert f.parent == folder and f.stat().st_size > 0
    assert (folder / "equity_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_ledger_identity_on_every_bar(demo):
    folder, _ = demo
    led = pd.read_csv(folder / "ledger.csv", index_col=0, parse_dates=True)
    from pyxl.data import load_sp500_prices

    prices = load_sp500_prices(start=R.DEMO_START)
    assert len(led) == len(prices) and led.index[0] == prices.index[0]
    d = led["nav"].diff().to_numpy()[1:]
    pnl = (led["mtm"] - led["fees"] - led["slippage"] + led["financing"]).to_numpy()[1:]
    scale = np.maximum(led["nav"].abs().to_numpy()[:-1], 1.0)
    # the CSV keeps 10 significant digits, so the file itself checks to ~1e-9
    assert np.max(np.abs(d - pnl) / scale) < 1e-8
    q = led[[c for c in led.columns if c.startswith("q:")]].to_numpy()
    np.testing.assert_allclose(led["cash"] + (q * prices.to_numpy()).sum(axis=1), led["nav"],
                               rtol=1e-8)
    metrics = pd.read_csv(folder / "metrics.csv", index_col=0)
    assert metrics.loc["check_identity", "MNVH"] <= 1e-9
    assert metrics.loc["check_engine_identity", "MNVH"] <= 1e-9
    log = (folder / "run_log.txt").read_text()
    assert "ledger checks" in log and "identity=" in log


def test_demo_metrics_match_a_fresh_run(demo):
    folder, _ = demo
    from pyxl.core.metrics import backtest_metrics
    from pyxl.data import load_sp500_index, load_sp500_prices

    prices = load_sp500_prices(start=R.DEMO_START)
    bench = load_sp500_index(start=R.DEMO_START).to_numpy()
    p = prices.to_numpy()
    res = run_strategy(p, research_config(max_gross=3.0), build_inputs(p, "equal"))
    m = backtest_metrics(res, p, benchmark=bench)
    table = pd.read_csv(folder / "metrics.csv", index_col=0)
    for key in ("cagr", "sharpe", "max_drawdown", "turnover", "avg_gross", "beta_bench"):
        assert table.loc[key, "MNVH"] == pytest.approx(m[key], rel=1e-9), key
    # buy and hold of the benchmark has beta 1 to itself
    assert table.loc["beta_bench", "Benchmark (buy and hold)"] == pytest.approx(1.0)
    abl = pd.read_csv(folder / "ablation.csv")
    assert len(abl) == 54 and set(abl["weights"]) == {"equal", "invvol", "markowitz"}
    wf = pd.read_csv(folder / "walkforward.csv")
    assert (wf["oos_first"].iloc[1:].to_numpy() == wf["oos_last"].iloc[:-1].to_numpy()).all()
    assert (wf["is_last"] == wf["oos_first"]).all()


@pytest.mark.parametrize("exec_lag", [0, 1])
@pytest.mark.parametrize("lot_method", ["fifo", "average"])
def test_verify_ledger_holds_with_hedge_limits_and_lag(exec_lag, lot_method):
    rng = np.random.default_rng(3)
    m = rng.normal(0, 0.02, 400)
    p = 50 * np.cumprod(1 + m[:, None] + rng.normal(0, 0.02, (400, 6)), axis=0)
    b = 100 * np.cumprod(1 + m)
    cfg = research_config(lam=0.95, beta=80.0, max_gross=1.5, max_position=0.4,
                          exec_lag=exec_lag, lot_method=lot_method, cash_rate=0.02,
                          borrow_rate=0.03, fixed_fee=5.0, min_cash=-2e5)
    res = run_strategy(p, cfg, build_inputs(p, "markowitz", benchmark=b, hedge=True,
                                            throttle=True))
    assert len(res.risk_events) > 0  # the limits bind, so deleveraging trades are covered
    checks = R.verify_ledger(res, p)
    assert max(checks.values()) <= 1e-9


def test_verify_ledger_catches_tampering():
    rng = np.random.default_rng(0)
    p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (200, 5)), axis=0)
    cfg = dataclasses.replace(research_config(cash_rate=0.03, borrow_rate=0.01, fixed_fee=2.0),
                              max_gross=2.0)
    res = run_strategy(p, cfg, build_inputs(p, "invvol"))
    checks = R.verify_ledger(res, p)
    assert max(checks.values()) <= 1e-9
    res.fees[50] += 1e-3 * res.nav[49]  # a fee that never left the cash account
    with pytest.raises(R.LedgerCheckError, match="fees"):
        R.verify_ledger(res, p)


def test_report_with_hedge_and_throttle(tmp_path):
    rng = np.random.default_rng(2)
    idx = pd.bdate_range("2020-01-01", periods=300)
    m = rng.normal(0, 0.01, 300)
    prices = pd.DataFrame(30 * np.cumprod(1 + m[:, None] + rng.normal(0, 0.01, (300, 4)), axis=0),
                          index=idx, columns=list("ABCD"))
    bench = pd.Series(100 * np.cumprod(1 + m), index=idx)
    rep = R.write_backtest_report(prices, research_config(), tmp_path, scheme="markowitz",
                                  benchmark=bench, hedge=True, throttle=True, xlsx=False,
                                  echo=False)
    assert rep.checks["identity"] <= 1e-9
    assert rep.result.hedge_q is not None
    assert "hedge_q" in pd.read_csv(tmp_path / "ledger.csv", nrows=2).columns
