"""The Excel-call harness and the shared cell conversion behave like Excel + xlwings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyxl.errors import InputError
from pyxl.xl import convert, winstub
from pyxl.xl.cache import fingerprint, memoize


def test_standin_engine_reads_like_windows():
    from xlwings import conversion

    raw = ((1.0, None, "x"), (-2146826246, 2.5, ""))
    got = conversion.read(None, raw, {"ndim": 2})
    assert got == [[1.0, None, "x"], [None, 2.5, None]]
    got = conversion.read(None, raw, {"ndim": 2, "err_to_str": True})
    assert got[1][0] == "#N/A"
    assert conversion.read(None, 3.0, {}) == 3.0


def test_standin_engine_writes_nan_as_blank():
    from xlwings import conversion

    out = conversion.write([[1.0, math.nan], [np.float32(2.0), None]], None, {})
    assert out == [[1.0, ""], [2.0, ""]]


def test_every_formula_is_registered_with_metadata():
    mod = winstub.load_udf_module()
    names = [n for n in dir(mod) if n.isupper() and callable(getattr(mod, n))]
    for n in names:
        info = getattr(mod, n).__xlfunc__
        assert info["category"] == "PyXL", n
        assert info["call_in_wizard"] is True, n
        assert len(info["ret"]["doc"]) <= 255, n
        assert "expand" not in info["ret"]["options"], n


def test_to_matrix_messages_name_argument():
    with pytest.raises(InputError, match=r"prices: blank cell at row 2, column 1"):
        convert.to_matrix([[1.0, 2.0], [None, 3.0]], "prices")
    with pytest.raises(InputError, match=r"prices: text 'abc'"):
        convert.to_matrix([[1.0, "abc"]], "prices")
    with pytest.raises(InputError, match=r"not > 0"):
        convert.to_matrix([[1.0, 0.0]], "prices", positive=True)
    with pytest.raises(InputError, match=r"is 2x2, expected 3 rows \(any number of columns\)"):
        convert.to_matrix([[1.0, 2.0], [3.0, 4.0]], "cov", shape=(3, None))
    m = convert.to_matrix([[1.0, 2.0], [3.0, 4.0], [None, None]], "x")
    assert m.shape == (2, 2)


def test_to_vector_and_orientation():
    v = convert.to_vector([[1.0], [2.0]], "q")
    np.testing.assert_array_equal(v, [1.0, 2.0])
    assert convert.vector_like(v * 2, [[1.0, 2.0]]) == [[2.0, 4.0]]
    assert convert.vector_like(v * 2, [[1.0], [2.0]]) == [[2.0], [4.0]]
    with pytest.raises(InputError, match="expected 3"):
        convert.to_vector([1.0, 2.0], "w", length=3)
    b = convert.to_vector([[1.0, None, 3.0]], "te", allow_blank=True)
    assert np.isnan(b[1])


def test_scalars_bools_choices():
    assert convert.to_float(None, "lam", default=0.9) == 0.9
    with pytest.raises(InputError, match=r"lam: must be <= 1"):
        convert.to_float(1.5, "lam", lo=0, hi=1)
    assert convert.to_bool("TRUE", "x", default=False) is True
    assert convert.to_bool(None, "x", default=True) is True
    got = convert.to_choice("Summary", "output", ["summary", "all"], default="summary")
    assert got == "summary"
    with pytest.raises(InputError):
        convert.to_int(2.5, "n")


def test_excel_formula_wrapper_never_raises():
    @convert.excel_formula
    def f(x):
        if x == 1:
            raise InputError("x", "bad", "fix it")
        raise RuntimeError("boom\nsecond line")

    assert f(1) == "#PyXL! x: bad; fix it"
    assert f(2) == "#PyXL! internal error: RuntimeError: boom"


def test_memoize_is_bounded_and_content_keyed():
    calls = []

    @memoize(maxsize=2)
    def g(a):
        calls.append(1)
        return a.sum()

    a = np.arange(3.0)
    g(a)
    g(a.copy())
    assert len(calls) == 1
    g(a + 1)
    g(a + 2)
    g(a)
    assert len(calls) == 4
    assert fingerprint(np.zeros(2)) != fingerprint(np.zeros(3))


def test_handles_are_content_addressed_and_checked():
    from pyxl.xl import handles

    h1 = handles.put({"a": 1}, "scn", np.arange(3.0), 5)
    h2 = handles.put({"a": 1}, "scn", np.arange(3.0), 5)
    assert h1 == h2 and handles.is_handle(h1) and h1.startswith("pyxl:scn#")
    assert handles.get(h1, "scn", "returns") == {"a": 1}
    with pytest.raises(InputError, match="expected 'mbp'"):
        handles.get(h1, "mbp", "weights")
    with pytest.raises(InputError, match="not a PyXL handle"):
        handles.get("hello", "scn", "returns")
    handles.clear()
    with pytest.raises(InputError, match="expired"):
        handles.get(h1, "scn", "returns")


def test_handle_cell_text_unwraps_one_cell_ranges_only():
    from pyxl.xl import handles

    h = "pyxl:scn#0123456789ab"
    for v in (h, f" {h} ", (h,), ((h,),), [[h]]):
        assert handles.cell_text(v) == h
    for v in (None, "", "pyxl:scn", ((h, h),), ((h,), (h,)), ((1.0,),), 3.0):
        assert handles.cell_text(v) is None


def test_upstream_pyxl_error_is_named_as_such(xl):
    """A cell holding another PyXL formula's error is reported as that, not as text."""
    upstream = xl("KELLY_LEVERAGE", 0.085, "abc", 0.01)[0][0]
    assert upstream.startswith("#PyXL! sigma: text 'abc'")
    out = xl("KELLY_LEVERAGE", upstream, 0.182, 0.01)[0][0]
    assert out == ("#PyXL! mu: the cell shows another formula's error "
                   "(sigma: text 'abc' at the cell); fix that cell first")
    # inside a range the position is named too
    out = xl("MNVH_STEP", ((1.0,), (2.0,)), ((1.0,), (upstream,)), ((1.0,), (1.0,)),
             ((0.5,), (0.5,)), 0.9, 1.0)
    assert out[0][0].startswith("#PyXL! p_prev: item 2 shows another formula's error"), out
