"""``pyxl scenarios``: scenario generation from CSV files (same core as =MBB_RECOLOR).

Reads the return history, annual targets and optional RT weights from CSV,
generates paths in chunks (streaming, two passes: see :mod:`pyxl.core.scenarios.engine`),
writes the summary CSV, the fan-chart CSV and, on request, every path to an
``.npz`` (one array per chunk, read back with :func:`load_npz_paths`) or to
Parquet (only when ``pyarrow`` is installed).
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.commands import options_named
from pyxl.commands.mnvh import file_errors, frequency_note, partial_path, write_csv_atomic
from pyxl.core import scenarios as core
from pyxl.core.labels import date_order
from pyxl.core.scenarios.engine import check_column_order
from pyxl.errors import InputError
from pyxl.numparse import (
    DATE_HEADERS,
    check_label_dates,
    is_code_row,
    is_date_word,
    numeric_dates,
    read_csv,
    text_dates,
    to_numbers,
)

__all__ = ["register", "NpzSink", "ParquetSink", "load_npz_paths", "read_numeric_csv",
           "oldest_first", "write_summary_csv", "write_fan_csv", "percent_note"]


# --------------------------------------------------------------------------- readers
def read_numeric_csv(path: str | Path, name: str, *, dated_rows: bool = False
                     ) -> tuple[np.ndarray, list[str], list[str]]:
    """Numeric block of a CSV with optional header row and label column.

    Returns (values, row_labels, column_labels); labels are empty when absent.  With
    ``dated_rows`` (a returns file: one row per period), a row without a date under
    dated rows (a total or ``Average`` row) is refused, as ``=MBB_RECOLOR`` refuses it.
    """
    try:
        raw = read_csv(path, name=name, header=None, dtype=str, keep_default_na=False)
    except InputError:
        raise
    except (OSError, ValueError) as err:
        raise InputError(name, f"cannot read {str(path)!r} ({err})", "give a CSV file") from None
    num = raw.apply(to_numbers)
    has_header = bool(num.iloc[0].isna().all()) if len(num) else False
    has_labels = bool(num.iloc[1 if has_header else 0:, 0].isna().all()) if num.shape[1] > 1 \
        else False
    if has_header and num.shape[1] > 1 and len(num) > 1 and (
            is_date_word(raw.iloc[0, 0]) or is_code_row(raw.iloc[1:, 0])):
        # a column headed "Date" holds dates, also when written as numbers (20200131); a
        # column of numeric ticker codes (7203 under 銘柄) is labels: no value is >= 1,000
        has_labels = True
    if len(num) > 1 and not has_header:
        # a header of numeric ticker codes (7203, 6758) parses as numbers: it is a header when
        # it sits above a date/label column under "Date" (or a blank cell), or when its cells
        # are whole numbers no return, weight or variance can be; a column of codes under a
        # blank corner cell (a labelled covariance) is a label column
        first = raw.iloc[0]
        corner = str(first.iloc[0]).strip().lower() in DATE_HEADERS
        # numeric codes down the first column under a blank, "Date" or any other text
        # corner cell (銘柄, Code) that is not itself a number: a labelled table
        code_rows = num.shape[1] > 1 and bool(num.iloc[0, 0] != num.iloc[0, 0]) and \
            is_code_row(raw.iloc[1:, 0])
        labelled = num.shape[1] > 1 and (bool(num.iloc[1:, 0].isna().all()) or code_rows)
        has_header = (labelled and corner) or is_code_row(first.iloc[1:] if labelled else first)
        if has_header:
            has_labels = labelled
    body = num.iloc[1 if has_header else 0:, 1 if has_labels else 0:]
    if body.isna().any().any():
        r, c = (int(v[0]) for v in np.nonzero(body.isna().to_numpy()))
        cell = str(raw.iloc[r + (1 if has_header else 0), c + (1 if has_labels else 0)])
        where = f"row {r + (2 if has_header else 1)}, column {c + (2 if has_labels else 1)}"
        what = "is blank" if not cell.strip() else f"{cell[:20]!r} is not a number"
        raise InputError(name, f"{Path(path).name}: {where}: {what}",
                         "fill in every cell with a number (a decimal, or 5.2% as text)")
    cols = [str(c) for c in raw.iloc[0, 1 if has_labels else 0:]] if has_header else []
    rows = [str(c) for c in raw.iloc[1 if has_header else 0:, 0]] if has_labels else []
    # a total row under dated rows ('Average', or a blank date) is refused as the formulas
    # refuse it: read, it was one more period and newest-first dates were not reversed
    if dated_rows:
        check_label_dates(rows, name, Path(path).name, 2 if has_header else 1,
                          numbers_are_dates=has_header and is_date_word(raw.iloc[0, 0]))
    return body.to_numpy(dtype=float), rows, cols


def row_dates(labels: list[str]) -> pd.DatetimeIndex | None:
    """The row labels of a returns CSV as dates, in file order; None unless every label
    (at least two) is a date (``2024-01-31``, ``2024年1月31日``, ``20240131``, ...)."""
    if len(labels) < 2:
        return None
    try:
        idx = numeric_dates([float(x) for x in labels])
    except ValueError:
        idx = text_dates(labels)
    if idx is None or idx.isna().any():
        return None
    return pd.DatetimeIndex(idx)


def oldest_first(R: np.ndarray, labels: list[str], path) -> np.ndarray:
    """The rows of a returns CSV oldest first, as ``pyxl backtest`` reads prices.

    When every row label is a date (``2024-01-31``, ``2024/01/31``, ``2024年1月31日``,
    or numbers such as ``20240131``), rows newest first are reversed, with a note on
    stderr, and rows out of date order are refused.  Other labels (or none) leave the
    rows as they are.

    Parameters
    ----------
    R : (T, N) array
        The returns, in file order.
    labels : list of str
        The row labels (the first column), empty when the file has none.
    path : str or Path
        The file, for the messages.
    """
    idx = row_dates(labels)
    if idx is None:
        return R
    order = date_order(idx)
    if order == "oldest first":
        return R
    if order == "newest first":
        print(f"pyxl: note: {Path(path).name}: dates are newest first; read oldest first",
              file=sys.stderr)
        return np.ascontiguousarray(R[::-1])
    raise InputError("--returns", f"{Path(path).name}: dates are not in order", "sort by date")


def percent_note(R: np.ndarray, path, name: str) -> None:
    """A note on stderr when returns look like percents typed as numbers (5.2 for 5.2 %).

    Returns below -100 % are refused by the engines, but a file of percents above -100
    (a quiet asset, daily data) passes as returns 100 times too large.  Decimal returns
    whose median size is 50 % or more per period are implausible; percents are not
    (a daily 0.8 % is typical), so such a file gets the note (not a refusal: a
    scenario set of extreme outcomes can be that wide).

    Parameters
    ----------
    R : array of float
        The returns, decimals as read.
    path : str or Path
        The file, for the note.
    name : str
        The option or argument, for the note.
    """
    a = np.abs(np.asarray(R, dtype=float))
    if a.size and np.median(a) >= 0.5:
        print(f"pyxl: note: {name}: {Path(path).name}: the median return is "
              f"{np.median(a):.3g} ({np.median(a):.0%}) per period; if the file holds "
              "percents (5.2 for 5.2 %), divide by 100 or write 5.2% as text",
              file=sys.stderr)


# --------------------------------------------------------------------------- sinks
class NpzSink:
    """Stream final paths into an ``.npz`` (zip of ``paths_<first-path>.npy`` entries)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)  # renamed to ``path`` by close()
        try:
            self.zf = zipfile.ZipFile(self.partial, "w", compression=zipfile.ZIP_STORED,
                                      allowZip64=True)
        except OSError as err:  # name the file asked for, not the hidden one
            raise type(err)(err.errno, err.strerror, str(self.path)) from None

    def __call__(self, p0: int, paths: np.ndarray) -> None:
        with self.zf.open(f"paths_{p0:010d}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(paths), allow_pickle=False)

    def close(self, sset: core.ScenarioSet) -> None:
        """Add the run's metadata (delta, targets, tickers) and close the file."""
        meta = {"delta": sset.delta, "mu_star": sset.mu_star, "cov_star": sset.cov_star,
                "tickers": np.array(sset.tickers), "weights": sset.weights,
                "block_length": np.array(sset.block_length)}
        for key, arr in meta.items():
            with self.zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(arr), allow_pickle=False)
        self.zf.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """Close and delete the unfinished file (a failed or interrupted run)."""
        self.zf.close()
        self.partial.unlink(missing_ok=True)


def load_npz_paths(path: str | Path) -> np.ndarray:
    """All paths of an ``.npz`` written by :class:`NpzSink`, shape (n_paths, H, N)."""
    with np.load(path) as z:
        keys = sorted(k for k in z.files if k.startswith("paths_"))
        return np.concatenate([z[k] for k in keys], axis=0)


class ParquetSink:
    """Stream final paths to Parquet, long format: path, period, one column per asset.

    Needs ``pyarrow`` (an optional dependency: ``pip install pyxl[parquet]``).
    """

    def __init__(self, path: str | Path, tickers: list[str]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("--parquet", "needs pyarrow, which is not installed",
                             "pip install pyarrow, or use --npz") from None
        self.pa, self.tickers = pa, tickers
        fields = [pa.field("path", pa.int64()), pa.field("period", pa.int32())]
        fields += [pa.field(t, pa.float64()) for t in tickers]
        self.path = Path(path)
        self.partial = partial_path(self.path)  # renamed to ``path`` by close()
        try:
            self.writer = pq.ParquetWriter(str(self.partial), pa.schema(fields))
        except OSError as err:  # name the file asked for, not the hidden one
            raise OSError(err.errno, err.strerror or str(err), str(self.path)) from None

    def __call__(self, p0: int, paths: np.ndarray) -> None:
        n, H, N = paths.shape
        cols = {"path": np.repeat(np.arange(p0 + 1, p0 + n + 1), H),
                "period": np.tile(np.arange(1, H + 1, dtype=np.int32), n)}
        flat = paths.reshape(n * H, N)
        for i, t in enumerate(self.tickers):
            cols[t] = flat[:, i]
        self.writer.write_table(self.pa.table(cols))

    def close(self, sset: core.ScenarioSet) -> None:
        self.writer.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        """Close and delete the unfinished file (a failed or interrupted run)."""
        self.writer.close()
        self.partial.unlink(missing_ok=True)


# --------------------------------------------------------------------------- writers
def write_summary_csv(sset: core.ScenarioSet, path: str | Path) -> Path:
    """The =MBB_RECOLOR summary table as CSV (blank cells for padding)."""
    rows = [[("" if isinstance(v, float) and np.isnan(v) else v) for v in r]
            for r in sset.summary_rows()]
    return write_csv_atomic(pd.DataFrame(rows), Path(path), header=False, index=False)


def write_fan_csv(sset: core.ScenarioSet, path: str | Path) -> Path:
    """Fan-chart percentiles of wealth per portfolio and period (long format)."""
    frames = []
    for k, lab in enumerate(sset.portfolio_labels):
        f = pd.DataFrame(sset.fan[:, :, k], columns=["p5", "p25", "p50", "p75", "p95"])
        f.insert(0, "period", np.arange(sset.fan.shape[0]))
        f.insert(0, "portfolio", lab)
        frames.append(f)
    return write_csv_atomic(pd.concat(frames), Path(path), index=False)


# --------------------------------------------------------------------------- command
#: The core's argument names (:class:`pyxl.core.scenarios.ScenarioSpec`,
#: :func:`pyxl.core.scenarios.generate`) as ``pyxl scenarios``' options, so that an
#: error names what the user typed (``--paths``, not ``n_paths``).
_FLAGS = {"n_paths": "--paths", "block": "--block", "horizon": "--horizon", "lam": "--lam",
          "periods": "--periods", "seed": "--seed", "method": "--method",
          "target": "--target", "recolor": "--recolor", "burn_in": "--burn-in",
          "ridge": "--ridge", "chunk_paths": "--chunk", "returns": "--returns",
          "mu_ann": "--mu", "cov_ann": "--cov", "rt_weights": "--rt"}


def _run(args: argparse.Namespace) -> int:
    with options_named(_FLAGS):
        return _run_named(args)


def _run_named(args: argparse.Namespace) -> int:
    import numba

    R, row_labels, tickers = read_numeric_csv(args.returns, "--returns", dated_rows=True)
    R = oldest_first(R, row_labels, args.returns)
    percent_note(R, args.returns, "--returns")
    dates = row_dates(row_labels)
    note = frequency_note(None if dates is None else dates.sort_values(), args.periods,
                          "--periods")
    if note:
        print(f"pyxl: note: {Path(args.returns).name}: {note}", file=sys.stderr)
    N = R.shape[1]
    mu, mu_rows, mu_cols = read_numeric_csv(args.mu, "--mu")
    C, cov_rows, cov_cols = read_numeric_csv(args.cov, "--cov")
    W, rt_labels = None, None
    if args.rt:
        W, rt_labels, rt_cols = read_numeric_csv(args.rt, "--rt")
        check_column_order(tickers, rt_cols, "--rt")
    # labelled files are matched to the returns by position: refuse a permuted order
    check_column_order(tickers, mu_rows if mu.shape[1] == 1 else mu_cols, "--mu")
    check_column_order(tickers, cov_rows, "--cov")
    check_column_order(tickers, cov_cols, "--cov")
    core.validate_inputs(R, mu.ravel(), C, W)  # report bad files before any progress output
    if not np.isfinite(args.ridge):  # =MBB_RECOLOR cannot be given one: nan ran as ridge 0
        raise InputError("--ridge", f"{args.ridge:g} is not a finite number",
                         "enter 0 (exact delta) or a positive ridge")
    if args.workers:
        numba.set_num_threads(max(1, min(args.workers, numba.config.NUMBA_NUM_THREADS)))
    spec = core.ScenarioSpec(
        n_paths=args.paths, block=args.block, horizon=args.horizon, lam=args.lam,
        periods=args.periods, seed=args.seed, method=args.method, target=args.target,
        recolor=args.recolor, burn_in=args.burn_in, ridge=args.ridge, chunk_paths=args.chunk,
    )
    names = tickers if len(tickers) == N else [f"asset{i + 1}" for i in range(N)]
    sinks: list = []
    try:
        return _generate(args, R, mu, C, W, spec, N, names, tickers, rt_labels, sinks)
    except BaseException:
        for s in sinks:  # no half-written .npz / .parquet under the name asked for
            try:
                s.discard()
            except Exception:  # noqa: BLE001 - the first error is the one to report
                pass
        raise


def _generate(args, R, mu, C, W, spec, N, names, tickers, rt_labels, sinks) -> int:
    """The run of :func:`_run` once the inputs are read: ``sinks`` is filled here so that
    the caller can discard unfinished files."""
    if args.npz:
        sinks.append(NpzSink(args.npz))
    if args.parquet:
        sinks.append(ParquetSink(args.parquet, names))

    def sink(p0: int, Y: np.ndarray) -> None:
        for s in sinks:
            s(p0, Y)

    from pyxl.core.scenarios.engine import _spec_checks
    from pyxl.progress import Progress

    _spec_checks(spec, R.shape[0])  # bad settings: one error line, before any progress output
    prog = Progress()
    prog.start("scenarios")
    sset = core.generate(R, mu.ravel(), C, spec, W, tickers=names, rt_labels=rt_labels or None,
                         keep_paths=args.keep, sink=sink if sinks else None, progress=prog)
    for s in list(sinks):
        s.close(sset)
        sinks.remove(s)  # complete: nothing left to discard
    out = Path(args.summary)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_summary_csv(sset, out)
    print(f"summary: {out}")
    if args.fan:
        print(f"fan chart data: {write_fan_csv(sset, args.fan)}")
    for p in (args.npz, args.parquet):
        if p:
            print(f"paths: {p}")
    print(f"{sset.spec.n_paths} paths x {sset.horizon} periods x {N} assets, block "
          f"{sset.block_length}, floor hits {sset.floor_hits}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pyxl scenarios``."""
    p = sub.add_parser(
        "scenarios",
        help="block bootstrap + EWMA recolour + drift delta scenarios from CSV files",
        description="Generate scenario paths (same engine as =MBB_RECOLOR). CSV inputs may "
                    "have a header row and a label/date column.",
    )
    p.add_argument("--returns", required=True, help="CSV of per-period returns, T x N")
    p.add_argument("--mu", required=True, help="CSV with the N annual target means")
    p.add_argument("--cov", required=True, help="CSV with the N x N annual target covariance")
    p.add_argument("--rt", help="CSV of RT portfolio weights, K x N (optional)")
    p.add_argument("--paths", type=int, default=10_000, help="number of paths (10000)")
    p.add_argument("--block", type=int, default=0, help="block length, 0 = automatic")
    p.add_argument("--horizon", type=int, default=0, help="periods per path, 0 = T")
    p.add_argument("--lam", type=float, default=0.94, help="EWMA lambda (0.94)")
    p.add_argument("--periods", type=int, default=12, help="periods per year (12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="moving", choices=core.METHODS)
    p.add_argument("--target", default="arithmetic", choices=core.TARGET_METHODS)
    p.add_argument("--recolor", default="symmetric", choices=core.RECOLOR_METHODS)
    p.add_argument("--burn-in", type=int, default=0)
    p.add_argument("--ridge", type=float, default=0.0)
    p.add_argument("--chunk", type=int, default=4096, help="paths per chunk (4096)")
    p.add_argument("--workers", type=int, default=0, help="numba threads (default all)")
    p.add_argument("--keep", action="store_true",
                   help="hold all paths in memory (one generation pass instead of two)")
    p.add_argument("--npz", help="stream every path to this .npz")
    p.add_argument("--parquet", help="stream every path to this Parquet file (needs pyarrow)")
    p.add_argument("--summary", default="scenarios_summary.csv", help="summary CSV path")
    p.add_argument("--fan", help="fan-chart CSV path (optional)")
    p.set_defaults(func=file_errors(_run))
