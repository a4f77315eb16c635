"""`pyxl mbp ...` commands and the demo section, on small universes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyxl.cli import main
from pyxl.core.mbp import Limits, make_data, make_universe, optimize
from pyxl.reports import mbp as report


def test_table1_cli(tmp_path, capsys):
    rc = main(["mbp", "table1", "--n", "700", "--te", "0.005,0.02", "--within-multiple",
               "1.5", "-o", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "SBP" in out and "MBP" in out and "G3" in out
    df = pd.read_csv(tmp_path / "table1_study.csv")
    assert len(df) == 4 and set(df.portfolio) == {"SBP", "MBP"}
    mbp = df[df.portfolio == "MBP"]
    assert np.all(mbp["within_te_3"] <= 1.5 * mbp["te_limit"] * (1 + 1e-6))
    assert (tmp_path / "table1.png").stat().st_size > 10_000


def test_table1_cli_bad_te(capsys):
    assert main(["mbp", "table1", "--te", "0.01,abc"]) == 2
    assert "--te: 'abc' is not a number" in capsys.readouterr().err


def test_universe_and_optimize_csv_round_trip(tmp_path, capsys):
    assert main(["mbp", "universe", "--n", "120", "--seed", "3", "-o", str(tmp_path)]) == 0
    wfile = tmp_path / "w.csv"
    rc = main(["mbp", "optimize", str(tmp_path / "assets.csv"), str(tmp_path / "factor_cov.csv"),
               "--te-total", "0.01", "--te-segments", "0.02,", "-o", str(wfile)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Within-segment TE 1" in out and "BINDING" in out and "Residual" in out
    w = pd.read_csv(wfile)["weight"].to_numpy()
    u = make_universe(n=120, seed=3)
    d = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    ref = optimize(d, u.alpha, Limits(te_total=0.01, te_within=(0.02, None)))
    np.testing.assert_allclose(w, ref.weights, atol=1e-8)
    # infeasible limits: one line on stderr, exit code 2
    rc = main(["mbp", "optimize", str(tmp_path / "assets.csv"), str(tmp_path / "factor_cov.csv"),
               "--te-total", "0.00001", "--max-weight", str(0.5 * u.bench_w.max()),
               "--no-neutral"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyxl: te_total: market TE limit") and "\n" not in err


def test_run_demo_writes_files(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "make_universe", lambda: make_universe(n=700))
    monkeypatch.setattr(report, "TABLE1_TE", (0.005, 0.02))
    files = report.run_demo(tmp_path, lambda msg, f=None: None)
    names = sorted(p.name for p in files)
    assert names == ["table1.png", "table1_side_by_side.csv", "table1_study.csv"]
    assert all(p.parent == tmp_path / "mbp" and p.stat().st_size > 0 for p in files)
    side = pd.read_csv(tmp_path / "mbp" / "table1_side_by_side.csv", header=[0, 1], index_col=0)
    assert side.shape == (2, 8)
