"""Run a button macro safely: compute everything first, then write output sheets.

The contract every PyXL macro keeps:

1. Inputs are read through :class:`~pyxl.macros.book.WorkbookIO` and are
   never written.
2. The whole computation runs in memory (:class:`Report`), with progress in
   the status bar.
3. Only then are the output sheets (names starting ``Out_``) cleared and
   written: results, native charts and the run log.
4. On failure nothing is written to the result sheet: it keeps the previous
   run's results.  The reason goes to the status bar and to the ``Out_Log``
   sheet (the run log, itself an output sheet).
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyxl.errors import InputError
from pyxl.macros.book import Chart, WorkbookIO, cell_address

__all__ = ["Block", "Report", "MacroError", "RunResult", "LOG_SHEET", "execute"]

#: Sheet holding the log of the last run (created when absent).
LOG_SHEET = "Out_Log"


class MacroError(Exception):
    """A problem the user must fix; its text is shown in the status bar and the log."""


@dataclass
class Block:
    """A titled table on the output sheet, optionally charted.

    ``rows[0]`` is the header row; the first column holds labels (or x values).
    """

    title: str
    rows: list[list[Any]]
    chart: str | None = None  # "line", "bar" or "scatter"
    chart_title: str = ""
    x_title: str = ""
    y_title: str = ""


@dataclass
class Report:
    """Everything a macro writes, computed before anything is written."""

    sheet: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class RunResult:
    """Outcome of :func:`execute`."""

    ok: bool
    message: str
    log: list[list[Any]]
    seconds: float


ProgressFn = Callable[[str, "float | None"], None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def is_output_sheet(name: str) -> bool:
    """Only sheets named ``Out_...`` may be cleared and written by a macro."""
    return name.startswith("Out_")


def execute(
    io: WorkbookIO,
    macro: str,
    compute: Callable[[WorkbookIO, ProgressFn], Report],
) -> RunResult:
    """Run ``compute`` and write its :class:`Report`; never raises for user errors.

    Parameters
    ----------
    io : WorkbookIO
        The workbook.
    macro : str
        Macro name, for the status bar and the log.
    compute : callable
        ``compute(io, progress) -> Report``; reads inputs, calls the engine,
        returns the full report.  It must not write to ``io``.

    Returns
    -------
    RunResult
        ``ok`` False when the inputs were wrong or the engine failed; the
        reason is in ``message`` (also in the status bar and ``Out_Log``).
    """
    t0 = time.perf_counter()
    log: list[list[Any]] = []

    def progress(message: str, fraction: float | None = None) -> None:
        pct = "" if fraction is None else f" ({100 * fraction:.0f} %)"
        io.status(f"PyXL {macro}: {message}{pct}")
        log.append([_now(), round(time.perf_counter() - t0, 3), message])

    progress("reading inputs", 0.0)
    try:
        report = compute(io, progress)
        if not is_output_sheet(report.sheet):
            raise MacroError(f"refusing to write sheet {report.sheet!r}: not an Out_ sheet")
    except (InputError, MacroError) as err:
        return _fail(io, macro, str(err), log, t0)
    except Exception as err:  # noqa: BLE001 - shown as one line; details in the log
        detail = traceback.format_exception_only(type(err), err)[-1].strip()
        log.append([_now(), round(time.perf_counter() - t0, 3),
                    "".join(traceback.format_tb(err.__traceback__)[-3:])[-2000:]])
        return _fail(io, macro, f"internal error: {detail}", log, t0)

    progress(f"writing {report.sheet}", 0.95)
    seconds = time.perf_counter() - t0
    log.append([_now(), round(seconds, 3), "done"])
    try:
        _write_report(io, report, macro, log)
        _write_log(io, macro, "ok", f"results in {report.sheet}", log)
        io.save()
    except Exception as err:  # noqa: BLE001 - e.g. Excel busy in edit mode
        text = f"could not write results: {type(err).__name__}: {err}"
        io.status(f"PyXL {macro} failed: {text}")
        return RunResult(False, text, log, seconds)
    io.status(f"PyXL {macro}: done in {seconds:.1f} s, results in {report.sheet}")
    return RunResult(True, f"results in {report.sheet}", log, seconds)


def _fail(io: WorkbookIO, macro: str, message: str, log: list[list[Any]],
          t0: float) -> RunResult:
    seconds = time.perf_counter() - t0
    log.append([_now(), round(seconds, 3), f"FAILED: {message}"])
    try:
        _write_log(io, macro, "error", message, log)
        io.save()
    except Exception:  # noqa: BLE001 - the status bar still tells the user
        pass
    io.status(f"PyXL {macro} failed: {message}")
    return RunResult(False, message, log, seconds)


def _write_log(io: WorkbookIO, macro: str, status: str, message: str,
               log: list[list[Any]]) -> None:
    io.clear_sheet(LOG_SHEET)
    io.write(LOG_SHEET, 1, 1, [
        ["PyXL run log", None, None],
        ["Macro", macro, None],
        ["Status", status, None],
        ["Message", message, None],
        [None, None, None],
        ["Time", "Seconds", "Step"],
        *log,
    ])
    io.autofit(LOG_SHEET)


def _value_format(rows: list[list[Any]]) -> str:
    """Thousands separators on the value axis for money-sized series."""
    values = [abs(v) for r in rows for v in r[1:] if isinstance(v, (int, float))
              and not isinstance(v, bool) and v == v]
    return "#,##0" if values and max(values) >= 1000 else ""


def _write_report(io: WorkbookIO, report: Report, macro: str,
                  log: list[list[Any]]) -> None:
    io.clear_sheet(report.sheet)
    io.write(report.sheet, 1, 1, [[report.title], [f"Written by {macro} at {_now()}"]])
    row = 4
    width = max([len(r) for b in report.blocks for r in b.rows] + [1])
    chart_col = width + 2
    chart_row = 4
    for block in report.blocks:
        io.write(report.sheet, row, 1, [[block.title]])
        io.write(report.sheet, row + 1, 1, block.rows)
        if block.chart and len(block.rows) > 1:
            io.add_chart(report.sheet, Chart(
                title=block.chart_title or block.title,
                kind=block.chart,
                top=row + 1,
                left=1,
                n_rows=len(block.rows) - 1,
                n_cols=max(len(r) for r in block.rows),
                anchor=cell_address(chart_row, chart_col),
                x_title=block.x_title,
                y_title=block.y_title,
                x_dates=isinstance(block.rows[1][0], (dt.date, dt.datetime)),
                y_format=_value_format(block.rows[1:]),
            ))
            chart_row += 20
        row += len(block.rows) + 2
    io.write(report.sheet, row, 1, [["Run log"], ["Time", "Seconds", "Step"], *log])
    io.autofit(report.sheet)
