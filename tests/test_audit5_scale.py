"""Audit 5 (scale and edges): regression tests for bugs found by large runs."""

import math

import numpy as np
import pytest

from pyxl.core.metrics import performance_metrics
from pyxl.core.mnvh.ablation import _score


def _nav(returns):
    return np.concatenate([[1e6], 1e6 * np.cumprod(1.0 + np.asarray(returns))])


def test_walk_forward_never_prefers_a_point_ruined_in_sample():
    # a leveraged run: +3 % / -1 % alternating for 300 bars, then one
    # return of -105 %: NAV < 0, ruined in sample
    ruined = _nav([0.03, -0.01] * 150 + [-1.05])
    m_r = performance_metrics(ruined, periods_per_year=252)
    assert m_r["cagr"] == -1.0 and m_r["max_drawdown"] < -1.0
    # a ratio computed up to the ruin would be positive (mean return > 0, above the
    # surviving point's): a ruined path has no Sharpe or Sortino (blank)
    r = np.diff(ruined) / ruined[:-1]
    assert r.mean() > 0 and r.mean() / r.std(ddof=1) * math.sqrt(252) > 1.5
    assert math.isnan(m_r["sharpe"]) and math.isnan(m_r["sortino"])
    # a surviving point with a modest positive Sharpe, and a surviving loser
    alive = _nav([0.0055, -0.005] * 150)
    loser = _nav([0.01, -0.0125] * 150)  # CAGR < 0, NAV stays > 0
    m_a = performance_metrics(alive, periods_per_year=252)
    m_l = performance_metrics(loser, periods_per_year=252)
    assert 0 < m_a["sharpe"] < r.mean() / r.std(ddof=1) * math.sqrt(252)
    assert -1.0 < m_l["cagr"] < 0 and m_l["max_drawdown"] > -1.0
    for crit in ("sharpe", "sortino", "cagr", "calmar"):
        assert _score(m_r, crit) == -math.inf, crit
        assert _score(m_r, crit) < _score(m_a, crit), crit
        assert _score(m_r, crit) < _score(m_l, crit), crit


def test_ablation_cli_top_20_leaves_ruined_points_out(tmp_path, capsys):
    """A grid where the high-beta points go bankrupt: the printed top 20 by Sharpe must not
    list a ruined point (cagr -1), and the count of ruined points is said."""
    import pandas as pd

    from pyxl.cli import main

    rng = np.random.default_rng(5)
    P = 100 * np.exp(np.cumsum(0.03 * rng.standard_normal((120, 4)), axis=0))
    f = tmp_path / "p.csv"
    pd.DataFrame(P, columns=list("ABCD"),
                 index=pd.bdate_range("2024-01-01", periods=120, name="Date")).to_csv(f)
    assert main(["ablation", str(f), "--lams", "1", "--betas", "1,400", "--schemes", "equal",
                 "--hedge", "off", "--throttle", "off", "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    tab = pd.read_csv(tmp_path / "o" / "mnvh" / "ablation.csv")
    ruined = tab[(tab.cagr <= -1) | (tab.max_drawdown <= -1)]
    assert len(ruined) >= 1, "the test grid must contain a ruined point"
    shown = [line.split() for line in out.splitlines()[1:] if line.strip()
             and line.split()[0] in {"1", "1.0"}]
    assert all(float(row[1]) not in set(ruined.beta) for row in shown)
    assert f"{len(ruined)} ruined (NAV <= 0) left out of the top 20" in out


def test_scenarios_too_many_paths_for_memory_fails_at_once():
    """The per-path results (terminal wealth, drawdown) used to be allocated after pass 1,
    so a run too large for the machine failed only after hours of generation."""
    from pyxl.core import scenarios as sc
    from pyxl.errors import InputError

    rng = np.random.default_rng(0)
    R = 0.01 * rng.standard_normal((60, 3))
    spec = sc.ScenarioSpec(n_paths=10**13, horizon=12)  # 160 TB of per-path results
    with pytest.raises(InputError, match=r"n_paths: 10,000,000,000,000 paths need 160000.0 GB"):
        sc.generate(R, np.zeros(3), 0.04 * np.eye(3), spec)  # before any path is generated
