"""A run's metrics are annualised at its own frequency, and its weights must sum to 1.

Both were found by an audit of the Python API (2026-11-25): ``backtest_metrics``,
``ablation_grid`` and ``walk_forward`` took ``rf`` from the run's config but annualised
with a fixed 252, so on a monthly run about 95 % of the cash interest counted as excess
return (Sharpe -0.49 read +0.05); and ``run_backtest`` / ``run_grid`` ran weights summing
to 20 (net -3 x NAV after one bar).  The expected figures are computed here from the NAV
path with the documented formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyxl.core.metrics import backtest_metrics
from pyxl.core.mnvh import run_backtest, run_grid
from pyxl.core.mnvh.ablation import ablation_grid, research_config, walk_forward
from pyxl.data import load_sp500_prices
from pyxl.errors import InputError


@pytest.fixture(scope="module")
def monthly():
    px = load_sp500_prices(start="2005-01-01").resample("ME").last()
    P = px.to_numpy()
    cfg = research_config(beta=2.0, cash_rate=0.05, periods_per_year=12)
    return P, cfg, run_backtest(P, np.full(P.shape[1], 1 / P.shape[1]), cfg)


def _by_hand(nav: np.ndarray, P: float, rf: float) -> dict[str, float]:
    r = nav[1:] / nav[:-1] - 1
    n = r.size
    return {"cagr": (nav[-1] / nav[0]) ** (P / n) - 1,
            "ann_vol": float(np.std(r, ddof=1)) * math.sqrt(P),
            "sharpe": float(np.mean(r - rf / P)) / float(np.std(r, ddof=1)) * math.sqrt(P)}


def test_metrics_default_to_the_runs_own_frequency(monthly):
    P, cfg, res = monthly
    want = _by_hand(np.asarray(res.nav), 12.0, 0.05)
    m = backtest_metrics(res, P)
    for k, v in want.items():
        assert m[k] == pytest.approx(v, rel=1e-12), k
    assert m["sharpe"] < 0 < m["sharpe"] + 0.5  # was +0.048 at 252
    assert backtest_metrics(res, P, periods_per_year=12) == m


def test_another_frequency_than_the_runs_is_refused(monthly):
    P, _, res = monthly
    with pytest.raises(InputError, match=r"^periods_per_year: is 252 but the run was made "
                                         r"with 12 \(its fees' periods_per_year\)"):
        backtest_metrics(res, P, periods_per_year=252)


def test_grid_and_walk_forward_annualise_at_the_runs_frequency(monthly):
    P, cfg, res = monthly
    g = ablation_grid(P, cfg, lams=[cfg.lam], betas=[cfg.beta])
    want = _by_hand(np.asarray(res.nav), 12.0, 0.05)
    for k in ("cagr", "ann_vol", "sharpe"):
        assert g[k].iloc[0] == pytest.approx(want[k], rel=1e-9), k
    wf = walk_forward(P, cfg, lams=[cfg.lam], betas=[cfg.beta], is_periods=60,
                      oos_periods=36)
    assert wf.metrics["cagr"] == pytest.approx(_by_hand(wf.oos_nav, 12.0, 0.05)["cagr"],
                                               rel=1e-12)
    with pytest.raises(InputError, match="^periods_per_year: is 252"):
        ablation_grid(P, cfg, lams=[0.9], betas=[2.0], periods_per_year=252)


def test_weights_that_do_not_sum_to_one_are_refused(monthly):
    P, cfg, _ = monthly
    N = P.shape[1]
    for w, shown in ((np.ones(N), "20"), (np.full(N, 0.95 / N), "0.95")):
        with pytest.raises(InputError, match=rf"^weights: sum to {shown}, expected 1; "
                                             "rescale them to sum to 1"):
            run_backtest(P, w, cfg)
        with pytest.raises(InputError, match=rf"^weights: sum to {shown}, expected 1"):
            run_grid(P, w, [0.9], [2.0], cfg)
    W = np.full(P.shape, 1 / N)
    W[7, 0] += 0.01
    with pytest.raises(InputError, match=r"^weights: sum to 1.01 in row 8, expected 1"):
        run_backtest(P, W, cfg)
    # within 1e-6 of 1 is accepted (weights typed to 6 decimals), as user_weights does
    w = np.full(N, 1 / N)
    w[0] += 5e-7
    assert np.isfinite(run_backtest(P, w, cfg).nav[-1])
