"""=MBB_RECOLOR through the Excel-call harness (values, blanks, text, orientation, errors)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range, excel_row
from conftest import xl_error as _err

from pyxl.core import scenarios as sc
from pyxl.xl.cache import clear_all

N = 3
rng = np.random.default_rng(3)
R = 0.005 + 0.04 * rng.standard_normal((48, N))
MU = np.array([0.05, 0.06, 0.08])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.06]])
W = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
HDR = (("AAA", "BBB", "CCC"),) + excel_range(R)



def test_summary_matches_core_and_cache(xl):
    clear_all()
    out = xl("MBB_RECOLOR", HDR, excel_row(MU), excel_range(COV), 4, 300, 0.94, 12, 5,
             excel_range(W), 0, "summary")
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=300, block=4, seed=5), W,
                    tickers=["AAA", "BBB", "CCC"])
    exp = s.summary_rows()
    assert len(out) == len(exp)
    lab = [r[0] for r in out]
    assert lab[lab.index("asset") + 1: lab.index("asset") + 4] == ["AAA", "BBB", "CCC"]
    i = lab.index("RT1")
    assert out[i][3] == pytest.approx(exp[i][3], rel=1e-15)  # period target
    assert out[i][4] == pytest.approx(out[i][3], abs=1e-12)  # realised == target (delta)
    again = xl("MBB_RECOLOR", HDR, excel_row(MU), excel_range(COV), 4, 300, 0.94, 12, 5,
               excel_range(W), 0, "summary")
    assert again == out
    from pyxl.xl import udf_scenarios

    assert len(udf_scenarios._run.cache) >= 1


def test_defaults_orientation_and_blanks(xl):
    a = xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 3, 50)
    b = xl("MBB_RECOLOR", excel_range(R), excel_range(MU[:, None]), excel_range(COV), 3, 50,
           None, None, None, None, None, None)
    assert a == b  # column mu, blanks = defaults
    lab = [r[0] for r in a]
    assert "asset1" in lab and "equal weight" in lab


def test_path_all_fan_outputs(xl):
    args = (HDR, excel_row(MU), excel_range(COV), 4, 20, 0.94, 12, 1, excel_range(W))
    p2 = np.array(xl("MBB_RECOLOR", *args, 0, "path:2"))
    allp = np.array(xl("MBB_RECOLOR", *args, 0, "all"))
    assert p2.shape == (48, N)
    assert allp.shape == (20 * 48, N + 2)
    np.testing.assert_array_equal(allp[:, 0], np.repeat(np.arange(1, 21), 48))
    np.testing.assert_array_equal(allp[:, 1], np.tile(np.arange(1, 49), 20))
    np.testing.assert_array_equal(allp[48:96, 2:], p2)
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=20, block=4, seed=1), W)
    np.testing.assert_array_equal(p2, s.paths[1])
    fan = xl("MBB_RECOLOR", *args, 0, "fan:2")
    assert fan[0] == ["period", "p5", "p25", "p50", "p75", "p95"]
    assert len(fan) == 50 and fan[1][1:] == [1.0] * 5


def test_handle_roundtrip(xl):
    args = (HDR, excel_row(MU), excel_range(COV), 4, 30, 0.94, 12, 2, excel_range(W))
    h = xl("MBB_RECOLOR", *args, 0, "handle")
    h = h[0][0] if isinstance(h, list) else h
    assert h.startswith("pyxl:scn#")
    via = xl("MBB_RECOLOR", h, None, None, None, None, None, None, None, None, None, "path:3")
    direct = xl("MBB_RECOLOR", *args, 0, "path:3")
    assert via == direct
    msg = _err(xl("MBB_RECOLOR", "pyxl:scn#0123456789ab", None, None, None, None, None, None,
                  None, None, None, "summary"))
    assert "expired" in msg


def test_rt_weights_with_name_column(xl):
    rt = (("", "AAA", "BBB", "CCC"), ("cautious", 0.5, 0.3, 0.2), ("bold", 0.2, 0.3, 0.5))
    out = xl("MBB_RECOLOR", HDR, excel_row(MU), excel_range(COV), 4, 40, 0.94, 12, 0, rt)
    lab = [r[0] for r in out]
    assert "cautious" in lab and "bold" in lab


def test_rt_weights_name_column_under_numeric_ticker_codes(xl):
    """Codes typed as numbers (7203) head the columns as text tickers do: the names in the
    first column label the portfolios (they were dropped for RT1, RT2)."""
    codes = (7203.0, 6758.0, 9984.0)
    hist = (codes,) + excel_range(R)
    args = (excel_row(MU), excel_range(COV), 4, 40, 0.94, 12, 0)
    rt = ((None, *codes), ("cautious", *W[0]), ("bold", *W[1]))
    out = xl("MBB_RECOLOR", hist, *args, rt)
    text = xl("MBB_RECOLOR", HDR, *args, (("", "AAA", "BBB", "CCC"),
                                          ("cautious", *W[0]), ("bold", *W[1])))
    assert [r[1:] for r in out] == [r[1:] for r in text]  # the same numbers
    names = {"AAA": "7203", "BBB": "6758", "CCC": "9984"}
    assert [r[0] for r in out] == [names.get(r[0], r[0]) for r in text]  # and names
    assert "cautious" in [r[0] for r in out] and "RT1" not in [r[0] for r in out]
    swapped = ((None, 6758.0, 7203.0, 9984.0), ("cautious", *W[0]), ("bold", *W[1]))
    assert "rt_weights" in _err(xl("MBB_RECOLOR", hist, *args, swapped))


@pytest.mark.parametrize("mutate,arg", [
    (lambda a: a.__setitem__(1, excel_row(MU[:2])), "mu_ann"),
    (lambda a: a.__setitem__(2, excel_range(COV + np.triu(np.ones((3, 3)), 1) * 0.01)),
     "cov_ann"),
    (lambda a: a.__setitem__(2, excel_range(-COV)), "cov_ann"),
    (lambda a: a.__setitem__(2, excel_range(COV[:2, :2])), "cov_ann"),
    (lambda a: a.__setitem__(3, 500), "block"),
    (lambda a: a.__setitem__(4, 0), "n_paths"),
    (lambda a: a.__setitem__(4, "many"), "n_paths"),
    (lambda a: a.__setitem__(5, 1.2), "lam"),
    (lambda a: a.__setitem__(10, "path:0"), "output"),
    (lambda a: a.__setitem__(10, "pathx"), "output"),
    (lambda a: a.__setitem__(10, "fan:9"), "output"),
    (lambda a: a.__setitem__(8, excel_range(np.ones((2, 2)))), "rt_weights"),
    (lambda a: a.__setitem__(11, "iid"), "method"),
    (lambda a: a.__setitem__(0, excel_range(np.where(np.arange(48)[:, None] == 5, None,
                                                     R).tolist())), "returns"),
    (lambda a: a.__setitem__(0, (("x", "y", "z"), ("a", 1.0, 2.0), (1.0, 2.0, 3.0))), "returns"),
])
def test_bad_inputs_give_one_line_naming_argument(xl, mutate, arg):
    a = [HDR, excel_row(MU), excel_range(COV), 4, 10, 0.94, 12, 0, excel_range(W), 0,
         "summary", "moving"]
    mutate(a)
    msg = _err(xl("MBB_RECOLOR", *a))
    assert msg.startswith(f"#PyXL! {arg}:"), msg
    assert "\n" not in msg


def test_all_too_many_rows_is_refused(xl):
    msg = _err(xl("MBB_RECOLOR", HDR, excel_row(MU), excel_range(COV), 4, 30000, 0.94, 12, 0,
                  None, 0, "all"))
    assert msg.startswith("#PyXL! output:")


def test_formula_metadata(xl):
    info = xl.info("MBB_RECOLOR")
    names = [a["name"] for a in info["args"]]
    assert names[:11] == ["returns", "mu_ann", "cov_ann", "block", "n_paths", "lam", "periods",
                          "seed", "rt_weights", "ridge", "output"]
