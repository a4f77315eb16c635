"""=MBP_OPTIMIZE and =MBP_REPORT through the xlwings Excel-call harness."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range, excel_row

from pyxl.core.mbp import Limits, decompose, make_data, make_universe, optimize
from pyxl.xl import handles
from pyxl.xl.cache import clear_all


@pytest.fixture(scope="module")
def uni():
    return make_universe(n=40, seed=5, breaks=(8, 20))


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_all()


def col(v):
    return excel_range(np.asarray(v, dtype=float))


def args(u, **over):
    a = {"alpha": col(u.alpha), "bench_w": col(u.bench_w), "segment": col(u.segment),
         "exposures": excel_range(u.exposures), "factor_cov": excel_range(u.factor_cov),
         "spec_var": col(u.spec_var)}
    a.update(over)
    return [a["alpha"], a["bench_w"], a["segment"], a["exposures"], a["factor_cov"],
            a["spec_var"]]


def err(out):
    """The single error cell a formula answered (xlwings writes it as [[text]])."""
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    text = out[0][0]
    assert isinstance(text, str) and "\n" not in text
    return text


def data_of(u):
    return make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


def te_np(u, x):
    S = u.exposures @ u.factor_cov @ u.exposures.T + np.diag(u.spec_var)
    return float(np.sqrt(x @ S @ x))


def test_metadata(xl):
    info = xl.info("MBP_OPTIMIZE")
    names = [a["name"] for a in info["args"]]
    assert names == ["alpha", "bench_w", "segment", "exposures", "factor_cov", "spec_var",
                     "te_total", "te_segments", "segment_neutral", "max_weight", "output"]
    assert [a["name"] for a in xl.info("MBP_REPORT")["args"]] == [
        "weights", "bench_w", "segment", "exposures", "factor_cov", "spec_var"]


def test_optimize_column_defaults(xl, uni):
    out = xl("MBP_OPTIMIZE", *args(uni), 0.01)
    w = np.array([r[0] for r in out], dtype=float)
    assert len(out) == uni.n and all(len(r) == 1 for r in out)
    assert w.sum() == pytest.approx(1.0, abs=1e-7) and w.min() >= 0
    assert te_np(uni, w - uni.bench_w) <= 0.01 * (1 + 1e-6)
    # default segment_neutral TRUE: segment sums equal the benchmark's
    for m in (1, 2, 3):
        assert w[uni.segment == m].sum() == pytest.approx(uni.bench_w[uni.segment == m].sum(),
                                                          abs=1e-7)
    ref = optimize(data_of(uni), uni.alpha, Limits(te_total=0.01))
    np.testing.assert_allclose(w, ref.weights, atol=1e-9)


def test_optimize_row_orientation_blank_limit_and_options(xl, uni):
    a = args(uni, alpha=excel_row(uni.alpha), bench_w=excel_row(uni.bench_w),
             segment=excel_row(uni.segment), spec_var=excel_row(uni.spec_var))
    te_seg = ((0.01, None, 0.03),)  # a row with a blank: no limit for segment 2
    out = xl("MBP_OPTIMIZE", *a, 0.02, te_seg, False, 0.3)
    assert len(out) == 1 and len(out[0]) == uni.n
    w = np.array(out[0], dtype=float)
    d = data_of(uni)
    assert d.within_te(w, 0) <= 0.01 * (1 + 1e-6)
    assert d.within_te(w, 2) <= 0.03 * (1 + 1e-6)
    assert w.max() <= 0.3 + 1e-8
    ref = optimize(d, uni.alpha, Limits(te_total=0.02, te_within=(0.01, None, 0.03),
                                        segment_neutral=False, max_weight=0.3))
    np.testing.assert_allclose(w, ref.weights, atol=1e-9)
    # a column of limits and text booleans work the same
    out2 = xl("MBP_OPTIMIZE", *a, 0.02, ((0.01,), (None,), (0.03,)), "FALSE", 0.3)
    np.testing.assert_allclose(np.array(out2[0], dtype=float), w, atol=1e-12)


def test_report_table_matches_core(xl, uni):
    w = optimize(data_of(uni), uni.alpha, Limits(te_total=0.01, segment_neutral=False)).weights
    out = xl("MBP_REPORT", col(w), *args(uni)[1:])
    labels = [r[0] for r in out]
    vals = {r[0]: r[1] for r in out}
    dc = decompose(data_of(uni), w)
    assert labels[0] == "Market TE" and "Delta_1" in labels and "2 x Delta_2" in labels
    assert vals["Market TE"] == pytest.approx(te_np(uni, w - uni.bench_w), rel=1e-9)
    assert vals["Within-segment TE 3"] == pytest.approx(dc.within_te[2], rel=1e-12)
    assert vals["Names held"] == dc.names_held.sum()
    terms = (vals["Segment TE^2"] + sum(vals[f"W^2 x within TE^2 {m}"] for m in (1, 2, 3))
             + vals["Delta_1"] + vals["2 x Delta_2"])
    assert terms == pytest.approx(vals["Market TE^2"], abs=1e-12)
    assert abs(vals["Residual"]) < 1e-12


def test_report_blank_within_te_when_segment_empty(xl, uni):
    w = uni.bench_w.copy()
    w[uni.segment == 2] = 0.0
    w /= w.sum()
    out = xl("MBP_REPORT", col(w), *args(uni)[1:])
    vals = {r[0]: r[1] for r in out}
    assert vals["Within-segment TE 2"] == ""  # NaN written as a blank cell
    assert vals["Names held 2"] == 0


@pytest.mark.parametrize("change, pattern", [
    ({"alpha": col(np.r_[0.01, np.zeros(9)])}, "#PyXL! alpha: has 10 values, expected 40"),
    ({"spec_var": col(-np.ones(40) * 0.01)},
     "#PyXL! spec_var: value -0.01 at item 1 is negative; enter values >= 0"),
    ({"factor_cov": excel_range(-np.eye(37))}, "#PyXL! factor_cov: is not positive semidef"),
    ({"factor_cov": excel_range(np.eye(3))}, "#PyXL! factor_cov: is 3x3, expected 37x37"),
    ({"segment": col(np.r_[0, np.ones(39)])}, "#PyXL! segment: label 0 is not a whole"),
    ({"exposures": excel_range(np.ones((39, 37)))}, "#PyXL! exposures: has 39 rows"),
])
def test_bad_inputs_one_line(xl, uni, change, pattern):
    assert err(xl("MBP_OPTIMIZE", *args(uni, **change), 0.01)).startswith(pattern)


def test_text_blank_and_limit_errors(xl, uni):
    a = args(uni)
    alpha = list(a[0])
    alpha[3] = ("abc",)
    out = err(xl("MBP_OPTIMIZE", tuple(alpha), *a[1:], 0.01))
    assert out.startswith("#PyXL! alpha: text 'abc' at item 4")
    assert err(xl("MBP_OPTIMIZE", *a, None)).startswith("#PyXL! te_total: is blank")
    assert err(xl("MBP_OPTIMIZE", *a, 1.0)).startswith("#PyXL! te_total: 1 is 100 % or more")
    report = err(xl("MBP_REPORT", col(np.ones(3)), *a[1:]))
    assert report.startswith("#PyXL! weights: has 3 values, expected 40")
    out = err(xl("MBP_OPTIMIZE", *a, 0.01, ((0.01, 0.02),)))
    assert out == ("#PyXL! te_segments: has 2 limits, expected 3; one limit (or a blank) "
                   "per segment label 1..M")
    out = err(xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, "maybe"))
    assert out.startswith("#PyXL! segment_neutral:")


def test_infeasible_limit_is_one_line(xl, uni):
    mw = 0.5 * uni.bench_w.max()
    out = err(xl("MBP_OPTIMIZE", *args(uni), 1e-5, xl.MISSING, False, mw))
    assert out.startswith("#PyXL! te_total: market TE limit 0.0010% cannot be met; "
                          "smallest feasible")


def one(out):
    """A single-cell answer (a handle) as text."""
    return out[0][0] if isinstance(out, list) else out


def test_handle_roundtrip_report_from_handle(xl, uni):
    a = args(uni)
    h = one(xl("MBP_OPTIMIZE", *a, 0.01, ((0.02, None, 0.03),), xl.MISSING, xl.MISSING,
               "handle"))
    assert isinstance(h, str) and h.startswith("pyxl:mbp#")
    # content-addressed: same inputs, same handle (a recalculation mints no new one)
    assert one(xl("MBP_OPTIMIZE", *a, 0.01, ((0.02, None, 0.03),), True, 1, "HANDLE")) == h
    other = one(xl("MBP_OPTIMIZE", *a, 0.02, xl.MISSING, xl.MISSING, xl.MISSING, "handle"))
    assert other.startswith("pyxl:mbp#") and other != h
    # the report from the handle alone equals the report of the weights with every range
    w = np.array([r[0] for r in xl("MBP_OPTIMIZE", *a, 0.01, ((0.02, None, 0.03),))])
    ref = optimize(data_of(uni), uni.alpha, Limits(te_total=0.01, te_within=(0.02, None, 0.03)))
    np.testing.assert_allclose(w, ref.weights, atol=1e-9)
    full = xl("MBP_REPORT", col(w), *a[1:])
    assert xl("MBP_REPORT", h) == full
    vals = {r[0]: r[1] for r in full}
    assert vals["Market TE"] == pytest.approx(te_np(uni, ref.weights - uni.bench_w), rel=1e-9)
    # ranges given next to a handle must be the handle's own problem
    assert xl("MBP_REPORT", h, *a[1:]) == full
    assert xl("MBP_REPORT", h, None, a[2]) == full  # blanks are ignored
    bw = uni.bench_w.copy()
    bw[[0, 1]] = bw[[1, 0]]
    msg = err(xl("MBP_REPORT", h, col(bw)))
    assert msg.startswith("#PyXL! bench_w: differs from the bench_w of the pyxl:mbp# handle "
                          "given as weights")
    msg = err(xl("MBP_REPORT", h, xl.MISSING, xl.MISSING, xl.MISSING, xl.MISSING,
                 col(uni.spec_var * 2)))
    assert msg.startswith("#PyXL! spec_var: differs from the spec_var of the pyxl:mbp# handle "
                          "given as weights")
    # the handle also works as a one-cell range
    assert xl("MBP_REPORT", ((h,),)) == full


def test_handle_wrong_kind_stale_and_bad_output(xl, uni):
    a = args(uni)
    scn = handles.put({"not": "mbp"}, "scn", "mbp-test")
    assert err(xl("MBP_REPORT", scn)) == (
        "#PyXL! weights: handle is a 'scn', expected 'mbp'; use the right cell")
    h = one(xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, xl.MISSING, xl.MISSING, "handle"))
    handles.clear()  # e.g. Excel restarted or the store evicted it
    assert err(xl("MBP_REPORT", h)) == (
        "#PyXL! weights: handle has expired; recalculate the cell that made it (F9)")
    assert err(xl("MBP_REPORT", "pyxl:mbp#0123456789ab")).startswith(
        "#PyXL! weights: handle has expired")
    # recalculating the optimisation cell brings the same handle back
    assert one(xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, xl.MISSING, xl.MISSING, "handle")) == h
    assert xl("MBP_REPORT", h)[0][0] == "Market TE"
    out = err(xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, xl.MISSING, xl.MISSING, "table"))
    assert out.startswith("#PyXL! output: 'table' is not one of weights, handle")
    assert err(xl("MBP_REPORT", None)).startswith("#PyXL! weights: is blank")
    # without a handle every range is still needed
    assert err(xl("MBP_REPORT", col(uni.bench_w))).startswith("#PyXL! bench_w: is missing")
    assert err(xl("MBP_REPORT", col(uni.bench_w), *a[1:5])).startswith(
        "#PyXL! spec_var: is missing")


def test_report_refuses_weights_typed_in_percent(xl, uni):
    """Weights typed as percents (summing to 100) gave a market TE of about 100x the
    benchmark's risk without a word; the benchmark must sum to 1, so a sum of 100 is
    percents.  A partly invested or leveraged book (sum 0.8, 1.5) is still reported."""
    out = xl("MBP_REPORT", col(uni.bench_w * 100), *args(uni)[1:])
    assert err(out).startswith("#PyXL! weights: sum to 100: percents typed for decimals")
    for scale in (0.8, 1.5):
        vals = {r[0]: r[1] for r in xl("MBP_REPORT", col(uni.bench_w * scale), *args(uni)[1:])}
        te = te_np(uni, uni.bench_w * scale - uni.bench_w)
        assert vals["Market TE"] == pytest.approx(te, rel=1e-9)
