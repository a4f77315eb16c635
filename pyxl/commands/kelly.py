"""``pyxl kelly ...``: the Kelly toolkit on the command line (same core as the formulas).

Sub-commands: ``leverage``, ``growth``, ``horizon``, ``table``, ``weights``,
``scenario``, ``drift`` and ``report``.  Units as in the formulas: annual
decimals, arithmetic ``mu``; ``scenario`` works per period of its CSV rows.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.commands.mnvh import file_errors
from pyxl.core import kelly as K
from pyxl.errors import InputError
from pyxl.numparse import (
    CSV_OUT,
    DATE_HEADERS,
    check_label_dates,
    is_code_row,
    is_date_word,
    read_csv,
    text_number,
    to_numbers,
)


def _leverage(args: argparse.Namespace) -> int:
    n = K.kelly_leverage(args.mu, args.sigma, args.rf, args.fraction)
    print(f"Kelly leverage {n:.4f}  (fraction {args.fraction:g} of (mu-rf)/sigma^2)")
    return 0


def _growth(args: argparse.Namespace) -> int:
    print(f"{'n':>8} {'approx':>10} {'exact':>10}   ({args.model}, {args.periods}/yr)")
    for n in args.n:
        a = K.growth_approx(n, args.mu, args.sigma, args.rf)
        e = K.growth_exact(n, args.mu, args.sigma, args.rf, args.model, args.periods)
        print(f"{n:8.3f} {a:10.4%} {e:10.4%}" if math.isfinite(e) else
              f"{n:8.3f} {a:10.4%} {'ruin':>10}")
    return 0


def _horizon(args: argparse.Namespace) -> int:
    years = K.horizon_years(args.mu, args.sigma, args.rf, args.confidence, args.vs_leverage,
                            args.leverage)
    n = K.kelly_leverage(args.mu, args.sigma, args.rf) if args.leverage is None else args.leverage
    print(f"{years:,.1f} years to be {args.confidence:.0%} sure leverage {n:.3f} beats "
          f"leverage {args.vs_leverage:g}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from pyxl.reports.kelly import fraction_frame

    frame = fraction_frame(args.mu, args.sigma, args.rf, args.drawdown)
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _is_number(label: object) -> bool:
    """A cell of a first row of data rather than a header: a number as ``float`` reads it,
    or as the readers read it (``5.2%``, ``1,234.5``, full-width digits: :func:`text_number`);
    a headerless file of percent cells lost its first row to the header otherwise."""
    try:
        float(str(label))
    except ValueError:
        return not math.isnan(text_number(str(label)))
    return True


def _read_csv_matrix(path: str, name: str, dated_rows: bool = False) -> pd.DataFrame:
    """A numeric table from CSV: an optional header row of names and an optional first
    column of labels (text); a file without a header row keeps its first row.  Cells
    written ``1,234.5`` or ``5.2%`` read as Excel shows them; a blank or text cell is
    refused naming its row and column.  With ``dated_rows`` (scenario returns), a row
    without a date under dated rows (a total or ``Average`` row) is refused, as
    ``=KELLY_SCENARIO`` refuses it."""
    try:
        frame = read_csv(path, name=name, index_col=None, keep_default_na=False)
        head = read_csv(path, name=name, header=None, nrows=1, dtype=str,
                        keep_default_na=False).iloc[0]
    except InputError:
        raise
    except (OSError, ValueError) as err:
        raise InputError(name, f"cannot read {path!r} ({err})", "give a CSV file") from None
    header = 1
    if all(_is_number(c) for c in head) and not is_code_row(head):
        # no header row: the first row holds numbers, not names (a row of whole numbers
        # >= 1000 is numeric ticker codes, 7203, 6758: a header)
        frame = read_csv(path, name=name, header=None, index_col=None,
                         keep_default_na=False)
        header = 0
    first = frame.columns[0]
    # a corner cell that is blank, a date word or other text (銘柄, Code), not a number
    corner = (str(head.iloc[0]).strip().lower() in DATE_HEADERS
              or not _is_number(head.iloc[0]))
    text = to_numbers(frame[first]).isna()
    labelled = frame.shape[1] > 1 and (
        bool(text.mean() > 0.5) or is_date_word(head.iloc[0]) or not str(head.iloc[0]).strip()
        and bool(text.any()) or corner and is_code_row(frame[first]))
    if labelled:
        # a first column of names, dates or numeric codes (7203 under 銘柄, 20240104 under
        # 日付: no return or covariance is a whole number >= 1,000) under a text corner; a
        # column of returns with a stray '#N/A' is data (its cell is refused below), not
        # labels that would drop an asset without a word
        frame = frame.set_index(first)
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(name, f"{Path(path).name} has no numbers (a label column only)",
                         "give one column of numbers per asset")
    out = frame.apply(to_numbers)
    bad = out.isna().to_numpy()
    if bad.any():
        r, c = (int(v[0]) for v in np.nonzero(bad))
        cell = frame.iloc[r, c]
        what = "is blank" if pd.isna(cell) or not str(cell).strip() else \
            f"{str(cell)[:20]!r} is not a number"
        raise InputError(name, f"{Path(path).name}: row {r + 1 + header}, column "
                         f"{c + 1 + labelled}: {what}",
                         "numbers only (a header row and a label column are ok)")
    if labelled and dated_rows:  # a total row under dated rows, as =KELLY_SCENARIO refuses it
        check_label_dates(list(frame.index), name, Path(path).name, 1 + header,
                          numbers_are_dates=bool(header) and is_date_word(head.iloc[0]))
    return out.astype(float)


def _weights(args: argparse.Namespace) -> int:
    cov = _read_csv_matrix(args.cov, "--cov")
    mu = np.asarray(args.mu, dtype=float)
    w = K.kelly_weights(mu, cov.to_numpy(), args.rf, args.fraction, args.max_leverage,
                        args.long_only, None if args.max_weight is None
                        else np.full(mu.size, args.max_weight), args.budget)
    names = list(cov.columns) if len(cov.columns) == mu.size else [str(i) for i in range(mu.size)]
    for nm, x in zip(names, w, strict=True):
        print(f"{nm:>12} {x:10.4f}")
    print(f"{'gross':>12} {np.abs(w).sum():10.4f}")
    return 0


def _scenario(args: argparse.Namespace) -> int:
    from pyxl.commands.scenarios import percent_note

    frame = _read_csv_matrix(args.returns, "returns", dated_rows=True)
    percent_note(frame.to_numpy(), args.returns, "returns")
    n = frame.shape[1]
    w = K.kelly_scenario(frame.to_numpy(), args.rf, args.max_leverage, args.long_only,
                         None if args.max_weight is None else np.full(n, args.max_weight),
                         args.budget)
    g = K.scenario_growth(w, frame.to_numpy(), args.rf)
    for nm, x in zip(frame.columns, w, strict=True):
        print(f"{nm:>12} {x:10.4f}")
    print(f"mean log growth per period {g:.6f} over {len(frame)} scenarios")
    return 0


def _drift(args: argparse.Namespace) -> int:
    from pyxl.data import load_sp500_index
    from pyxl.reports.kelly import drift_table

    for flag, text in (("--start", args.start), ("--end", args.end)):
        if text:
            try:
                pd.Timestamp(text)
            except (ValueError, TypeError):
                raise InputError(flag, f"{text!r} is not a date", "use YYYY-MM-DD") from None
    prices = load_sp500_index(args.start, args.end)
    if prices.size < 3:
        raise InputError("--start/--end", "leave fewer than 3 prices", "widen the dates")
    table = drift_table(prices, args.rf, args.cost, args.targets)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        table.to_csv(args.csv, index=False, **CSV_OUT)
        print(f"written {args.csv}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pyxl.progress import Progress
    from pyxl.reports.kelly import run_demo

    progress = Progress()
    progress.start("kelly")
    files = run_demo(Path(args.out), progress, rf=args.rf, cost=args.cost)
    for f in files:
        print(f)
    return 0


def _market(p: argparse.ArgumentParser) -> None:
    p.add_argument("mu", type=float, help="arithmetic expected annual return (0.085 = 8.5 %%)")
    p.add_argument("sigma", type=float, help="annual volatility (0.182)")
    p.add_argument("rf", type=float, help="annual risk-free / financing rate (0.01)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pyxl kelly <command>``."""
    from pyxl.reports.kelly import DEFAULT_COST, DEFAULT_RF

    top = sub.add_parser("kelly", help="Kelly leverage toolkit (seed 003)")
    ks = top.add_subparsers(dest="kelly_command", required=True)

    p = ks.add_parser("leverage", help="Kelly leverage fraction*(mu-rf)/sigma^2")
    _market(p)
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of Kelly (default 1)")
    p.set_defaults(func=file_errors(_leverage))

    p = ks.add_parser("growth", help="log growth vs leverage: approximation and exact")
    _market(p)
    p.add_argument("--n", type=float, nargs="+", default=[0.5, 1, 2, 3], help="leverages")
    p.add_argument("--model", choices=K.DISTRIBUTIONS, default="lognormal")
    p.add_argument("--periods", type=int, default=12, help="rebalances a year (default 12)")
    p.set_defaults(func=file_errors(_growth))

    p = ks.add_parser("horizon", help="years to be p-sure leverage n beats leverage n_b")
    _market(p)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--vs-leverage", type=float, default=0.0, help="0 = cash, 1 = unlevered")
    p.add_argument("--leverage", type=float, default=None, help="default: Kelly leverage")
    p.set_defaults(func=file_errors(_horizon))

    p = ks.add_parser("table", help="fractional Kelly risk table (1/4, 1/2, 3/4, 1)")
    _market(p)
    p.add_argument("--drawdown", type=float, default=0.5, help="wealth level, default 0.5")
    p.set_defaults(func=file_errors(_table))

    p = ks.add_parser("weights", help="multi-asset Kelly weights from mu and a covariance CSV")
    p.add_argument("--mu", type=float, nargs="+", required=True, help="annual expected returns")
    p.add_argument("--cov", required=True, help="CSV covariance matrix (header row allowed)")
    p.add_argument("--rf", type=float, required=True)
    p.add_argument("--fraction", type=float, default=1.0)
    p.add_argument("--max-leverage", type=float, default=None)
    p.add_argument("--long-only", action="store_true")
    p.add_argument("--max-weight", type=float, default=None)
    p.add_argument("--budget", type=float, default=None)
    p.set_defaults(func=file_errors(_weights))

    p = ks.add_parser("scenario", help="exact Kelly weights on a CSV of scenario returns")
    p.add_argument("returns", help="CSV: one row per scenario, one column per asset")
    p.add_argument("--rf", type=float, default=0.0, help="risk-free rate PER PERIOD")
    p.add_argument("--max-leverage", type=float, default=None)
    p.add_argument("--long-only", action="store_true")
    p.add_argument("--max-weight", type=float, default=None, help="cap on each |w_i|")
    p.add_argument("--budget", type=float, default=None, help="force sum(w) = budget")
    p.set_defaults(func=file_errors(_scenario))

    p = ks.add_parser("drift", help="leverage drift on the bundled S&P 500 index")
    p.add_argument("--targets", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    p.add_argument("--rf", type=float, default=DEFAULT_RF)
    p.add_argument("--cost", type=float, default=DEFAULT_COST, help="per unit traded (5 bp)")
    p.add_argument("--start", default=None)
    p.add_argument("--end", default=None)
    p.add_argument("--csv", default=None, help="also write the table here")
    p.set_defaults(func=file_errors(_drift))

    p = ks.add_parser("report", help="full Kelly report on the bundled data (as in pyxl demo)")
    p.add_argument("-o", "--out", default="pyxl-out")
    p.add_argument("--rf", type=float, default=DEFAULT_RF)
    p.add_argument("--cost", type=float, default=DEFAULT_COST)
    p.set_defaults(func=file_errors(_report))
