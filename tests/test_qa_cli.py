"""QA regressions for the engine CLIs: a wrong input or an unusable path ends in ONE
``pyxl: arg: problem; fix`` line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    P = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (60, 3)), axis=0))
    prices = pd.DataFrame(P, columns=list("XYZ"),
                          index=pd.date_range("2020-01-01", periods=60, freq="B"))
    prices.index.name = "Date"
    prices.to_csv(tmp_path / "prices.csv")
    bad = prices.copy()
    bad.iloc[10, 1] = -1.0
    bad.to_csv(tmp_path / "neg.csv")
    pd.DataFrame(rng.normal(0.005, 0.04, (60, 3)), columns=list("ABC")).to_csv(
        tmp_path / "ret.csv", index=False)
    pd.DataFrame({"mu": [0.05, 0.06, 0.07]}).to_csv(tmp_path / "mu.csv", index=False)
    pd.DataFrame(np.diag([0.04, 0.05, 0.06]) + 0.01).to_csv(tmp_path / "cov.csv", index=False,
                                                             header=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "blocker").write_text("a file where a folder is expected")
    return tmp_path


def _one_line_error(capsys, argv, *expect):
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("==")
             and not ln.lstrip().startswith("[")]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("pyxl: "), err
    assert "Traceback" not in err and "Warning" not in err, err
    for word in expect:
        assert word in lines[0], lines[0]
    return lines[0]


def test_backtest_empty_csv(files, capsys):
    _one_line_error(capsys, ["backtest", str(files / "empty.csv"), "--no-xlsx",
                             "-o", str(files / "out")], "prices")


def test_backtest_bad_start_date(files, capsys):
    _one_line_error(capsys, ["backtest", str(files / "prices.csv"), "--no-xlsx",
                             "--start", "notadate", "-o", str(files / "out")], "--start")


def test_backtest_negative_price_message_is_plain(files, capsys):
    line = _one_line_error(capsys, ["backtest", str(files / "neg.csv"), "--no-xlsx",
                                    "-o", str(files / "out")], "prices", "-1.0")
    assert "np.float64" not in line


def test_backtest_unwritable_output(files, capsys):
    _one_line_error(capsys, ["backtest", str(files / "prices.csv"), "--no-xlsx",
                             "-o", str(files / "blocker" / "out")], "blocker")


def test_scenarios_unwritable_npz(files, capsys):
    _one_line_error(capsys, ["scenarios", "--returns", str(files / "ret.csv"),
                             "--mu", str(files / "mu.csv"), "--cov", str(files / "cov.csv"),
                             "--paths", "4", "--block", "3",
                             "--npz", str(files / "blocker" / "x.npz"),
                             "--summary", str(files / "s.csv")], "x.npz")


def test_mbp_universe_unwritable_output(files, capsys):
    _one_line_error(capsys, ["mbp", "universe", "-o", str(files / "blocker" / "u")], "blocker")


@pytest.fixture()
def mbp_files(tmp_path):
    rng = np.random.default_rng(5)
    n, k = 8, 2
    assets = pd.DataFrame({"name": [f"s{i}" for i in range(n)],
                           "alpha": rng.normal(0, 0.02, n), "bench_w": np.full(n, 1 / n),
                           "segment": [1] * 4 + [2] * 4, "spec_var": np.full(n, 0.04),
                           "f1": rng.normal(1, 0.2, n), "f2": rng.normal(0, 1, n)})
    assets.to_csv(tmp_path / "assets.csv", index=False)
    F = pd.DataFrame([[0.03, 0.002], [0.002, 0.01]], columns=["f1", "f2"])
    F.to_csv(tmp_path / "F.csv", index=False)
    F.insert(0, "factor", ["f1", "f2"])
    F.to_csv(tmp_path / "F_labelled.csv", index=False)
    bad = assets.astype({"alpha": object})
    bad.loc[3, "alpha"] = "x"
    bad.to_csv(tmp_path / "text_alpha.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    assert k == 2
    return tmp_path


def test_mbp_optimize_text_alpha(mbp_files, capsys):
    _one_line_error(capsys, ["mbp", "optimize", str(mbp_files / "text_alpha.csv"),
                             str(mbp_files / "F.csv"), "--te-total", "0.02"], "alpha", "'x'")


def test_mbp_optimize_empty_csv(mbp_files, capsys):
    _one_line_error(capsys, ["mbp", "optimize", str(mbp_files / "empty.csv"),
                             str(mbp_files / "F.csv"), "--te-total", "0.02"])


def test_mbp_optimize_factor_cov_with_label_column(mbp_files, capsys):
    # a text first column (factor names) must be dropped, not crash on pandas' string dtype
    assert main(["mbp", "optimize", str(mbp_files / "assets.csv"),
                 str(mbp_files / "F_labelled.csv"), "--te-total", "0.02"]) == 0
    plain = capsys.readouterr().out
    assert main(["mbp", "optimize", str(mbp_files / "assets.csv"),
                 str(mbp_files / "F.csv"), "--te-total", "0.02"]) == 0
    assert capsys.readouterr().out.split("\n", 1)[1] == plain.split("\n", 1)[1]


@pytest.mark.parametrize("flags, arg", [(["--paths", "0"], "--paths"),
                                        (["--horizon", "-3"], "--horizon"),
                                        (["--lam", "1.5"], "--lam"),
                                        (["--burn-in", "-1"], "--burn-in"),
                                        (["--chunk", "0"], "--chunk"),
                                        (["--block", "-2"], "--block")])
def test_scenarios_bad_setting_prints_only_the_error(files, capsys, flags, arg):
    rc = main(["scenarios", "--returns", str(files / "ret.csv"), "--mu", str(files / "mu.csv"),
               "--cov", str(files / "cov.csv"), "--summary", str(files / "s.csv"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"pyxl: {arg}:"), err


def test_scenarios_file_errors_name_the_option(files, capsys):
    # the core calls its arguments mu_ann / cov_ann; a CLI user typed --mu / --cov
    pd.DataFrame([[0.04, 0.02, 0.0], [0.0, 0.05, 0.0], [0.0, 0.0, 0.06]]).to_csv(
        files / "asym.csv", index=False, header=False)
    pd.DataFrame({"mu": [0.05, float("inf"), 0.07]}).to_csv(files / "mu_inf.csv", index=False)
    base = ["scenarios", "--returns", str(files / "ret.csv"), "--summary", str(files / "s.csv")]
    for mu, cov, arg, words in [("mu.csv", "asym.csv", "--cov", "is not symmetric; make it equal"),
                                ("mu_inf.csv", "cov.csv", "--mu", "")]:
        rc = main([*base, "--mu", str(files / mu), "--cov", str(files / cov)])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and err[0].startswith(f"pyxl: {arg}:"), err
        assert words in err[0] and "_ann" not in err[0], err
