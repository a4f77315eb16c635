"""What each template's Run button computes.

Every number comes from the PyXL formulas themselves (:mod:`pyxl.udfs`), the
same functions the cells call, fed with the template's named input ranges:
a macro never re-implements the maths, so a button run and the live formulas
cannot disagree.  A formula's arguments are bound by name: parameter ``lam``
of a formula run by template ``mnvh`` reads the defined name ``mnvh_lam``
(the layout contract in :mod:`pyxl.templates.spec` names inputs that way).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from pyxl.macros.book import WorkbookIO
from pyxl.macros.runner import Block, MacroError, Report
from pyxl.xl.convert import ERROR_PREFIX, is_date, is_text

__all__ = ["formula", "read", "bind", "call", "COMPUTE", "mnvh", "scenarios", "mbp", "kelly"]

ProgressFn = Callable[[str, "float | None"], None]


def formula(name: str) -> Callable[..., Any]:
    """The PyXL formula ``name`` as a Python function."""
    import pyxl.udfs as udfs

    func = getattr(udfs, name, None)
    if func is None:
        raise MacroError(f"formula {name} is not available in this PyXL installation; "
                         "update PyXL (pip install -U pyxl)")
    return func


def read(io: WorkbookIO, name: str) -> Any:
    """A named input in Excel's shape: a scalar for one cell, else a list of rows."""
    if not io.has_name(name):
        raise MacroError(f"{name}: defined name missing from this workbook; "
                         "restore it (Formulas > Name Manager) or start from a fresh template")
    value = io.read_name(name)
    if isinstance(value, list) and len(value) == 1 and len(value[0]) == 1:
        return value[0][0]
    return value


class Bound(dict):
    """Keyword arguments of a formula plus, per argument, the defined name it came from."""

    def __init__(self, *args: Any, sources: dict[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sources: dict[str, str] = dict(sources or {})

    def but(self, **changes: Any) -> Bound:
        """A copy with some arguments replaced (their sources dropped)."""
        src = {k: v for k, v in self.sources.items() if k not in changes}
        return Bound({**self, **changes}, sources=src)


def bind(io: WorkbookIO, key: str, func: Callable[..., Any], **overrides: Any) -> Bound:
    """Keyword arguments for ``func`` read from the ``{key}_{parameter}`` names.

    Parameters absent from the workbook are left to their defaults; those in
    ``overrides`` take the given value (a string starting with ``@`` names a
    defined name to read).
    """
    kwargs = Bound()
    for pname in inspect.signature(func).parameters:
        if pname in overrides:
            value = overrides[pname]
            if isinstance(value, str) and value.startswith("@"):
                kwargs.sources[pname] = value[1:]
                value = read(io, value[1:])
            kwargs[pname] = value
        elif io.has_name(f"{key}_{pname}"):
            kwargs.sources[pname] = f"{key}_{pname}"
            kwargs[pname] = read(io, f"{key}_{pname}")
    return kwargs


def _rows(result: Any) -> list[list[Any]]:
    if isinstance(result, np.ndarray):
        if result.ndim == 0:
            return [[result.item()]]
        if result.ndim == 1:
            return [[v] for v in result.tolist()]
        return result.tolist()
    if isinstance(result, (list, tuple)):
        if result and all(isinstance(r, (list, tuple, np.ndarray)) for r in result):
            return [list(r) for r in result]
        return [[v] for v in result]
    return [[result]]


def call(name: str, /, _where: dict[str, str] | None = None, _io: WorkbookIO | None = None,
         **kwargs: Any) -> list[list[Any]]:
    """Call formula ``name``; its ``#PyXL!`` error line becomes a :class:`MacroError`.

    ``_where`` maps argument names to the workbook input they were read from,
    so the message points the user at the cell to fix (``kelly_sigma``), not
    only at the formula's argument.  With ``_io``, a position in one of the
    :data:`HEADER_TABLES` (counted by the formula in the data below the header
    row) is given as the sheet cell: ``mnvh_price_table: text 'n/a' at Prices!E30``.
    """
    result = formula(name)(**kwargs)
    rows = _rows(result)
    first = rows[0][0] if rows and rows[0] else None
    if isinstance(first, str) and first.startswith(ERROR_PREFIX):
        text = first[len(ERROR_PREFIX):]
        arg = text.split(":", 1)[0].strip()
        where = (_where or {}).get(arg)
        if where:
            problem = text.split(":", 1)[1].strip()
            if _io is not None and where in HEADER_TABLES and arg in kwargs:
                problem = _cells_of_table(_io, where, kwargs[arg], problem)
            raise MacroError(f"{where}: {problem} (input of {name})")
        raise MacroError(f"{name}: {text}")
    return rows


def _price_table_body(rows: list[list[Any]]) -> int | None:
    """Header rows (0 or 1) =MNVH_BACKTEST takes off its price table before it
    numbers the cells (:func:`pyxl.xl.udf_backtest.parse_price_table`); None when it would
    take a date column, whose rows it may reorder."""
    from pyxl.numparse import DATE_HEADERS
    from pyxl.xl.udf_backtest import _corner_over_dates, _numeric_codes_header, _text_header

    head = bool(rows) and bool(_text_header(rows[0]) or _numeric_codes_header(rows)
                               or _corner_over_dates(rows))
    body = rows[1:] if head else rows
    filled = [r[0] for r in body if r and _label(r[0]) is not None]
    date_col = max((len(r) for r in body), default=0) >= 2 and (
        (filled and all(is_date(c) or is_text(c) for c in filled))
        or (head and str(rows[0][0] or "").strip().lower() in DATE_HEADERS))
    return None if date_col else int(head)


def _return_table_body(rows: list[list[Any]]) -> int | None:
    """Header rows (0 or 1) =MBB_RECOLOR takes off its returns before it numbers
    the cells (:func:`pyxl.xl.convert.to_labelled_matrix`); None when it would take a
    date column, whose rows it may reorder."""
    from pyxl.xl.convert import drop_date_column, has_header_row

    if drop_date_column(rows) is not rows:
        return None
    return int(has_header_row(rows))


#: Template inputs whose range starts with a header row (docs/workbooks.md: "with the
#: header row"), each with how its formula finds the data below the header.  The formula
#: counts rows in that data, so "row 29" of it is the range's 30th row: the Run button
#: names the sheet cell instead (:func:`_cells_of_table`).
HEADER_TABLES: dict[str, Callable[[list[list[Any]]], int | None]] = {
    "mnvh_price_table": _price_table_body,
    "scn_return_table": _return_table_body,
}

#: A cell, row or column as :func:`pyxl.xl.convert._where` and the core name it.
_POSITION = re.compile(r"\b(?:row (\d+), column (\d+)|row (\d+)|column (\d+)|the cell)\b")


def _sheet_cell(sheet: str, col: int, row: int) -> str:
    """``Prices!E30`` (``'My prices'!E30`` when the sheet name needs quotes)."""
    from openpyxl.utils.cell import get_column_letter

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet):
        sheet = "'" + sheet.replace("'", "''") + "'"
    return f"{sheet}!{get_column_letter(col)}{row}"


def _cells_of_table(io: WorkbookIO, name: str, value: Any, problem: str) -> str:
    """``problem`` with its first position in table ``name`` given as the sheet's cells.

    ``text 'n/a' at row 29, column 4`` of ``mnvh_price_table`` (``Prices!B1:K251``, the
    header row first) becomes ``text 'n/a' at Prices!E30``; a whole row or column
    (``column 2 is constant``) becomes its cells (``History!C2:C121``).  Only the problem
    is rewritten (the text before ``;``): an error quoted from another cell keeps its own
    words.  A table laid out otherwise than the template's (a date column taken off) is
    left as the formula counts it.
    """
    from openpyxl.utils.cell import range_boundaries

    address = io.name_address(name) if io.has_name(name) else None
    rows = [list(r) for r in _rows(value)] if isinstance(value, list) else None
    if address is None or not rows:
        return problem
    head = HEADER_TABLES[name](rows)
    if head is None:
        return problem
    body = rows[head:]
    while body and all(_label(c) is None for c in body[-1]):
        body.pop()  # rows cleared below a shorter table: the formula drops them too
    nrows, ncols = len(body), max((len(r) for r in body), default=0)
    c1, r1, _, _ = range_boundaries(address[1].replace("$", ""))
    top, left = r1 + head, c1

    def cells(m: re.Match[str]) -> str:
        if m.group(1):
            i, j = int(m.group(1)), int(m.group(2))
        elif m.group(3):
            i, j = int(m.group(3)), None if ncols != 1 else 1
        elif m.group(4):
            i, j = None if nrows != 1 else 1, int(m.group(4))
        elif nrows == ncols == 1:
            i, j = 1, 1
        else:
            return m.group(0)
        if i is not None and j is not None:
            return _sheet_cell(address[0], left + j - 1, top + i - 1)
        if i is not None:  # a whole row of the data
            first, last = (left, top + i - 1), (left + ncols - 1, top + i - 1)
        else:  # a whole column of the data
            first, last = (left + j - 1, top), (left + j - 1, top + nrows - 1)
        return f"{_sheet_cell(address[0], *first)}:{_sheet_cell(address[0], *last).split('!')[1]}"

    what, sep, fix = problem.partition(";")
    return _POSITION.sub(cells, what, count=1) + sep + fix


def _label(value: Any) -> str | None:
    """A cell shown as a row label: None when blank, a whole number without ``.0``.

    xlwings hands every number over as a float, so a ticker code typed as a
    number (the Tokyo code 7203) arrives as ``7203.0`` from Excel and as ``7203``
    from openpyxl; both must label the row ``7203``.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _column(value: Any) -> list[Any]:
    """A one-column (or one-row) named range as a flat list, one item per cell, blanks kept."""
    return [v for row in _rows(value) for v in row]


def _labels(value: Any) -> list[str]:
    """Row labels of a named range, one per cell (row order kept); blank cells -> ``(row k)``.

    Keeping one label per cell keeps the labels aligned with the values read
    from the neighbouring ranges: dropping a blank name would shift every
    later label onto the previous row's numbers.
    """
    return [lab if lab is not None else f"(row {k})"
            for k, lab in enumerate((_label(v) for v in _column(value)), start=1)]


def _ticker_row_as_text(io: WorkbookIO, table: Any) -> Any:
    """``mnvh_price_table`` with its first row (the ``mnvh_tickers`` cells) as text labels.

    The layout contract makes the table's first row the tickers.  Tokyo codes typed or
    pasted as numbers (7203, 6758 over yen prices of 100-80,000) are otherwise
    indistinguishable from a row of prices, and =MNVH_BACKTEST would trade the codes as
    the first bar (a header of 10 codes gave a final NAV of 5.66 million yen instead of
    1.01 million).  As text ('7203') they are a header, as on a sheet typed with tickers.
    A table whose first row is not the tickers range is returned unchanged.
    """
    if not (isinstance(table, list) and table and isinstance(table[0], list)
            and io.has_name("mnvh_tickers")):
        return table
    tickers = _column(read(io, "mnvh_tickers"))
    if list(table[0]) != tickers or all(_label(c) is None for c in tickers):
        return table
    return [[_label(c) for c in table[0]], *table[1:]]


def _check_date_order(dates: list[Any]) -> None:
    """Raise when the Prices sheet's dates (``mnvh_dates``) are not oldest first.

    The price table the formulas read has no date column, so every adapter of the
    template (the Ledger and Backtest sheets, this macro) takes the rows in sheet order
    as time order: newest-first rows (as many downloads come) would run the strategy
    backwards in time, while =MNVH_BACKTEST on the dated table and ``pyxl backtest``
    sort them.  Dates that are not all dates (text labels, bar numbers) are not checked.
    """
    import pandas as pd

    from pyxl.core.labels import date_order

    if len(dates) < 2 or any(_label(d) is None for d in dates):
        return
    if not all(is_date(d) for d in dates):
        return
    order = date_order(pd.to_datetime(list(dates)))
    if order == "oldest first":
        return
    raise MacroError(f"mnvh_dates: the Prices sheet is {order}; sort Prices by date, oldest "
                     "first (Data > Sort, column A), so the Ledger, the Backtest sheet and this "
                     "run all go forward in time")


def _cell_of(io: WorkbookIO, name: str) -> str:
    """``"mnvh_beta (Inputs!C5)"``: a defined name with the cell it points at now."""
    where = io.name_address(name) if io.has_name(name) else None
    return f"{name} ({where[0]}!{where[1].replace('$', '')})" if where else name


def _blank_inputs_as_the_sheets(io: WorkbookIO, kw: Bound) -> None:
    """Read blank MNVH inputs as the template's sheets do, not as the formula's defaults.

    =MNVH_BACKTEST takes a blank argument as its default (beta 35, a multiple of NAV, would
    run as 35 currency units here; fee rate 5 bp), while the Ledger sheet refuses a blank
    lambda or beta and charges no fee for a blank fee rate.  So a blank ``mnvh_lam``,
    ``mnvh_beta`` or ``mnvh_cash0`` is refused (the Backtest sheet shows the same error) and
    a blank ``mnvh_fee_rate`` is 0.

    Parameters
    ----------
    io : WorkbookIO
        The workbook, to name the blank cell.
    kw : Bound
        Arguments of =MNVH_BACKTEST read from the names; ``fee_rate`` is set in place.

    Raises
    ------
    MacroError
        ``mnvh_beta (Inputs!C5): is blank; enter a number ...``.
    """
    for arg in ("lam", "beta", "cash0"):
        if arg in kw.sources and _label(kw.get(arg)) is None:
            raise MacroError(f"{_cell_of(io, kw.sources[arg])}: is blank; enter a number "
                             "(the Ledger and Backtest sheets need it too)")
    if "fee_rate" in kw.sources and _label(kw.get("fee_rate")) is None:
        kw["fee_rate"] = 0.0  # no fee, as the Ledger's fee column and the Backtest sheet


def _check_blocks(io: WorkbookIO, key: str) -> None:
    """Raise when a value lies just right of or below one of the template's data blocks.

    The blocks (:attr:`pyxl.templates.spec.TemplateSpec.blocks`: the MNVH Prices,
    the scenario History, the MBP Universe and Factors) have a fixed size, like the
    named ranges the formulas read, so a table pasted wider or longer would be read only
    in part.  The template's check cell shows the same warning
    (:func:`pyxl.templates.common.block_check_formula`).  The block's sheet is found
    through its named ranges, so a renamed sheet (Prices -> Px, which Excel and
    LibreOffice rename in the names too) is still checked.

    A row inserted at the table's first row lies above every name (Excel moves a name
    down for it rather than widen it), so it would silently be left out of the run; the
    name :attr:`~pyxl.templates.spec.DataBlock.top_name` (the header row and the
    first data row, which grows to 3 rows then) tells it, as in the check cell.

    Raises
    ------
    MacroError
        ``Prices!L1 lies outside the Prices block A1:K251: ...``, or
        ``Prices!A2: row 2 lies above the named ranges of the table ...``.
    """
    from openpyxl.utils.cell import get_column_letter, range_boundaries

    from pyxl.templates.spec import TEMPLATES, beyond_block

    spec = TEMPLATES[key]
    for block in spec.blocks:
        # the block as the workbook's names now reach: rows or columns inserted inside
        # a named range widen it (and shift the sheet check's references alike), and a
        # renamed sheet (Prices -> Px) is renamed in the names too
        names = block.names or tuple(i.name for i in spec.inputs if i.sheet == block.sheet)
        found = [io.name_address(n) for n in names if io.has_name(n)]
        found = [w for w in found if w is not None]
        sheet = found[0][0] if found else block.sheet
        if sheet not in io.sheet_names():
            continue
        corners = [range_boundaries(w[1].replace("$", "")) for w in found if w[0] == sheet]
        ref = block.ref
        if corners:
            # the block's header rows and label columns lie before the names, as in the spec
            b1, b2 = block.corners
            shipped = [range_boundaries(i.ref.replace("$", "")) for i in spec.inputs
                       if i.name in names]
            left = min(c[0] for c in corners) - (min(c[0] for c in shipped) - b1[0])
            top = min(c[1] for c in corners) - (min(c[1] for c in shipped) - b1[1])
            right = max(c[2] for c in corners) + (b2[0] - max(c[2] for c in shipped))
            bottom = max(c[3] for c in corners) + (b2[1] - max(c[3] for c in shipped))
            ref = (f"${get_column_letter(left)}${top}:"
                   f"${get_column_letter(right)}${bottom}")
        cells = ref.replace("$", "")
        top = io.name_address(block.top_name) if io.has_name(block.top_name) else None
        if top is not None:  # absent from workbooks made before the name was added
            c1, r1, _, r2 = range_boundaries(top[1].replace("$", ""))
            if r2 - r1 + 1 > 2:  # rows inserted at the table's first row (the check cell's test)
                first = f"{get_column_letter(c1)}{r1 + 1}"
                one = r2 - r1 == 2
                rows = f"row {r1 + 1} lies" if one else f"rows {r1 + 1}-{r2 - 1} lie"
                raise MacroError(
                    f"{top[0]}!{first}: {rows} above the named ranges of the table (they "
                    f"start in row {r2}: rows inserted at the table's first row), so the "
                    f"run would leave {'it' if one else 'them'} out; delete "
                    f"{'it' if one else 'them'} and insert rows below the table's first "
                    "row instead (Excel then widens the names)")
        elsewhere = (" (the command-line tools read tables of any size)"
                     if block.cli_any_size else "")
        for probe in beyond_block(ref, block.columns_right, block.rows_below):
            c1, r1, _, _ = range_boundaries(probe.replace("$", ""))
            for i, row in enumerate(io.read_range(sheet, probe)):
                for j, v in enumerate(row):
                    if v is not None and v != "":  # as the check cell's LEN(cell) > 0
                        raise MacroError(
                            f"{sheet}!{get_column_letter(c1 + j)}{r1 + i} lies outside "
                            f"the {sheet} block {cells}: the template reads only "
                            f"{block.shape}; {block.fix}{elsewhere}")


# ---------------------------------------------------------------------------
# One compute function per template: (io, progress) -> Report
# ---------------------------------------------------------------------------


def mnvh(io: WorkbookIO, progress: ProgressFn) -> Report:
    """MNVH + Ledger-SPT backtest of the Prices sheet with every Inputs parameter.

    The metrics come from =MNVH_BACKTEST; the equity curve and the per-bar
    ledger from the same core calls it makes (``research_config``,
    ``build_inputs``, ``run_strategy``).  ``mnvh_beta`` is documented in
    currency units (eq. 1 as written), so the run uses ``beta_mode="absolute"``;
    like the template's Backtest sheet, no half-spread (fees are the Inputs' fees).
    """
    from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy
    from pyxl.xl.convert import to_choice, to_float
    from pyxl.xl.udf_backtest import SCHEMES, parse_price_table

    _check_blocks(io, "mnvh")
    kw = bind(io, "mnvh", formula("MNVH_BACKTEST"), prices="@mnvh_price_table",
              weights="@mnvh_weighting", beta_mode="absolute", half_spread=0.0)
    kw["prices"] = _ticker_row_as_text(io, kw["prices"])
    _blank_inputs_as_the_sheets(io, kw)
    dates = _column(read(io, "mnvh_dates")) if io.has_name("mnvh_dates") else []
    while dates and _label(dates[-1]) is None:  # rows cleared below a shorter price table
        dates.pop()
    _check_date_order(dates)
    progress("running the MNVH backtest", 0.2)
    metrics = call("MNVH_BACKTEST", kw.sources, io, **kw)

    progress("building the ledger", 0.6)
    prices, _ = parse_price_table(kw["prices"], "prices")
    opts = {k: to_float(kw[k], k) for k in ("lam", "beta", "cash0", "fee_rate", "fixed_fee",
                                             "min_cash") if k in kw and kw[k] is not None}
    scheme = to_choice(kw.get("weights"), "weights", SCHEMES, default="equal")
    res = run_strategy(prices, research_config(beta_mode="absolute", half_spread=0.0, **opts),
                       build_inputs(prices, scheme))
    if len(dates) != len(res.nav):
        dates = list(range(len(res.nav)))
    equity = [["Date", "NAV"]] + [[d, float(v)] for d, v in zip(dates, res.nav, strict=True)]
    ledger = [["Date", "NAV", "Cash", "Gross", "Net", "Kappa", "MTM", "Fees", "Slippage",
               "Financing"]]
    for t, d in enumerate(dates):
        ledger.append([d, *(float(getattr(res, f)[t]) for f in (
            "nav", "cash", "gross", "net", "kappa", "mtm", "fees", "slippage", "financing"))])
    return Report("Out_Backtest", "MNVH + Ledger-SPT backtest (full engine run)", [
        Block("Metrics (=MNVH_BACKTEST as on the Backtest sheet)",
              [["Metric", "Value"], *metrics]),
        Block("Equity curve", equity, chart="line", chart_title="NAV (currency)",
              x_title="Date", y_title="NAV"),
        Block("Ledger per bar", ledger),
    ])


def scenarios(io: WorkbookIO, progress: ProgressFn) -> Report:
    """Block bootstrap + EWMA recolour + drift delta: summary and one fan per RT portfolio."""
    _check_blocks(io, "scenarios")
    table = {"returns": "@scn_return_table"} if io.has_name("scn_return_table") else {}
    kw = bind(io, "scn", formula("MBB_RECOLOR"), output="summary", **table)
    progress("generating scenarios", 0.2)
    blocks = [Block("Summary (=MBB_RECOLOR output summary)",
                    call("MBB_RECOLOR", kw.sources, io, **kw))]
    rt = kw.get("rt_weights")
    n_rt = sum(1 for row in rt if any(v is not None for v in row)) if isinstance(rt, list) \
        else (1 if rt is not None else 0)
    for k in range(1, n_rt + 1):
        progress(f"fan chart {k}/{n_rt}", 0.5 + 0.5 * k / (n_rt + 1))
        fan = call("MBB_RECOLOR", kw.sources, io, **kw.but(output=f"fan:{k}"))
        blocks.append(Block(f"Fan: RT portfolio {k} (=MBB_RECOLOR output fan:{k})", fan,
                            chart="line", chart_title=f"Wealth fan, RT portfolio {k}",
                            x_title="Period", y_title="Wealth"))
    return Report("Out_Scenarios", "Scenario generation (full run)", blocks)


def mbp(io: WorkbookIO, progress: ProgressFn) -> Report:
    """MBP weights, their decomposition and the SBP-vs-MBP TE frontier.

    Only the user's own problem (the Inputs' limits) stops the run.  A point of the
    built-in frontier grid (:data:`~pyxl.templates.spec.MBP_FRONTIER_TE`) that cannot be
    solved, e.g. a market TE limit of 0.25 % under a tight ``mbp_max_weight``, is left
    blank in the frontier tables, as the Frontier sheet shows ``#N/A`` for it, and the
    reason is listed in a block of its own.
    """
    from pyxl.templates.spec import MBP_FRONTIER_TE

    _check_blocks(io, "mbp")
    opt = formula("MBP_OPTIMIZE")
    rep = formula("MBP_REPORT")
    kwargs = bind(io, "mbp", opt)
    progress("optimising", 0.1)
    weights = call("MBP_OPTIMIZE", kwargs.sources, **kwargs)
    rkw = bind(io, "mbp", rep, weights=weights)
    report = call("MBP_REPORT", rkw.sources, **rkw)
    names = _labels(read(io, "mbp_names"))
    bench = _rows(read(io, "mbp_bench_w"))
    wtable = [["Name", "Benchmark weight", "Weight"]]
    for i, name in enumerate(names):
        wtable.append([name, bench[i][0] if i < len(bench) else None,
                       weights[i][0] if i < len(weights) else None])

    n = len(MBP_FRONTIER_TE)
    runs: list[tuple[float, list[list[Any]] | None, list[list[Any]] | None]] = []
    unsolved = [["Portfolio", "Market TE limit", "Why it is blank (as the Frontier sheet's "
                 "weight column shows it)"]]
    for k, te in enumerate(MBP_FRONTIER_TE):
        reports: list[list[list[Any]] | None] = []
        for label, neutral, seg in (("SBP", False, None),
                                    ("MBP", True, kwargs.get("te_segments"))):
            progress(f"frontier {label} at TE {te:.2%}", 0.2 + 0.7 * (k + 0.5) / n)
            kw = kwargs.but(te_total=te, segment_neutral=neutral, te_segments=seg)
            try:
                w = call("MBP_OPTIMIZE", kw.sources, **kw)
                rkw_k = bind(io, "mbp", rep, weights=w)
                reports.append(call("MBP_REPORT", rkw_k.sources, **rkw_k))
            except MacroError as err:  # this grid point only: the user's problem solved
                why = str(err).removeprefix("MBP_OPTIMIZE: ").removeprefix("MBP_REPORT: ")
                progress(f"frontier {label} at TE {te:.2%} left blank: {why}", None)
                unsolved.append([label, te, why])
                reports.append(None)
        runs.append((te, reports[0], reports[1]))

    def column(rows: list[list[Any]], prefix: str) -> list[tuple[str, Any]]:
        return [(str(r[0]), r[1] if len(r) > 1 else None) for r in rows
                if str(r[0]).startswith(prefix)]

    blocks = [Block("Decomposition of the optimal portfolio (=MBP_REPORT)", report)]
    for prefix, title, chart in (
        ("Within-segment TE", "TE frontier like seed Table 1: within-segment TE by market TE "
         "limit, single benchmark (SBP) vs multiple benchmarks (MBP)", "line"),
        ("Names held", "Names held by market TE limit", None),
    ):
        # the labels of the user's own report: every report has the same rows
        labels = [lab for lab, _ in column(report, prefix)]
        # a point not solved: blank cells (a gap in the chart)
        blank = [(lab, None) for lab in labels]
        table = [["Market TE limit", *[f"SBP {x}" for x in labels],
                  *[f"MBP {x}" for x in labels]]]
        for te, r_sbp, r_mbp in runs:
            table.append([te, *[v for _, v in (blank if r_sbp is None else column(r_sbp, prefix))],
                          *[v for _, v in (blank if r_mbp is None else column(r_mbp, prefix))]])
        blocks.append(Block(title, table, chart=chart,
                            chart_title="Within-segment TE vs market TE limit" if chart else "",
                            x_title="Market TE limit", y_title="Within-segment TE"))
    if len(unsolved) > 1:
        blocks.append(Block("Frontier points not solved (left blank above; your own "
                            "limits on the Inputs sheet solved)", unsolved))
    blocks.append(Block("Weights (=MBP_OPTIMIZE)", wtable))
    return Report("Out_MBP", "Multiple-benchmark optimisation (full run)", blocks)


def kelly(io: WorkbookIO, progress: ProgressFn) -> Report:
    """Kelly leverage, growth and horizon for every asset, and a growth curve.

    Rows of ``kelly_names`` / ``kelly_mu`` / ``kelly_sigma`` are read side by
    side, one asset per row; a row blank in all three is skipped, a row with
    numbers but no name is labelled ``(row k)``.  ``Kelly leverage`` is
    ``kelly_fraction x n*`` with ``n* = (mu - rf) / sigma^2`` (seed 003), the
    growth is the annual log growth ``rf + n (mu - rf) - n^2 sigma^2 / 2`` at that
    leverage, and the horizon is the years to be ``kelly_confidence``-sure that
    leverage beats ``kelly_vs_leverage`` (Rubinstein 1991); a leverage whose
    growth does not exceed the benchmark's never does, shown as ``never``.  A row
    typed under the table (outside the names) is refused, as the sheets' check
    cells say: nothing would read it.
    """
    from pyxl.core.kelly import closed_form as kelly_core
    from pyxl.xl.convert import to_float

    _check_blocks(io, "kelly")
    raw_names = _column(read(io, "kelly_names"))
    raw_mus = _column(read(io, "kelly_mu"))
    raw_sigmas = _column(read(io, "kelly_sigma"))
    n_rows = max(len(raw_names), len(raw_mus), len(raw_sigmas))
    pad = [None] * n_rows
    raw_names, raw_mus, raw_sigmas = ((v + pad)[:n_rows] for v in
                                      (raw_names, raw_mus, raw_sigmas))
    rows: list[tuple[int, str, Any, Any]] = []
    for k in range(n_rows):
        label = _label(raw_names[k])
        mu, sigma = raw_mus[k], raw_sigmas[k]
        if label is None and _label(mu) is None and _label(sigma) is None:
            continue  # an empty row of the asset table
        rows.append((k + 1, label if label is not None else f"(row {k + 1})", mu, sigma))
    if not rows:
        raise MacroError("kelly_names: no asset in the table; type a name, mu and sigma "
                         "in at least one row")
    rf = read(io, "kelly_rf")
    fraction = read(io, "kelly_fraction")
    confidence = read(io, "kelly_confidence")
    vs = read(io, "kelly_vs_leverage")
    common = {"rf": "kelly_rf", "fraction": "kelly_fraction", "confidence": "kelly_confidence",
              "vs_leverage": "kelly_vs_leverage"}
    # the horizon's benchmark and confidence, checked as KELLY_HORIZON checks them
    n_vs = to_float(vs, "kelly_vs_leverage", default=0.0)
    conf = to_float(confidence, "kelly_confidence", default=0.95, lo=0.5, hi=1.0,
                    lo_open=True, hi_open=True)
    table = [["Asset", "mu", "sigma", "Kelly leverage", "Growth at leverage",
              "Years to outperform"]]
    for j, (k, name, mu, sigma) in enumerate(rows):
        progress(f"asset {name}", j / len(rows))
        where = {**common, "mu": f"kelly_mu (row {k}, {name})",
                 "sigma": f"kelly_sigma (row {k}, {name})"}
        lev = call("KELLY_LEVERAGE", where, mu=mu, sigma=sigma, rf=rf, fraction=fraction)[0][0]
        growth = call("KELLY_GROWTH", where, n=lev, mu=mu, sigma=sigma, rf=rf)[0][0]
        drift, _ = kelly_core.log_wealth_gap(float(lev), n_vs, to_float(mu, "mu"),
                                             to_float(sigma, "sigma"), to_float(rf, "rf"))
        if drift <= 0:  # includes lev == n_vs (a zero gap)
            # e.g. half Kelly vs the unlevered asset when n*/2 < 1: the Kelly sheet shows
            # KELLY_HORIZON's error in this row only; the report says "never" here
            horizon = "never"
        else:
            horizon = call("KELLY_HORIZON", where, mu=mu, sigma=sigma, rf=rf,
                           confidence=confidence, vs_leverage=vs, leverage=lev)[0][0]
        table.append([name, mu, sigma, lev, growth, horizon])
    names = [name for _, name, _, _ in rows]
    chosen = _label(read(io, "kelly_asset")) if io.has_name("kelly_asset") else None
    if chosen is not None and chosen not in names:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise MacroError(f"kelly_asset: {chosen!r} is not in the asset table; "
                         f"type one of its names ({shown}) or leave it blank for the first")
    i = names.index(chosen) if chosen is not None else 0
    _, name_i, mu_i, sigma_i = rows[i]
    full = call("KELLY_LEVERAGE", mu=mu_i, sigma=sigma_i, rf=rf, fraction=1.0)[0][0]
    top = max(2.0 * float(full), 1.0)
    curve = [["Leverage", f"Growth ({name_i})"]]
    for k in range(41):
        lev_k = top * k / 40
        curve.append([lev_k, call("KELLY_GROWTH", n=lev_k, mu=mu_i, sigma=sigma_i,
                                  rf=rf)[0][0]])
    return Report("Out_Kelly", "Kelly leverage report (full run)", [
        Block(f"Kelly table: annual decimals; Kelly leverage = kelly_fraction x n*, "
              f"n* = (mu - rf)/sigma^2; growth = annual log growth at that leverage; "
              f"years to beat leverage {n_vs:g} with confidence {conf:g}", table),
        Block(f"Growth vs leverage: {name_i}", curve, chart="scatter",
              chart_title=f"Expected growth vs leverage ({name_i})",
              x_title="Leverage n", y_title="Growth per year"),
    ])


#: Compute function by template key.
COMPUTE: dict[str, Callable[[WorkbookIO, ProgressFn], Report]] = {
    "mnvh": mnvh,
    "scenarios": scenarios,
    "mbp": mbp,
    "kelly": kelly,
}
