"""Review 19: the range and file readers changed in audits 12 and 13, read a second time.

The formula path (:mod:`pyxl.xl.convert`) and the CLI readers (:mod:`pyxl.numparse`,
``pyxl.commands``) are fed the same tables as Excel and Windows tools write them; each
must read them as the plain numbers or refuse them naming the row, as the other does.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import excel_range, excel_row

from pyxl.cli import main
from pyxl.commands.kelly import _read_csv_matrix
from pyxl.commands.mnvh import read_price_csv
from pyxl.commands.scenarios import read_numeric_csv
from pyxl.errors import InputError
from pyxl.numparse import to_numbers
from pyxl.xl.convert import text_number

_rng = np.random.default_rng(19)
P = 100.0 * np.exp(np.cumsum(_rng.normal(0.0, 0.01, (40, 3)), axis=0))
R = 0.005 + 0.04 * _rng.standard_normal((36, 3))
DATES = [d.date().isoformat() for d in pd.bdate_range("2024-01-02", periods=40)]
R_DATES = [d.date().isoformat() for d in pd.date_range("2021-01-31", periods=36, freq="ME")]
MU = np.array([0.05, 0.06, 0.08])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.06]])


def _csv(path, lines, end="\n"):
    path.write_bytes((end.join(lines) + end).encode("utf-8"))
    return str(path)


def _table(values, dates, head=("Date", "A", "B", "C")):
    return [",".join(head)] + [",".join([d, *(repr(float(x)) for x in r)])
                               for d, r in zip(dates, values, strict=True)]


# ----------------------------------------------------------------- Windows line ends
def test_windows_csv_with_excel_empty_right_columns_reads_as_plain(tmp_path):
    """Excel on Windows saves CSV with CRLF line ends.  Its empty right-hand columns
    (``,,``) and lines of bare commas at the end were dropped only from LF files: the
    same file with CRLF was refused ('row 2, column 5: is blank')."""
    lines = [ln + ",," for ln in _table(P, DATES)] + [",,,,,", ",,,,,"]
    for end in ("\n", "\r\n"):
        path = _csv(tmp_path / f"p{len(end)}.csv", lines, end)
        np.testing.assert_array_equal(read_price_csv(path).to_numpy(), P)
        np.testing.assert_array_equal(read_numeric_csv(path, "--returns")[0], P)
        np.testing.assert_array_equal(_read_csv_matrix(path, "returns").to_numpy(), P)


def test_windows_csv_footer_is_refused_as_an_lf_one(tmp_path):
    lines = [ln + "," for ln in _table(P, DATES)] + ["Source: Bloomberg,,,,"]
    for end in ("\n", "\r\n"):
        path = _csv(tmp_path / f"f{len(end)}.csv", lines, end)
        with pytest.raises(InputError, match=r"line 42 \('Source: Bloomberg'\)"):
            read_price_csv(path)


# ----------------------------------------------------------------- total rows, CLI side
_TOTAL = "enter its date, or delete the row (a total or average row would be read as one " \
         "more period)"


@pytest.mark.parametrize("newest_first", [False, True])
def test_cli_returns_with_an_average_row_under_the_dates_are_refused(tmp_path, newest_first):
    """=KELLY_SCENARIO and =MBB_RECOLOR refuse an 'Average' row under dated returns; the
    CLI readers of the same file read it as one more scenario (37 of 36), and newest-first
    dates were then not reversed for the bootstrap."""
    rows = list(zip(R_DATES, R, strict=True))
    if newest_first:
        rows = rows[::-1]
    lines = _table([r for _, r in rows], [d for d, _ in rows])
    lines.append(",".join(["Average", *(repr(float(x)) for x in R.mean(axis=0))]))
    path = _csv(tmp_path / "avg.csv", lines)
    want = f"avg.csv: row 38 has 'Average' in the date column; {_TOTAL}"
    with pytest.raises(InputError) as err:
        read_numeric_csv(path, "--returns", dated_rows=True)
    assert str(err.value) == f"--returns: {want}"
    with pytest.raises(InputError) as err:
        _read_csv_matrix(path, "returns", dated_rows=True)
    assert str(err.value) == f"returns: {want}"


def test_cli_commands_refuse_an_average_row_under_dated_returns(tmp_path, capsys):
    lines = _table(R, R_DATES) + [",".join(["Average", *(repr(float(x)) for x in R.mean(0))])]
    path = _csv(tmp_path / "avg.csv", lines)
    mu = _csv(tmp_path / "mu.csv", ["A,B,C", ",".join(map(repr, MU.tolist()))])
    cov = _csv(tmp_path / "cov.csv", _table(COV, ["A", "B", "C"], ("", "A", "B", "C")))
    want = f"avg.csv: row 38 has 'Average' in the date column; {_TOTAL}"
    for argv, name in ((["kelly", "scenario", path], "returns"),
                       (["scenarios", "--returns", path, "--mu", mu, "--cov", cov, "--paths",
                         "20", "--summary", str(tmp_path / "s.csv")], "--returns")):
        assert main(argv) == 2
        assert f"pyxl: {name}: {want}" in capsys.readouterr().err


def test_cli_total_row_with_a_blank_date_is_refused(tmp_path):
    lines = _table(R, R_DATES) + [",".join(["", *(repr(float(x)) for x in R.sum(axis=0))])]
    path = _csv(tmp_path / "tot.csv", lines)
    want = f"tot.csv: row 38 has a blank cell in the date column; {_TOTAL}"
    for read, name in ((read_numeric_csv, "--returns"), (_read_csv_matrix, "returns")):
        with pytest.raises(InputError) as err:
            read(path, name, dated_rows=True)
        assert str(err.value) == f"{name}: {want}"


def test_cli_row_labels_that_are_not_dates_are_still_read(tmp_path):
    """Scenario names (s1, s2, ...) and tickers are labels, not dates: nothing refused;
    nor is a covariance labelled by contract months with one more name (not returns)."""
    path = _csv(tmp_path / "lab.csv", _table(R, [f"s{i}" for i in range(len(R))],
                                             ("id", "A", "B", "C")))
    np.testing.assert_array_equal(read_numeric_csv(path, "--returns", dated_rows=True)[0], R)
    np.testing.assert_array_equal(_read_csv_matrix(path, "returns", True).to_numpy(), R)
    names = ["Mar 2025", "Jun 2025", "Front"]
    cov = _csv(tmp_path / "cov.csv", _table(COV, names, ("", *names)))
    np.testing.assert_array_equal(read_numeric_csv(cov, "--cov")[0], COV)
    np.testing.assert_array_equal(_read_csv_matrix(cov, "--cov").to_numpy(), COV)


# ----------------------------------------------------------------- headerless percents
def test_kelly_cli_keeps_the_first_row_of_headerless_percent_returns(tmp_path):
    """Cells formatted as percent saved as CSV without a header row: '0.52%' was not a
    number to the header test, so the first scenario became the column names."""
    bp = np.array([[52, -131, 7], [-48, 260, 13], [101, -9, -77], [5, 44, 310]])
    lines = [",".join(f"{v / 100:.2f}%" for v in row) for row in bp]
    want = np.array([[float(f"{v / 10000:.4f}") for v in row] for row in bp])
    path = _csv(tmp_path / "pct.csv", lines)
    frame = _read_csv_matrix(path, "returns")
    np.testing.assert_array_equal(frame.to_numpy(), want)
    np.testing.assert_array_equal(read_numeric_csv(path, "--returns")[0], want)


# ----------------------------------------------------------------- one number rule
@pytest.mark.parametrize("text, value", [("１２３．５", 123.5), ("\u22120.25", -0.25),
                                         ("５．２％", 0.052), ("１，２３４．５", 1234.5),
                                         ("－１．５Ｅ－３", -0.0015)])
def test_cli_reads_ime_digits_as_the_formulas_do(text, value):
    """Full-width digits and the minus sign U+2212 were numbers to the formulas and
    refused by the CLI readers (the two kept separate copies of the number rule)."""
    assert text_number(text) == value
    assert to_numbers(pd.Series(["0.5", text], dtype=object)).tolist() == [0.5, value]


@pytest.mark.parametrize("text", ["inf", "-Infinity", "1e999", "1_000"])
def test_cli_refuses_inf_text_naming_the_cell_as_the_formulas_do(tmp_path, text):
    """'inf' in a CSV was read as an infinite return or price (the formulas refuse it as
    text); the run then failed later with 'contains NaN or infinite values'."""
    rows = [[repr(float(x)) for x in r] for r in R]
    rows[4][1] = text
    path = _csv(tmp_path / "inf.csv", ["A,B,C"] + [",".join(r) for r in rows])
    with pytest.raises(InputError) as err:
        read_numeric_csv(path, "--returns")
    assert f"row 6, column 2: {text!r} is not a number" in str(err.value)
    with pytest.raises(InputError) as err:  # pandas has parsed the cell: 'inf' is shown
        _read_csv_matrix(path, "returns")
    assert "inf.csv: row 6, column 2: " in str(err.value)
    assert "is not a number" in str(err.value)


# ----------------------------------------------------------------- formulas
def test_headerless_text_dates_newest_first_are_put_oldest_first(xl):
    """Without a header row, a first cell holding a text date was taken for the header:
    newest-first rows were reversed below it, so the newest period stayed on top."""
    dates = [dt.datetime(2021, 1, 31) + dt.timedelta(days=31 * i) for i in range(len(R))]
    text = [(d.strftime("%Y-%m-%d"), *map(float, r)) for d, r in zip(dates, R, strict=True)]

    def recolor(rows):
        return xl("MBB_RECOLOR", tuple(rows), excel_row(MU), excel_range(COV), 4, 40, 0.94,
                  12, 3, None, 0, "path:1")

    want = recolor(text)
    assert recolor(text[::-1]) == want
    jp = [(f"{d.year}年{d.month}月{d.day}日", *r[1:]) for d, r in zip(dates, text, strict=True)]
    assert recolor(jp[::-1]) == want
    assert "#PyXL!" not in str(want)


# ----------------------------------------------------------------- day-first text dates
_DMY = [d.strftime("%d/%m/%Y") for d in pd.bdate_range("2024-01-02", periods=30)]


def test_day_first_text_dates_are_dates_to_the_total_row_check(xl, tmp_path):
    """30 business days from 2 January written dd/mm/yyyy (a UK CSV imported as text):
    the column was parsed in the format of its first date (02/01 as mm/dd), so
    '15/01/2024' was no date and the range was refused ('row 10 has '15/01/2024' in the
    date column; enter its date'), where it was read before the total-row check."""
    prices = [("Date", "A", "B", "C")] + [(d, *map(float, r))
                                         for d, r in zip(_DMY, P, strict=False)]
    plain = [("A", "B", "C")] + [tuple(map(float, r)) for r in P[:30]]
    assert xl("MNVH_BACKTEST", tuple(prices)) == xl("MNVH_BACKTEST", tuple(plain))
    returns = [("Date", "A", "B", "C")] + [(d, *map(float, r))
                                          for d, r in zip(_DMY, R, strict=False)]
    want = xl("KELLY_SCENARIO", excel_range(R[:30]))
    assert xl("KELLY_SCENARIO", tuple(returns)) == want
    path = _csv(tmp_path / "dmy.csv", _table(R[:30], _DMY))
    np.testing.assert_array_equal(read_numeric_csv(path, "--returns", dated_rows=True)[0],
                                  R[:30])
    np.testing.assert_array_equal(_read_csv_matrix(path, "returns", True).to_numpy(), R[:30])
    # and a total row under them is still refused
    with_avg = returns + [("Average", *map(float, R[:30].mean(axis=0)))]
    assert "row 31 has 'Average' in the date column" in str(xl("KELLY_SCENARIO",
                                                               tuple(with_avg)))
