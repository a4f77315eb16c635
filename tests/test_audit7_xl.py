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
