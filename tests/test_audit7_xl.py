"""=MNVH_BACKTEST on a table headed "Date" and numeric ticker codes over text dates.

Tokyo codes (7203, 6758) are numbers in Excel; dates imported from a CSV often stay
text.  Such a table was refused as "one row per asset", with a transpose hint that
is wrong for it.  The result must equal the same prices with real dates.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pyxl.xl import winstub


def _metrics(rows):
    out = winstub.call_formula("MNVH_BACKTEST", tuple(tuple(r) for r in rows))
    assert not str(out[0][0]).startswith("#PyXL!"), out
    return {r[0]: r[1] for r in out}


@pytest.mark.parametrize("newest_first", [False, True])
def test_text_dates_under_a_date_header_with_numeric_codes(newest_first):
    rng = np.random.default_rng(np.random.SeedSequence(11))
    P = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((60, 3)), axis=0))
    dates = [dt.datetime(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    real = [["Date", "7203", "6758", "9984"]] + [[d, *p] for d, p in zip(dates, P, strict=True)]
    body = [[d.strftime("%Y-%m-%d"), *p] for d, p in zip(dates, P, strict=True)]
    if newest_first:
        body = body[::-1]
    text = [["Date", 7203, 6758, 9984]] + body
    got, want = _metrics(text), _metrics(real)
    assert got["Periods"] == 59
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_one_row_per_asset_is_still_refused():
    rows = [["AAA", 1.0, 2.0, 3.0], ["BBB", 2.0, 3.0, 4.0], ["CCC", 3.0, 4.0, 5.0]]
    out = winstub.call_formula("MNVH_BACKTEST", tuple(tuple(r) for r in rows))
    assert out[0][0].startswith("#PyXL! prices: has one row per asset (AAA, BBB, ...)")


def _returns(T=48, N=3, seed=5):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return 0.01 + 0.04 * rng.standard_normal((T, N))


@pytest.mark.parametrize("dates", ["datetime", "text"])
def test_mbb_recolor_takes_a_date_column_like_pyxl_scenarios(dates):
    R = _returns()
    stamps = [dt.datetime(2020, 1, 31) + dt.timedelta(days=31 * i) for i in range(len(R))]
    if dates == "text":
        stamps = [d.strftime("%Y-%m") for d in stamps]
    plain = (("A", "B", "C"),) + tuple(tuple(r) for r in R)
    dated = (("Date", "A", "B", "C"),) + tuple((d, *r) for d, r in zip(stamps, R, strict=True))
    mu = ((0.06, 0.05, 0.04),)
    cov = tuple(tuple(r) for r in (np.diag([0.04, 0.03, 0.02]) + 0.005))
    args = (mu, cov, 3, 200, 0.94, 12, 1)
    want = winstub.call_formula("MBB_RECOLOR", plain, *args)
    got = winstub.call_formula("MBB_RECOLOR", dated, *args)
    assert not str(want[0][0]).startswith("#PyXL!"), want
    assert got == want


def test_kelly_scenario_takes_a_date_column():
    R = _returns(seed=9) * 0.5
    stamps = [dt.datetime(2020, 1, 31) + dt.timedelta(days=31 * i) for i in range(len(R))]
    plain = tuple(tuple(r) for r in R)
    dated = tuple((d, *r) for d, r in zip(stamps, R, strict=True))
    want = winstub.call_formula("KELLY_SCENARIO", plain, 0.0, 2.0)
    assert not str(want[0][0]).startswith("#PyXL!"), want
    assert winstub.call_formula("KELLY_SCENARIO", dated, 0.0, 2.0) == want


def test_a_numeric_first_column_with_one_text_cell_is_still_data():
    R = _returns(T=12).tolist()
    R[4][0] = "n/a"
    out = winstub.call_formula("KELLY_SCENARIO", tuple(tuple(r) for r in R))
    assert str(out[0][0]).startswith("#PyXL! returns:") and "n/a" in out[0][0]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pyxl.errors import InputError  # noqa: E402
from pyxl.xl import convert  # noqa: E402

_cell = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6),
                  st.floats(-1e6, 1e6).map(np.float64), st.integers(-99, 99).map(np.int64))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6).flatmap(
    lambda n: st.lists(st.lists(_cell, min_size=n, max_size=n), min_size=1, max_size=6)))
def test_fast_conversion_equals_the_cell_by_cell_one(rows):
    """A range of numbers converts in one numpy call to exactly what float() gives."""
    got = convert.to_matrix(rows, "x")
    want = np.array([[float(c) for c in r] for r in rows])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad, says", [
    (None, "blank cell at row 3, column 2"), (True, "TRUE at row 3, column 2"),
    (float("nan"), "NaN or error value at row 3, column 2"),
    (float("inf"), "infinite value at row 3, column 2"), ("abc", "text 'abc' at row 3"),
    (10**400, "not a number at row 3, column 2"), ("#N/A", "error value #N/A at row 3")])
def test_a_bad_cell_in_a_big_range_is_still_named(bad, says):
    rows = [[1.0, 2.0, 3.0] for _ in range(5)]
    rows[2][1] = bad
    with pytest.raises(InputError) as err:
        convert.to_matrix(rows, "prices")
    assert says in str(err.value), str(err.value)


def test_text_numbers_still_convert():
    np.testing.assert_array_equal(convert.to_matrix([["1,000.5", 2]], "x"), [[1000.5, 2.0]])


SPILL = -2146828288 + 2045  # COM code of #SPILL!, which xlwings passes on as an int
CALC = -2146828288 + 2050   # #CALC!


def test_newer_error_cells_are_refused_not_read_as_numbers():
    """xlwings' err_to_str maps only the seven classic errors to text; #SPILL! and the
    newer ones arrive as their COM code, which read as the number -2146826243."""
    out = winstub.call_formula("KELLY_LEVERAGE", 0.08, 0.2, 0.01, SPILL)[0][0]
    assert out.startswith("#PyXL! fraction: error value #SPILL! at the cell"), out
    P = [[100.0 + i, 50.0 + i] for i in range(30)]
    P[5][1] = CALC
    out = winstub.call_formula("MNVH_BACKTEST", tuple(tuple(r) for r in P))[0][0]
    assert out.startswith("#PyXL! prices: error value #ERROR 2050 at row 6, column 2"), out
    # the same number as a double (as Excel sends numbers) is a number
    assert convert.to_matrix([[float(SPILL)]], "x")[0, 0] == float(SPILL)
