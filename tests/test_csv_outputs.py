"""The CSV files PyXL writes keep every digit and open in Japanese Excel as written.

A yen book of 12,345,678,901 has 11 digits: the ledger was written with ``%.10g``
and lost the last yen (and cents below 1e8).  And Excel reads a CSV without a BOM in
the system code page (cp932 on Japanese Windows), garbling a header トヨタ.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from pyxl.core.mnvh import run_backtest
from pyxl.core.mnvh.ablation import research_config
from pyxl.core.mnvh.weights import make_weights
from pyxl.numparse import EXACT_CSV  # pandas < 3 parses floats 1 ulp off
from pyxl.reports.mnvh import write_backtest_report


def test_ledger_csv_keeps_the_last_yen_and_japanese_tickers(tmp_path):
    rng = np.random.default_rng(np.random.SeedSequence(12))
    T, N = 120, 3
    p = 3000.0 * np.exp(np.cumsum(0.012 * rng.standard_normal((T, N)), axis=0))
    names = ["トヨタ", "ソニー", "任天堂"]
    prices = pd.DataFrame(p, index=pd.bdate_range("2024-01-01", periods=T), columns=names)
    cfg = dataclasses.replace(research_config(), cash0=12_345_678_901.0,
                              min_cash=0.99 * 12_345_678_901.0)
    write_backtest_report(prices, cfg, tmp_path, xlsx=False, echo=False)
    raw = (tmp_path / "ledger.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so Excel shows トヨタ"
    header = raw[3:].split(b"\n", 1)[0].decode("utf-8")
    assert "q:トヨタ" in header
    ledger = pd.read_csv(tmp_path / "ledger.csv", index_col=0, **EXACT_CSV)
    ref = run_backtest(p, make_weights("equal", p), cfg)
    np.testing.assert_array_equal(ledger["nav"].to_numpy(), ref.nav)
    np.testing.assert_array_equal(ledger["cash"].to_numpy(), ref.cash)
    assert abs(ref.nav).max() > 1e10  # 11 digits: %.10g lost the last one
