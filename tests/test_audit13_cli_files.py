"""Audit 13: the CLI on files as real tools write them (Excel, Bloomberg, Yahoo, Refinitiv).

Each export layout is checked against the same numbers in a plain CSV (or against the
numbers the file was written from): read the same, or refused in one line naming the file,
the row or column and the fix; never read as something else.  A refusal or Ctrl-C leaves
no half-written output behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.kelly import _read_csv_matrix
from pyxl.commands.mnvh import read_price_csv
from pyxl.commands.scenarios import load_npz_paths, read_numeric_csv
from pyxl.errors import InputError

TICKERS = ["AAA", "BBB", "CCC"]


@pytest.fixture()
def prices():
    """60 business days x 3 tickers, each price a 17-digit text and the float it reads as."""
    rng = np.random.default_rng(13)
    P = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (60, 3)), axis=0))
    dates = [d.date().isoformat() for d in pd.bdate_range("2024-01-02", periods=60)]
    text = [[repr(float(x)) for x in row] for row in P]
    return dates, text, np.array([[float(x) for x in row] for row in text])


def _lines(dates, text, head=("Date", *TICKERS)):
    return [",".join(head)] + [",".join([d, *row]) for d, row in zip(dates, text, strict=True)]


def _write(path, lines, end="\n", encoding="utf-8"):
    path.write_bytes((end.join(lines) + end).encode(encoding))
    return path


# ----------------------------------------------------------------- layouts read as plain
def _layout(kind, dates, text):
    """The file lines of one export layout of the same prices."""
    plain = _lines(dates, text)
    if kind == "excel trailing empty columns":  # a formatted range wider than the data
        return [ln + ",," for ln in plain] + [",,,,,", ",,,,,"]
    if kind == "blank comma lines at the end":
        return plain + [",,,", ",,,", ""]
    if kind == "thousands separators, quoted":  # a cell formatted #,##0.00 saved as CSV
        return [plain[0]] + [",".join([d] + [f'"{float(x) * 100:,.10f}"' for x in row])
                             for d, row in zip(dates, text, strict=True)]
    if kind == "bloomberg ticker + field rows":
        return (["Ticker," + ",".join(f"{t} US Equity" for t in TICKERS),
                 "Date,PX_LAST,PX_LAST,PX_LAST"] + plain[1:])
    if kind == "yfinance price/ticker/date rows":
        return ["Price,Close,Close,Close", "Ticker," + ",".join(TICKERS), "Date,,,"] + plain[1:]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["excel trailing empty columns", "blank comma lines at the end",
                                  "thousands separators, quoted", "bloomberg ticker + field rows",
                                  "yfinance price/ticker/date rows"])
def test_price_exports_read_as_the_plain_numbers(tmp_path, prices, kind):
    dates, text, P = prices
    frame = read_price_csv(_write(tmp_path / "p.csv", _layout(kind, dates, text)))
    want = P
    if kind.startswith("thousands"):  # the text written, read by float() without commas
        want = np.array([[float(f"{float(x) * 100:.10f}") for x in row] for row in text])
    np.testing.assert_array_equal(frame.to_numpy(), want)
    assert [str(c).split(" ")[0] for c in frame.columns] == TICKERS
    assert list(frame.index.strftime("%Y-%m-%d")) == dates


@pytest.mark.parametrize("encoding, end", [("utf-16", "\r\n"), ("utf-8", "\n")])
def test_tab_separated_and_excel_unicode_text_read_as_plain(tmp_path, prices, encoding, end):
    """Excel's "Unicode Text" is UTF-16 with a BOM, tab-separated, CRLF."""
    dates, text, P = prices
    lines = [ln.replace(",", "\t") for ln in _lines(dates, text)]
    path = _write(tmp_path / "p.txt", lines, end, encoding)
    frame = read_price_csv(path)
    np.testing.assert_array_equal(frame.to_numpy(), P)
    assert list(frame.columns) == TICKERS
    R, rows, cols = read_numeric_csv(path, "--returns")
    np.testing.assert_array_equal(R, P)
    assert cols == TICKERS and rows == dates
    np.testing.assert_array_equal(_read_csv_matrix(str(path), "returns").to_numpy(), P)


def test_backtest_on_a_bloomberg_export_equals_the_plain_csv(tmp_path, prices, capsys):
    dates, text, _ = prices
    plain = _write(tmp_path / "plain.csv", _lines(dates, text))
    bbg = _write(tmp_path / "bbg.csv", _layout("bloomberg ticker + field rows", dates, text),
                 "\r\n")
    bench = [[row[0]] for row in text]
    _write(tmp_path / "b_plain.csv", _lines(dates, bench, ("Date", "SPX")))
    _write(tmp_path / "b_bbg.csv", ["Ticker,SPX Index", "Date,PX_LAST"]
           + _lines(dates, bench)[1:] + ["", ""])
    for name, p, b in (("a", plain, "b_plain.csv"), ("b", bbg, "b_bbg.csv")):
        assert main(["backtest", str(p), "--benchmark", str(tmp_path / b), "--hedge",
                     "--no-xlsx", "-o", str(tmp_path / name)]) == 0
    capsys.readouterr()
    a = pd.read_csv(tmp_path / "a" / "mnvh" / "metrics.csv", index_col=0)
    b = pd.read_csv(tmp_path / "b" / "mnvh" / "metrics.csv", index_col=0)
    pd.testing.assert_frame_equal(a.drop(index=[i for i in a.index if i.startswith("check")]),
                                  b.drop(index=[i for i in b.index if i.startswith("check")]))


def test_start_after_a_late_listing_runs_on_the_listed_rows(tmp_path, prices, capsys):
    """A ticker listed later has blank cells at the top; --start past them runs (before,
    the blanks were refused before --start was applied, so the fix offered did not work)."""
    dates, text, P = prices
    late = [(["", *row[1:]] if k < 10 else row) for k, row in enumerate(text)]
    path = _write(tmp_path / "late.csv", _lines(dates, late))
    with pytest.raises(InputError) as err:
        read_price_csv(path)
    assert f"column 'AAA', row {dates[0]}: blank" in str(err.value)
    assert f"--start {dates[10]}" in str(err.value)
    frame = read_price_csv(path, start=pd.Timestamp(dates[10]))
    np.testing.assert_array_equal(frame.to_numpy(), P[10:])
    assert main(["backtest", str(path), "--start", dates[10], "--no-xlsx",
                 "-o", str(tmp_path / "o")]) == 0
    capsys.readouterr()


# ----------------------------------------------------------------- refused in one line
def _refused(capsys, argv, *expect):
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("pyxl: "), err
    for e in expect:
        assert e in lines[0], lines[0]
    return lines[0]


def test_semicolon_decimal_comma_csv_is_refused_by_every_reader(tmp_path, prices, capsys):
    """European Excel writes ``Date;AAA;...`` and ``100,125``: before, the backtest read it
    as one asset (the decimal commas split the cells) and said "has 1 asset"."""
    dates, text, _ = prices
    lines = ["Date;" + ";".join(TICKERS)] + [
        ";".join([d] + [f"{float(x):.4f}".replace(".", ",") for x in row])
        for d, row in zip(dates, text, strict=True)]
    eu = _write(tmp_path / "eu.csv", lines)
    fix = "commas between cells and points as decimals"
    _refused(capsys, ["backtest", str(eu), "-o", str(tmp_path / "o")],
             "prices: eu.csv is separated by semicolons", fix)
    _refused(capsys, ["kelly", "scenario", str(eu)], "returns: eu.csv", fix)
    _refused(capsys, ["scenarios", "--returns", str(eu), "--mu", str(eu), "--cov", str(eu)],
             "--returns: eu.csv", fix)
    assert not (tmp_path / "o").exists()


def test_footer_line_is_refused_naming_its_line(tmp_path, prices, capsys):
    dates, text, _ = prices
    path = _write(tmp_path / "p.csv", _lines(dates, text) + ["", "Source: Bloomberg", ""])
    _refused(capsys, ["backtest", str(path), "-o", str(tmp_path / "o")],
             "prices: p.csv: line 63 ('Source: Bloomberg') below the data holds no numbers",
             "delete it")


@pytest.mark.parametrize("missing", ["#N/A N/A", "N/A", "null", "-", ""])
def test_missing_value_markers_are_named(tmp_path, prices, capsys, missing):
    """A holiday for one ticker only: refused naming the ticker and the date."""
    dates, text, _ = prices
    holed = [([*row[:1], missing, *row[2:]] if k == 20 else row) for k, row in enumerate(text)]
    path = _write(tmp_path / "p.csv", _lines(dates, holed))
    _refused(capsys, ["backtest", str(path), "-o", str(tmp_path / "o")],
             f"p.csv: column 'BBB', row {dates[20]}")
    assert not (tmp_path / "o").exists()


def test_kelly_scenario_missing_marker_in_the_first_column_is_not_taken_for_labels(
        tmp_path, capsys):
    """Before, one '-' (a missing value in Refinitiv / FactSet exports) in the first
    asset's column made that column the row labels: the weights of the two other assets
    were printed, exit 0, the first asset gone without a word."""
    rng = np.random.default_rng(3)
    R = rng.normal(0.01, 0.05, (40, 3))
    rows = [[repr(float(x)) for x in r] for r in R]
    rows[5][0] = "-"
    path = _write(tmp_path / "r.csv", [",".join(TICKERS)] + [",".join(r) for r in rows])
    _refused(capsys, ["kelly", "scenario", str(path)],
             "returns: r.csv: row 7, column 1: '-' is not a number")


def test_kelly_scenario_on_excel_unicode_text_equals_the_plain_csv(tmp_path, capsys):
    """Before, a UTF-16 file gave 0 assets and 'mean log growth 0.000000', exit 0."""
    rng = np.random.default_rng(4)
    R = rng.normal(0.01, 0.05, (40, 3))
    lines = [",".join(TICKERS)] + [",".join(repr(float(x)) for x in r) for r in R]
    _write(tmp_path / "plain.csv", lines)
    _write(tmp_path / "u16.txt", [ln.replace(",", "\t") for ln in lines], "\r\n", "utf-16")
    assert main(["kelly", "scenario", str(tmp_path / "plain.csv")]) == 0
    plain = capsys.readouterr().out
    assert main(["kelly", "scenario", str(tmp_path / "u16.txt")]) == 0
    assert capsys.readouterr().out == plain
    assert all(t in plain for t in TICKERS)


def test_percent_text_returns_read_as_decimals(tmp_path):
    """Excel saves a cell formatted 0.00% as '5.20%' in a CSV: the number is 0.052."""
    rng = np.random.default_rng(5)
    pct = np.round(rng.normal(0.5, 4.0, (30, 3)), 2)
    lines = ["Date," + ",".join(TICKERS)] + [
        f"2020-{1 + k // 28:02d}-{1 + k % 28:02d}," + ",".join(f"{x:.2f}%" for x in r)
        for k, r in enumerate(pct)]
    path = _write(tmp_path / "r.csv", lines)
    want = np.array([[float(f"{x:.2f}e-2") for x in r] for r in pct])
    R, _, cols = read_numeric_csv(path, "--returns")
    np.testing.assert_array_equal(R, want)
    assert cols == TICKERS
    np.testing.assert_array_equal(_read_csv_matrix(str(path), "returns").to_numpy(), want)


def test_percents_typed_as_numbers_get_a_note(tmp_path, capsys):
    """Daily returns in percent (0.8 for 0.8 %) stay above -100 %, so no engine refuses
    them; the CLI says they look like percents.  Decimal returns get no note."""
    rng = np.random.default_rng(6)
    R = rng.normal(0.0, 0.012, (250, 3))
    for scale, noted in ((100.0, True), (1.0, False)):
        path = _write(tmp_path / f"r{int(scale)}.csv", [",".join(TICKERS)] + [
            ",".join(repr(float(x)) for x in r * scale) for r in R])
        main(["kelly", "scenario", str(path)])
        err = capsys.readouterr().err
        assert ("looks" in err or "percents" in err) is noted, err


def test_repeated_dates_and_tickers_are_refused(tmp_path, prices, capsys):
    """A date on two rows was one more bar (and in a --benchmark file ended in 'unexpected
    ValueError ... this is a bug', exit 1); a ticker heading two columns was read as
    'AAA' and 'AAA.1', the same asset twice."""
    dates, text, _ = prices
    twice = _lines(dates[:21], text[:21]) + _lines(dates[20:], text[20:])[1:]
    _write(tmp_path / "dup.csv", twice)
    _write(tmp_path / "plain.csv", _lines(dates, text))
    _refused(capsys, ["backtest", str(tmp_path / "dup.csv"), "-o", str(tmp_path / "o")],
             f"prices: dup.csv: date {dates[20]} is on rows 22 and 23", "remove the repeated")
    bench = [[r[0]] for r in text]
    _write(tmp_path / "b.csv", _lines(dates[:21], bench[:21], ("Date", "SPX"))
           + _lines(dates[20:], bench[20:])[1:])
    _refused(capsys, ["backtest", str(tmp_path / "plain.csv"), "--benchmark",
                      str(tmp_path / "b.csv"), "-o", str(tmp_path / "o")],
             f"--benchmark: b.csv: date {dates[20]} is on rows 22 and 23")
    _write(tmp_path / "cols.csv", _lines(dates, text, ("Date", "AAA", "BBB", "AAA")))
    _refused(capsys, ["backtest", str(tmp_path / "cols.csv"), "-o", str(tmp_path / "o")],
             "ticker 'AAA' heads columns 2 and 4")
    assert not (tmp_path / "o").exists()


def test_single_ticker_ohlcv_download_is_refused(tmp_path, prices, capsys):
    """Yahoo's one-ticker CSV (Open, High, Low, Close, Adj Close, Volume) was run as a
    basket of six 'assets', Volume among them."""
    dates, text, _ = prices
    rows = [[r[0], r[0], r[0], r[0], r[0], "1000000"] for r in text]
    path = _write(tmp_path / "SPY.csv", _lines(dates, rows, ("Date", "Open", "High", "Low",
                                                             "Close", "Adj Close", "Volume")))
    _refused(capsys, ["backtest", str(path), "-o", str(tmp_path / "o")],
             "columns Open, High, Low, Close, Adj Close, Volume are the fields of one ticker")


def test_several_fields_per_ticker_are_refused(tmp_path, prices, capsys):
    dates, text, _ = prices
    lines = ["Price,Close,Close,High,High", "Ticker,AAA,BBB,AAA,BBB", "Date,,,,"] + [
        ",".join([d, *r[:2], *r[:2]]) for d, r in zip(dates, text, strict=True)]
    _refused(capsys, ["backtest", str(_write(tmp_path / "yf.csv", lines)),
                      "-o", str(tmp_path / "o")], "several fields per ticker (Close, High)")


@pytest.mark.parametrize("argv", [["backtest", "{f}"], ["kelly", "scenario", "{f}"],
                                  ["scenarios", "--returns", "{f}", "--mu", "{f}", "--cov",
                                   "{f}"]])
def test_xlsx_given_for_a_csv_is_refused_with_the_fix(tmp_path, prices, capsys, argv):
    dates, text, P = prices
    pd.DataFrame(P, index=pd.to_datetime(dates), columns=TICKERS).to_excel(tmp_path / "p.xlsx")
    argv = [a.format(f=tmp_path / "p.xlsx") for a in argv] + (
        ["-o", str(tmp_path / "o")] if argv[0] == "backtest" else [])
    _refused(capsys, argv, "p.xlsx is an Excel workbook", "save the sheet as CSV")


# ----------------------------------------------------------------- nothing half-written
def test_backtest_refused_or_interrupted_leaves_the_output_folder_as_it_was(
        tmp_path, prices, capsys, monkeypatch):
    dates, text, _ = prices
    good = _write(tmp_path / "p.csv", _lines(dates, text))
    out = tmp_path / "out"
    assert main(["backtest", str(good), "--no-xlsx", "-o", str(out)]) == 0
    before = {f.name: f.read_bytes() for f in (out / "mnvh").iterdir()}
    capsys.readouterr()

    import pyxl.reports.mnvh as rep

    def half(prices, config, outdir, **kw):
        (outdir / "metrics.csv").write_text("metric,half written\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(rep, "write_backtest_report", half)
    assert main(["backtest", str(good), "--no-xlsx", "-o", str(out)]) == 130
    assert {f.name: f.read_bytes() for f in (out / "mnvh").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["mnvh"]  # no staging folder left
    # a refused run into a new folder makes no folder at all
    monkeypatch.undo()
    one = _write(tmp_path / "one.csv", _lines(dates, [r[:1] for r in text], ("Date", "AAA")))
    assert main(["backtest", str(one), "-o", str(tmp_path / "new" / "deep")]) == 2
    assert not (tmp_path / "new").exists()


def test_scenarios_interrupted_leaves_no_half_written_npz(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(7)
    R = rng.normal(0.005, 0.04, (60, 2))
    pd.DataFrame(R, columns=["A", "B"]).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame({"mu": [0.05, 0.06]}).to_csv(tmp_path / "mu.csv", index=False)
    pd.DataFrame([[0.04, 0.01], [0.01, 0.05]]).to_csv(tmp_path / "c.csv", index=False,
                                                      header=False)
    argv = ["scenarios", "--returns", str(tmp_path / "r.csv"), "--mu", str(tmp_path / "mu.csv"),
            "--cov", str(tmp_path / "c.csv"), "--paths", "50", "--npz",
            str(tmp_path / "x.npz"), "--summary", str(tmp_path / "s.csv")]
    assert main(argv) == 0
    first = load_npz_paths(tmp_path / "x.npz")
    capsys.readouterr()

    import pyxl.core.scenarios as core

    real = core.generate

    def interrupted(*a, sink=None, **kw):
        sink(0, np.zeros((3, 60, 2)))
        raise KeyboardInterrupt

    monkeypatch.setattr(core, "generate", interrupted)
    assert main(argv[:-4] + ["--npz", str(tmp_path / "y.npz"), "--summary",
                             str(tmp_path / "s2.csv")]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "mu.csv", "r.csv",
                                                           "s.csv", "x.npz"]
    monkeypatch.setattr(core, "generate", real)
    np.testing.assert_array_equal(load_npz_paths(tmp_path / "x.npz"), first)
