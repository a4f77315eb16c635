"""pyxl scenarios CLI (CSV in, streamed npz, summary/fan CSV) and the demo section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.scenarios import load_npz_paths, read_numeric_csv
from pyxl.core import scenarios as sc


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    T, N = 60, 3
    R = 0.005 + 0.04 * rng.standard_normal((T, N))
    dates = pd.period_range("2015-01", periods=T, freq="M").astype(str)
    pd.DataFrame(R, index=dates, columns=["A", "B", "C"]).to_csv(tmp_path / "r.csv")
    mu = np.array([0.05, 0.06, 0.07])
    C = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.0], [0.0, 0.0, 0.03]])
    pd.DataFrame({"mu": mu}, index=["A", "B", "C"]).to_csv(tmp_path / "mu.csv")
    pd.DataFrame(C, index=list("ABC"), columns=list("ABC")).to_csv(tmp_path / "cov.csv")
    W = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    pd.DataFrame(W, index=["low", "high"], columns=list("ABC")).to_csv(tmp_path / "rt.csv")
    return tmp_path, R, mu, C, W


def test_read_numeric_csv_strips_labels(inputs):
    d, R, mu, C, W = inputs
    vals, rows, cols = read_numeric_csv(d / "rt.csv", "--rt")
    np.testing.assert_allclose(vals, W)
    assert rows == ["low", "high"] and cols == ["A", "B", "C"]
    vals, rows, cols = read_numeric_csv(d / "r.csv", "--returns")
    np.testing.assert_allclose(vals, R)


def test_cli_streams_npz_identical_to_core(inputs, capsys):
    d, R, mu, C, W = inputs
    rc = main(["scenarios", "--returns", str(d / "r.csv"), "--mu", str(d / "mu.csv"),
               "--cov", str(d / "cov.csv"), "--rt", str(d / "rt.csv"), "--paths", "600",
               "--block", "4", "--horizon", "24", "--chunk", "256", "--workers", "1",
               "--npz", str(d / "p.npz"), "--summary", str(d / "s.csv"),
               "--fan", str(d / "f.csv"), "--seed", "3"])
    assert rc == 0
    paths = load_npz_paths(d / "p.npz")
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=600, block=4, horizon=24, seed=3), W)
    assert np.array_equal(paths, s.paths)
    with np.load(d / "p.npz") as z:
        np.testing.assert_array_equal(z["delta"], s.delta)
        assert list(z["tickers"]) == ["A", "B", "C"]
    summ = pd.read_csv(d / "s.csv", header=None)
    assert "low" in set(summ[0]) and "high" in set(summ[0])
    fan = pd.read_csv(d / "f.csv")
    assert list(fan.columns) == ["portfolio", "period", "p5", "p25", "p50", "p75", "p95"]
    assert len(fan) == 2 * 25


def test_cli_bad_input_is_one_line(inputs, capsys):
    d, *_ = inputs
    pd.DataFrame(np.eye(2)).to_csv(d / "bad.csv", index=False)
    rc = main(["scenarios", "--returns", str(d / "r.csv"), "--mu", str(d / "mu.csv"),
               "--cov", str(d / "bad.csv"), "--paths", "10"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyxl: --cov:") and "\n" not in err


def test_parquet_needs_pyarrow(inputs, capsys):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        d, *_ = inputs
        rc = main(["scenarios", "--returns", str(d / "r.csv"), "--mu", str(d / "mu.csv"),
                   "--cov", str(d / "cov.csv"), "--paths", "10", "--parquet",
                   str(d / "p.parquet")])
        assert rc == 2
        assert "pyarrow" in capsys.readouterr().err


def test_demo_section_writes_files(tmp_path, monkeypatch):
    from pyxl.reports import scenarios as rep

    monkeypatch.setattr(rep, "DEMO_PATHS", 300)
    files = rep.run_demo(tmp_path)
    names = {f.name for f in files}
    assert {"summary.csv", "fan_chart.csv", "fan_chart.png", "inputs.csv", "notes.md"} <= names
    summ = pd.read_csv(tmp_path / "scenarios" / "summary.csv", header=None)
    rows = summ.set_index(0)
    for lab in ("cautious", "balanced", "growth"):
        r = rows.loc[lab]
        r = r.iloc[0] if r.ndim > 1 else r
        assert float(r[3]) == pytest.approx(float(r[4]), abs=1e-12)  # period target == realised
    assert (tmp_path / "scenarios" / "fan_chart.png").stat().st_size > 10_000
