"""Regression tests from the review of the day's changes (9e95e1d..HEAD).

1. ``=MNVH_BACKTEST``: the new "a first row mixing text and numbers is data" rule
   (``_text_header``) read a header whose first cell is a label other than ``Date``
   (``日付``, ``Month``, ``Code``) above a date column, with numeric ticker codes typed
   as numbers (7203, 6758), as the first bar of prices: the table silently gained a
   bar of 7203 / 6758 yen.  Before the change any text made the row a header.
2. ``drop_date_column`` (``=MBB_RECOLOR``, ``=KELLY_SCENARIO``): a header of numeric
   ticker codes typed as numbers above a date column was kept as a row of returns of
   720,300 %, silently changing the Kelly weights and the scenario history (before the
   change the range was refused as text).
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from pyxl.xl.convert import drop_date_column
from pyxl.xl.udf_backtest import parse_price_table
from pyxl.xl.udf_kelly import KELLY_SCENARIO

T = 40
_RNG = np.random.default_rng(7)
PRICES = 2500.0 * np.exp(np.cumsum(_RNG.normal(0.0, 0.01, (T, 2)), axis=0))
RETURNS = _RNG.normal(0.008, 0.05, (T, 2))
DATES = [dt.datetime(2020, 1, 1) + dt.timedelta(days=k) for k in range(T)]
TEXT_DATES = [d.strftime("%Y-%m-%d") for d in DATES]


def _table(corner, codes, dates, values):
    return [[corner, *codes]] + [[d, *map(float, r)] for d, r in zip(dates, values, strict=True)]


# ---------------------------------------------------------------------------
# 1. MNVH_BACKTEST price table: a label corner over dates with numeric codes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("corner", ["日付", "Month", "Code", "Date"])
@pytest.mark.parametrize("dates", [DATES, TEXT_DATES], ids=["date cells", "text dates"])
def test_label_corner_over_dates_with_numeric_codes_is_a_header(corner, dates):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas' date-format inference
        prices, header = parse_price_table(_table(corner, [7203, 6758], dates, PRICES))
    assert prices.shape == (T, 2)  # no extra bar of 7203 / 6758
    np.testing.assert_array_equal(prices, PRICES)
    assert header == ["7203", "6758"]


def test_first_row_of_data_is_still_data():
    # the rule the change introduced: a text date then prices is a bar, not a header
    prices, header = parse_price_table(
        [[d, *map(float, r)] for d, r in zip(TEXT_DATES, PRICES, strict=True)])
    assert prices.shape == (T, 2) and header is None
    np.testing.assert_array_equal(prices, PRICES)


def test_text_labels_that_are_not_dates_are_not_a_header():
    # 't1', 't2' ... parse as dates of year 1 in dateutil: not a date column for the
    # corner rule, so the one-row-per-asset refusal still applies as before
    rows = [[f"t{k}", *map(float, r)] for k, r in enumerate(PRICES)]
    with pytest.raises(Exception, match="one row per asset"):
        parse_price_table(rows)


# ---------------------------------------------------------------------------
# 2. returns ranges with a date column: numeric codes over it are a header
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("corner", ["Date", "日付", None])
def test_drop_date_column_keeps_numeric_codes_as_header(corner):
    out = drop_date_column(_table(corner, [7203, 6758], DATES, RETURNS))
    assert out[0] == ["7203", "6758"]
    assert len(out) == T + 1


@pytest.mark.parametrize("corner", ["Date", "日付", None])
def test_kelly_scenario_numeric_codes_header_over_dates(corner):
    expected = KELLY_SCENARIO([["A", "B"], *RETURNS.tolist()])
    got = KELLY_SCENARIO(_table(corner, [7203, 6758], DATES, RETURNS))
    assert not isinstance(got, str), got
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)


def test_drop_date_column_leaves_a_first_row_of_returns_alone():
    # a blank date beside a row of returns is data: only whole numbers >= 1000 are codes
    rows = [[None, 0.01, -0.02]] + [[d, *map(float, r)] for d, r in zip(DATES, RETURNS,
                                                                       strict=True)]
    out = drop_date_column(rows)
    assert out[0] == [0.01, -0.02]


def test_scenarios_csv_date_column_of_yyyymmdd_numbers_is_labels(tmp_path):
    """`Date,A,B` over dates written as 20200101: the date column is not an asset
    (it was read as a third asset with returns of 2e7)."""
    from pyxl.commands.kelly import _read_csv_matrix
    from pyxl.commands.scenarios import read_numeric_csv

    rng = np.random.default_rng(np.random.SeedSequence(4))
    R = 0.01 * rng.standard_normal((40, 2))
    lines = ["Date,A,B"] + [f"{20200101 + i},{float(a)!r},{float(b)!r}"
                            for i, (a, b) in enumerate(R)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    arr, rows, cols = read_numeric_csv(tmp_path / "r.csv", "returns")
    assert cols == ["A", "B"] and rows[0] == "20200101"
    np.testing.assert_array_equal(arr, R)
    np.testing.assert_array_equal(_read_csv_matrix(str(tmp_path / "r.csv"), "returns")
                                  .to_numpy(), R)
