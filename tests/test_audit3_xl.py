"""Audit (round 3) of the formula plumbing: memo cache, object handles, one-line errors.

Expected values come from the core engines called directly, from NumPy, or from the
message contract ("#PyXL! arg: problem; fix", one line, at most 255 characters).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from conftest import excel_range, excel_row
from conftest import xl_error as _err

from pyxl.core import scenarios as sc
from pyxl.core.mbp import decompose, make_universe
from pyxl.errors import InputError
from pyxl.xl import convert, handles
from pyxl.xl.cache import clear_all, fingerprint, memoize

N = 3
_rng = np.random.default_rng(3)
R = 0.005 + 0.04 * _rng.standard_normal((48, N))
MU = np.array([0.05, 0.06, 0.08])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.06]])


@pytest.fixture(autouse=True)
def _fresh():
    clear_all()
    handles.clear()
    yield
    clear_all()
    handles.clear()


# ----------------------------------------------------------------- one-line errors


def test_line_breaks_in_ticker_cells_give_a_one_line_error(xl):
    """Alt+Enter in a header cell ("Toyota<LF>Motor") used to split the error over lines."""
    hdr = ("Toyota\nMotor", "Sony\nGroup", "Nintendo")
    rt = ((hdr[1], hdr[0], hdr[2]),) + excel_range([[0.5, 0.3, 0.2]])
    out = _err(xl("MBB_RECOLOR", (hdr,) + excel_range(R), excel_row(MU), excel_range(COV),
                  4, 50, 0.94, 12, 0, rt))
    assert out == ("#PyXL! rt_weights: columns are in the order Sony Group, Toyota Motor, "
                   "Nintendo, returns in Toyota Motor, Sony Group, Nintendo; put the columns "
                   "of rt_weights in the order of returns")
    rows = (("Toyota\nMotor", 100.0, 101.0, 102.0, 103.0), ("Sony", 50.0, 51.0, 52.0, 53.0),
            ("Nintendo", 10.0, 11.0, 12.0, 13.0))
    out = _err(xl("MNVH_BACKTEST", rows))
    assert out.startswith("#PyXL! prices: has one row per asset (Toyota Motor, Sony, ...); ")


def test_overlong_error_is_cut_to_255_keeping_argument_and_fix(xl):
    """300 tickers in another order listed every ticker twice: a 7,300-character cell."""
    n = 300
    tick = tuple(f"TICKER{i:04d}" for i in range(n))
    r = 0.005 + 0.04 * np.random.default_rng(1).standard_normal((60, n))
    out = _err(xl("MBB_RECOLOR", (tick,) + excel_range(r), excel_row(np.full(n, 0.05)),
                  excel_range(0.04 * np.eye(n)), 4, 10, 0.94, 12, 0,
                  (tick[::-1],) + excel_range(np.full((1, n), 1.0 / n))))
    assert len(out) <= 255
    assert out.startswith("#PyXL! rt_weights: columns are in the order TICKER0299, TICKER0298")
    assert out.endswith(" ...; put the columns of rt_weights in the order of returns")
    # a paragraph pasted into a choice cell
    out = _err(xl("KELLY_GROWTH", 2.0, 0.085, 0.182, 0.01, "x" * 5000))
    assert len(out) <= 255 and out.startswith("#PyXL! model: 'xxxx")


def test_short_messages_are_unchanged(xl):
    assert _err(xl("KELLY_LEVERAGE", 0.085, "abc", 0.01)) == (
        "#PyXL! sigma: text 'abc' at the cell; enter a number")
    err = InputError("w", "a  b", "c")
    assert convert.excel_formula(lambda: (_ for _ in ()).throw(err))() == "#PyXL! w: a  b; c"


def test_upstream_multiline_error_is_passed_on_as_one_line(xl):
    upstream = "#PyXL! foo: bar\nbaz; fix it"
    out = _err(xl("KELLY_LEVERAGE", upstream, 0.182, 0.01))
    assert out == "#PyXL! mu: the cell shows another formula's error (foo: bar baz); " \
                  "fix that cell first"


# ----------------------------------------------------------------- handles


def test_handle_store_is_bounded_in_bytes(monkeypatch):
    """64 scenario sets of 20 million values each would have been ~10 GB kept alive."""
    monkeypatch.setattr(handles, "MAX_BYTES", 1_000_000, raising=False)
    a, b, c = (np.full(50_000, float(i)) for i in range(3))  # 400 kB each
    ha = handles.put(a, "scn", "a")
    hb = handles.put(b, "scn", "b")
    assert handles.get(ha, "scn", "returns") is a  # 800 kB: both kept
    hc = handles.put(c, "scn", "c")  # 1.2 MB: the least recently used (b) goes
    assert handles.get(ha, "scn", "returns") is a
    assert handles.get(hc, "scn", "returns") is c
    with pytest.raises(InputError, match="handle has expired"):
        handles.get(hb, "scn", "returns")
    # the newest object always stays, even when it alone is over the budget
    big = np.zeros(200_000)
    hbig = handles.put(big, "scn", "big")
    assert handles.get(hbig, "scn", "returns") is big
    for h in (ha, hc):
        with pytest.raises(InputError, match="handle has expired"):
            handles.get(h, "scn", "returns")


def test_nbytes_counts_views_and_dataclass_fields_once():
    @dataclass(frozen=True)
    class Box:
        paths: np.ndarray
        view: np.ndarray
        extra: dict

    base = np.zeros((100, 10))
    box = Box(paths=base, view=base[:, :3], extra={"t": np.zeros(5), "s": "x"})
    assert handles.nbytes(box) == 100 * 10 * 8 + 5 * 8
    assert handles.nbytes(np.broadcast_to(np.zeros(1), (10**6,))) == 8


def test_scenario_handles_through_formulas_old_keeps_old_and_budget_evicts(xl, monkeypatch):
    args = (excel_range(R), excel_row(MU), excel_range(COV), 4, 30, 0.94, 12)
    h1 = xl("MBB_RECOLOR", *args, 1, None, 0, "handle")[0][0]
    h2 = xl("MBB_RECOLOR", *args, 2, None, 0, "handle")[0][0]
    assert h1 != h2 and h1.startswith("pyxl:scn#") and h2.startswith("pyxl:scn#")
    # each handle keeps the run of its own inputs (checked against the core directly)
    for h, seed in ((h1, 1), (h2, 2)):
        s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=30, block=4, seed=seed), None)
        got = np.array(xl("MBB_RECOLOR", h, None, None, None, None, None, None, None, None,
                          None, "path:3"))
        np.testing.assert_allclose(got, s.paths[2], rtol=0, atol=1e-15)
    # recalculating with the first inputs again gives back the first handle
    assert xl("MBB_RECOLOR", *args, 1, None, 0, "handle")[0][0] == h1
    # a budget smaller than one run keeps only the newest run
    monkeypatch.setattr(handles, "MAX_BYTES", 1, raising=False)
    h3 = xl("MBB_RECOLOR", *args, 3, None, 0, "handle")[0][0]
    assert xl("KELLY_SCENARIO", h3)[0][0] is not None
    out = _err(xl("KELLY_SCENARIO", h1))
    assert out == ("#PyXL! returns: handle has expired; recalculate the cell that made it "
                   "(F9)")


def test_mbp_handle_recalculated_with_new_inputs(xl):
    u = make_universe(n=30, seed=5, breaks=(6, 15))

    def col(v):
        return excel_range(np.asarray(v, dtype=float))

    base = [col(u.alpha), col(u.bench_w), col(u.segment), excel_range(u.exposures),
            excel_range(u.factor_cov), col(u.spec_var)]
    h_old = xl("MBP_OPTIMIZE", *base, 0.01, None, None, None, "handle")[0][0]
    w_old = np.array(xl("MBP_OPTIMIZE", *base, 0.01))[:, 0]
    base[0] = col(-u.alpha)
    h_new = xl("MBP_OPTIMIZE", *base, 0.01, None, None, None, "handle")[0][0]
    w_new = np.array(xl("MBP_OPTIMIZE", *base, 0.01))[:, 0]
    assert h_new != h_old and not np.allclose(w_new, w_old)
    obj_old = handles.get(h_old, "mbp", "weights")
    obj_new = handles.get(h_new, "mbp", "weights")
    np.testing.assert_array_equal(obj_old.weights, w_old)
    np.testing.assert_array_equal(obj_new.weights, w_new)
    # the report of the old handle is the old weights' decomposition
    rows = decompose(obj_old.data, w_old).rows()
    out = xl("MBP_REPORT", h_old)
    assert [r[0] for r in out] == [r[0] for r in rows]
    np.testing.assert_allclose([r[1] for r in out if r[1] != ""],
                               [r[1] for r in rows if np.isfinite(r[1])], rtol=1e-12)
    # the stored weights cannot be changed through the handle
    with pytest.raises(ValueError):
        obj_old.weights[0] = 1.0


def test_handle_without_key_parts_is_never_reused_for_another_object():
    """id() comes back for a new object once the old one is gone."""

    class Obj:
        def __init__(self, v):
            self.v = v

    for _ in range(50):
        a = Obj(1)
        ha = handles.put(a, "scn")
        handles.clear()  # evicted (e.g. the Recalculate button), then freed
        ida = id(a)
        del a
        b = Obj(2)
        if id(b) == ida:
            break
    else:
        pytest.skip("the allocator did not reuse the address")
    hb = handles.put(b, "scn")
    assert hb != ha
    with pytest.raises(InputError, match="handle has expired"):
        handles.get(ha, "scn", "returns")


def test_handle_pasted_text_unknown_wrong_kind(xl):
    assert _err(xl("KELLY_SCENARIO", "pyxl:scn#0123456789ab")) == (
        "#PyXL! returns: handle has expired; recalculate the cell that made it (F9)")
    hm = handles.put({"w": 1}, "mbp", "x")
    assert _err(xl("KELLY_SCENARIO", hm)) == (
        "#PyXL! returns: handle is a 'mbp', expected 'scn'; use the right cell")
    assert _err(xl("MBB_RECOLOR", ((hm,),), None, None, None, None)) == (
        "#PyXL! returns: handle is a 'mbp', expected 'scn'; use the right cell")


# ----------------------------------------------------------------- fingerprint / memoize


def test_fingerprint_separates_values_that_print_alike():
    # pandas repr rounds to 6 digits and elides long frames
    d1 = pd.DataFrame([[0.1234567]])
    d2 = pd.DataFrame([[0.1234568]])
    assert fingerprint(d1) != fingerprint(d2)
    s1 = pd.Series(np.arange(1000.0))
    s2 = s1.copy()
    s2[500] = -1.0
    assert fingerprint(s1) != fingerprint(s2)
    assert fingerprint(s1) == fingerprint(s1.copy())
    # object arrays hold pointers: a changed element at the same address must still differ
    item = [1.0]
    o = np.empty(1, dtype=object)
    o[0] = item
    before = fingerprint(o)
    item.append(2.0)
    assert fingerprint(o) != before
    o2 = np.empty(1, dtype=object)
    o2[0] = [1.0, 2.0]
    assert fingerprint(o2) == fingerprint(o)  # same content, other objects
    # a dataclass holding a long array (its repr elides the middle)

    @dataclass
    class Spec:
        x: np.ndarray

    big = np.arange(5000.0)
    big2 = big.copy()
    big2[2500] = 0.5
    assert fingerprint(Spec(big)) != fingerprint(Spec(big2))


@pytest.mark.parametrize("a, b", [
    (0.0, -0.0), (1, 1.0), (1, True), (None, ""), (np.array([1, 2]), np.array([1.0, 2.0])),
    (np.zeros((2, 3)), np.zeros((3, 2))), (np.zeros(6), np.zeros((1, 6))),
    (np.array([0.0]), np.array([-0.0])), ({"a": 1}, {"a": 1, "b": None}),
])
def test_fingerprint_distinguishes_inputs(a, b):
    assert fingerprint(a) != fingerprint(b)


def test_fingerprint_same_content_same_key():
    x = np.arange(12.0).reshape(3, 4)
    assert fingerprint(x) == fingerprint(np.asfortranarray(x))
    assert fingerprint(x[:, ::2]) == fingerprint(x[:, ::2].copy())
    assert fingerprint(float("nan")) == fingerprint(float("nan"))
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})


def test_memo_input_mutated_after_call_and_result_frozen():
    calls = []

    @memoize(maxsize=4)
    def total(a):
        calls.append(1)
        return np.cumsum(a)

    a = np.array([1.0, 2.0, 3.0])
    r1 = total(a)
    a[0] = 10.0  # the caller changes its array in place
    r2 = total(a)
    np.testing.assert_array_equal(r1, [1.0, 3.0, 6.0])
    np.testing.assert_array_equal(r2, [10.0, 12.0, 15.0])
    assert len(calls) == 2
    with pytest.raises(ValueError):
        r1[0] = 99.0


def test_memo_never_caches_an_error():
    calls = []

    @memoize(maxsize=4)
    def f(x):
        calls.append(x)
        if len(calls) == 1:
            raise InputError("x", "transient", "retry")
        return x * 2

    with pytest.raises(InputError):
        f(3)
    assert f(3) == 6 and f(3) == 6
    assert calls == [3, 3]


def test_memo_from_threads_answers_each_key_with_its_own_result():
    @memoize(maxsize=8)
    def sq(x):
        return np.full(3, float(x) ** 2)

    bad = []

    def work(k):
        for i in range(300):
            x = (k * 7 + i) % 20
            if not np.array_equal(sq(x), np.full(3, float(x) ** 2)):
                bad.append(x)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert bad == []
    assert len(sq.cache) <= 8


def test_large_range_fingerprint_is_fast():
    import time

    big = np.random.default_rng(0).standard_normal((1_000_000, 10))  # 80 MB
    t0 = time.perf_counter()
    fingerprint(big)
    assert time.perf_counter() - t0 < 2.0
