"""CSV numbers are parsed to the nearest double on every supported pandas.

pandas before 3.0 parses CSV text with a routine that is often one unit in the
last place off; the CLI must read a CSV to the same bits as ``float()`` (and
Excel) do, so a CSV run and the formula on the same numbers agree exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl import numparse
from pyxl.commands.kelly import _read_csv_matrix
from pyxl.commands.mbp import load_csv_inputs
from pyxl.commands.mnvh import read_price_csv
from pyxl.commands.scenarios import read_numeric_csv
from pyxl.errors import InputError


@pytest.fixture
def values():
    rng = np.random.default_rng(np.random.SeedSequence(7))
    return rng.standard_normal((400, 3)) * 0.05


def _write(path, values, header=True):
    text = [",".join(repr(float(v)) for v in row) for row in values]
    if header:
        text.insert(0, "A,B,C")
    path.write_text("\n".join(text) + "\n")


def test_to_numbers_matches_float_on_the_old_parser_path(monkeypatch, values):
    # force the pandas < 3 branch on any pandas: text is re-parsed with float()
    monkeypatch.setattr(numparse, "EXACT_CSV", {"float_precision": "round_trip"})
    texts = [repr(float(v)) for v in values.ravel()] + ["n/a", "", " 0.25 "]
    got = numparse.to_numbers(pd.Series(texts, dtype=object, index=range(10, 10 + len(texts))))
    np.testing.assert_array_equal(got.to_numpy()[:-3], values.ravel())
    assert np.isnan(got.iloc[-3]) and np.isnan(got.iloc[-2]) and got.iloc[-1] == 0.25
    assert list(got.index) == list(range(10, 10 + len(texts)))


def test_cli_readers_read_a_csv_to_the_bits_float_gives(tmp_path, values):
    _write(tmp_path / "r.csv", values)
    arr, _, cols = read_numeric_csv(tmp_path / "r.csv", "returns")
    assert cols == ["A", "B", "C"]
    np.testing.assert_array_equal(arr, values)
    np.testing.assert_array_equal(_read_csv_matrix(str(tmp_path / "r.csv"), "returns")
                                  .to_numpy(), values)
    _write(tmp_path / "n.csv", values, header=False)
    np.testing.assert_array_equal(_read_csv_matrix(str(tmp_path / "n.csv"), "returns")
                                  .to_numpy(), values)
    prices = 100.0 * np.exp(np.cumsum(values, axis=0))
    _write(tmp_path / "p.csv", prices)
    np.testing.assert_array_equal(read_price_csv(tmp_path / "p.csv").to_numpy(), prices)


def test_mbp_reader_reads_exact_bits(tmp_path, values):
    n = 5
    assets = pd.DataFrame({"alpha": values[:n, 0], "bench_w": np.full(n, 0.2),
                           "segment": [0, 0, 1, 1, 1], "spec_var": values[:n, 1] ** 2,
                           "f1": values[:n, 2]})
    lines = [",".join(assets.columns)] + [",".join(repr(float(v)) for v in row)
                                          for row in assets.to_numpy()]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "f.csv").write_text(f"f1\n{float(values[7, 0]) ** 2!r}\n")
    frame, B, F, names = load_csv_inputs(str(tmp_path / "a.csv"), str(tmp_path / "f.csv"))
    assert names == ["f1"]
    np.testing.assert_array_equal(B[:, 0], values[:n, 2])
    np.testing.assert_array_equal(frame["alpha"].to_numpy(float), values[:n, 0])
    assert F[0, 0] == float(values[7, 0]) ** 2


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_from_japanese_excel_reads_in_every_encoding(tmp_path, values, encoding):
    """Excel's plain "CSV" on Japanese Windows writes cp932 (Shift-JIS), "CSV UTF-8"
    writes a BOM: the header 日付,トヨタ,... and the numbers read the same in each."""
    prices = 1000.0 * np.exp(np.cumsum(values, axis=0))
    lines = ["日付,トヨタ,ソニー,任天堂"] + [
        f"{d.date()},{','.join(repr(float(v)) for v in row)}"
        for d, row in zip(pd.date_range("2020-01-01", periods=len(prices)), prices,
                          strict=True)]
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    frame = read_price_csv(path)
    assert list(frame.columns) == ["トヨタ", "ソニー", "任天堂"]
    np.testing.assert_array_equal(frame.to_numpy(), prices)
    ret = tmp_path / "r.csv"
    ret.write_text("日付,トヨタ,ソニー,任天堂\n" + "\n".join(
        f"2020-{k + 1:02d},{','.join(repr(float(v)) for v in row)}"
        for k, row in enumerate(values[:12])) + "\n", encoding=encoding)
    arr, _, cols = read_numeric_csv(ret, "returns")
    assert cols == ["トヨタ", "ソニー", "任天堂"]
    np.testing.assert_array_equal(arr, values[:12])
    np.testing.assert_array_equal(_read_csv_matrix(str(ret), "returns").to_numpy(), values[:12])


def test_an_undecodable_csv_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"Date,A\n2020-01-01,\x81\x8d\x8f\n")  # no encoding decodes this
    with pytest.raises(InputError) as err:
        read_price_csv(path)
    assert err.value.arg == "prices" and "p.csv" in str(err.value)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("header", [[], ["r"]])
def test_a_blank_line_inside_a_one_column_file_is_refused(tmp_path, eol, header):
    """Excel saves the empty cell of a one-column range as an empty line, which
    ``pd.read_csv`` skips: a missing return vanished and every later one moved up a row
    (6 scenarios read from 7 lines).  Every CLI reader refuses it, naming the line; blank
    lines before and after the values are still allowed."""
    values = ["0.01", "-0.02", "", "0.03", "0.015", "-0.01"]
    path = tmp_path / "one.csv"
    path.write_bytes(eol.join(header + values).encode() + eol.encode())
    line = len(header) + 3
    readers = (lambda: _read_csv_matrix(str(path), "returns"),
               lambda: read_numeric_csv(path, "history"),
               lambda: read_price_csv(path, "--benchmark"))
    for read in readers:
        with pytest.raises(InputError) as err:
            read()
        assert f"line {line} is blank" in str(err.value), err.value
        assert "fill in the missing value" in str(err.value)
    # blank lines only before and after the values: read as before, all five values kept
    path.write_bytes((eol * 2 + eol.join(header + [v for v in values if v]) + eol * 3).encode())
    frame = _read_csv_matrix(str(path), "returns")
    np.testing.assert_array_equal(frame.to_numpy().ravel(),
                                  [0.01, -0.02, 0.03, 0.015, -0.01])


def test_a_blank_line_in_a_file_of_several_columns_is_not_the_one_column_rule(tmp_path):
    """Excel writes an empty row of several columns as ``,,`` (read, then refused as
    missing values by the readers); the one-column rule does not touch such files."""
    path = tmp_path / "two.csv"
    path.write_text("a,b\n0.01,0.02\n,\n0.03,0.01\n")
    with pytest.raises(InputError) as err:
        _read_csv_matrix(str(path), "returns")
    assert "is blank, between values" not in str(err.value)


def test_a_title_line_over_a_table_is_not_taken_for_a_one_column_file(tmp_path):
    """The first line alone has one cell; the table under it has three.  The blank line
    under the title is not a missing value and is not refused as one."""
    path = tmp_path / "t.csv"
    path.write_text("Prices\n\nDate,A,B\n2020-01-02,1,2\n2020-01-03,1.5,2.5\n")
    text = numparse.csv_source(path, "prices")[0]
    assert text.startswith("Prices")
