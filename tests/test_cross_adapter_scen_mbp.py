"""Cross-adapter consistency of the scenario engine and the MBP optimiser.

The same history, targets and universe written to CSV files and handed to the formulas
as Excel ranges must give the same numbers through ``pyxl scenarios`` / ``pyxl mbp
optimize`` and ``=MBB_RECOLOR`` / ``=MBP_OPTIMIZE``, to the last digit (the scenario
engine is seeded), and an option left out must mean the same in both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.scenarios import load_npz_paths
from pyxl.numparse import EXACT_CSV  # pandas < 3 parses floats 1 ulp off

TICK = ["A", "B", "C"]
RT = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])


@pytest.fixture(scope="module")
def scn(tmp_path_factory):
    d = tmp_path_factory.mktemp("scn")
    rng = np.random.default_rng(3)
    R = rng.normal(0.008, 0.04, (60, 3)).round(6)
    mu = np.array([0.06, 0.05, 0.08])
    C = (np.cov(R.T) * 12).round(6)
    pd.DataFrame(R, columns=TICK).to_csv(d / "r.csv", index=False)
    pd.DataFrame([mu], columns=TICK).to_csv(d / "mu.csv", index=False)
    pd.DataFrame(C, columns=TICK, index=TICK).to_csv(d / "cov.csv")
    pd.DataFrame(RT, columns=TICK, index=["p1", "p2"]).to_csv(d / "rt.csv")
    return d, R, mu, C


def _cli(d, *extra):
    argv = ["scenarios", "--returns", str(d / "r.csv"), "--mu", str(d / "mu.csv"),
            "--cov", str(d / "cov.csv"), "--rt", str(d / "rt.csv"),
            "--summary", str(d / "s.csv"), *extra]
    assert main(argv) == 0
    return pd.read_csv(d / "s.csv", header=None, keep_default_na=False).to_numpy()


def _same_table(formula_rows, cli_rows) -> None:
    """Every cell equal: numbers exactly (the CSV holds repr), blanks as blanks."""
    assert len(formula_rows) == len(cli_rows)
    for i, (a, b) in enumerate(zip(formula_rows, cli_rows, strict=True)):
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if x is None or x == "" or (isinstance(x, float) and x != x):
                assert y == "", (i, j, x, y)
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                assert float(y) == x, (i, j, x, y)
            else:
                assert str(x) == str(y), (i, j, x, y)


def _rt_range(xl):
    return xl.range([["", *TICK], ["p1", *RT[0]], ["p2", *RT[1]]])


@pytest.mark.parametrize("opts", [
    dict(block=0, method="stationary", target="geometric", recolor="cholesky", horizon=24,
         burn_in=6, ridge=0.01, lam=0.97, periods=52, seed=3, chunk=100),
    dict(block=4, method="circular", target="lognormal", recolor="symmetric-eigh",
         horizon=0, burn_in=0, ridge=0.0, lam=0.94, periods=12, seed=11, chunk=256),
])
def test_scenarios_cli_paths_and_summary_equal_the_formula(xl, scn, opts):
    d, R, mu, C = scn
    args = (xl.range([TICK, *R.tolist()]), xl.row(mu), xl.range(C), opts["block"], 300,
            opts["lam"], opts["periods"], opts["seed"], _rt_range(xl), opts["ridge"])
    tail = (opts["method"], opts["horizon"], opts["burn_in"], opts["target"], opts["recolor"])
    every = np.array(xl("MBB_RECOLOR", *args, "all", *tail), dtype=float)
    summary = xl("MBB_RECOLOR", *args, "summary", *tail)
    flags = ["--paths", "300", "--block", str(opts["block"]), "--lam", str(opts["lam"]),
             "--periods", str(opts["periods"]), "--seed", str(opts["seed"]),
             "--ridge", str(opts["ridge"]), "--method", opts["method"],
             "--horizon", str(opts["horizon"]), "--burn-in", str(opts["burn_in"]),
             "--target", opts["target"], "--recolor", opts["recolor"],
             "--chunk", str(opts["chunk"]), "--npz", str(d / "p.npz")]
    cli = _cli(d, *flags)
    paths = load_npz_paths(d / "p.npz")
    n, H, N = paths.shape
    assert np.array_equal(paths.reshape(n * H, N), every[:, 2:])
    _same_table(summary, cli)


def test_scenarios_omitted_options_mean_the_cli_defaults(xl, scn):
    # formula: only the required arguments (+ RT weights); CLI: only --paths and --block
    d, R, mu, C = scn
    none = None
    summary = xl("MBB_RECOLOR", xl.range([TICK, *R.tolist()]), xl.row(mu), xl.range(C), none,
                 200, none, none, none, _rt_range(xl))
    _same_table(summary, _cli(d, "--paths", "200"))
    settings = {r[0]: r[1] for r in summary[:14]}
    assert settings["lambda"] == 0.94 and settings["periods per year"] == 12
    assert settings["seed"] == 0 and settings["ridge"] == 0
    assert settings["bootstrap"] == "moving" and settings["target conversion"] == "arithmetic"
    assert settings["recolour"] == "symmetric" and settings["horizon (periods)"] == 60


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_scenarios_cli_refuses_a_non_finite_ridge(scn, capsys, value):
    # --ridge nan ran as ridge 0 (exact delta) and wrote a blank ridge in the summary;
    # the formula cannot be given one
    d, *_ = scn
    argv = ["scenarios", "--returns", str(d / "r.csv"), "--mu", str(d / "mu.csv"),
            "--cov", str(d / "cov.csv"), "--rt", str(d / "rt.csv"), "--paths", "20",
            "--summary", str(d / "bad.csv"), "--ridge", value]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyxl: --ridge:") and "finite" in err[0], err
    assert not (d / "bad.csv").exists()


# --------------------------------------------------------------------------- MBP
@pytest.fixture(scope="module")
def uni(tmp_path_factory):
    d = tmp_path_factory.mktemp("mbp")
    assert main(["mbp", "universe", "--n", "600", "--seed", "5", "-o", str(d)]) == 0
    a = pd.read_csv(d / "assets.csv", **EXACT_CSV)
    F = pd.read_csv(d / "factor_cov.csv", **EXACT_CSV).to_numpy()
    factors = [c for c in a.columns if c not in ("name", "alpha", "bench_w", "segment",
                                                  "spec_var")]
    return d, a, a[factors].to_numpy(), F


def _col(xl, v):
    return xl.range(np.asarray(v, dtype=float)[:, None])


@pytest.mark.parametrize("te, within, neutral, mw", [
    (0.01, None, True, None),
    (0.01, (0.02, None, 0.05), True, None),
    (0.02, (0.03, 0.04, 0.05), False, 0.05),
])
def test_mbp_cli_weights_equal_the_formula_bit_for_bit(xl, uni, te, within, neutral, mw):
    # the CLI read B and F column-major (pandas) and the weights moved by up to 1.4e-13
    d, a, B, F = uni
    w_xl = np.array(xl("MBP_OPTIMIZE", _col(xl, a.alpha), _col(xl, a.bench_w),
                       _col(xl, a.segment), xl.range(B), xl.range(F), _col(xl, a.spec_var),
                       te, xl.range([list(within)]) if within else None, neutral, mw),
                    dtype=float).ravel()
    argv = ["mbp", "optimize", str(d / "assets.csv"), str(d / "factor_cov.csv"),
            "--te-total", str(te), "-o", str(d / "w.csv")]
    if within:
        argv += ["--te-segments", ",".join("" if v is None else str(v) for v in within)]
    if not neutral:
        argv += ["--no-neutral"]
    if mw:
        argv += ["--max-weight", str(mw)]
    assert main(argv) == 0
    w_cli = pd.read_csv(d / "w.csv", **EXACT_CSV).weight.to_numpy()
    assert np.array_equal(w_cli, w_xl), np.max(np.abs(w_cli - w_xl))
    # and the limits hold, recomputed here: market TE = sqrt(a' (B F B' + S) a)
    act = w_cli - a.bench_w.to_numpy()
    te2 = (B.T @ act) @ F @ (B.T @ act) + np.sum(a.spec_var.to_numpy() * act ** 2)
    assert np.sqrt(te2) <= te * (1 + 1e-6)
    assert abs(w_cli.sum() - 1) < 1e-8 and w_cli.min() > -1e-8


@pytest.mark.parametrize("argv, flag", [
    (["optimize", "{a}", "{f}", "--te-total", "0.01", "--te-segments", "nan,,0.05"],
     "--te-segments"),
    (["table1", "--n", "200", "--te", "0.01", "--within-multiple", "nan"],
     "--within-multiple"),
])
def test_mbp_cli_refuses_nan_list_items(uni, capsys, argv, flag):
    # 'nan' in a list option silently dropped the limit (the formula has no such value:
    # a blank cell is the way to say "no limit")
    d, *_ = uni
    argv = [x.format(a=d / "assets.csv", f=d / "factor_cov.csv") for x in argv]
    assert main(["mbp", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith(f"pyxl: {flag}: 'nan' is not a finite number"), err


def test_mbp_core_weights_do_not_depend_on_the_memory_layout():
    """Exposures and factor covariance handed over column-major (``DataFrame.to_numpy()``)
    gave weights up to 3e-14 off those of row-major cells; the core now takes every
    layout as row-major."""
    from pyxl.core.mbp import Limits, make_data, make_universe, optimize

    u = make_universe(n=300, seed=5)
    lim = Limits(te_total=0.01, segment_neutral=False)
    args = (u.bench_w, u.segment)
    a = optimize(make_data(*args, u.exposures, u.factor_cov, u.spec_var), u.alpha, lim)
    b = optimize(make_data(*args, np.asfortranarray(u.exposures),
                           np.asfortranarray(u.factor_cov), u.spec_var), u.alpha, lim)
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("ridge", [float("nan"), float("inf")])
def test_scenario_core_refuses_a_non_finite_ridge(ridge):
    from pyxl.core.scenarios import ScenarioSpec, generate
    from pyxl.errors import InputError

    rng = np.random.default_rng(np.random.SeedSequence(2))
    R = rng.normal(0.005, 0.04, (120, 3))
    with pytest.raises(InputError) as e:
        generate(R, np.full(3, 0.06), np.eye(3) * 0.02, ScenarioSpec(n_paths=8, ridge=ridge),
                 np.eye(3))
    assert e.value.arg == "ridge"
