"""mnvh_ledger.xlsx: MNVH (eq. 1) and the Ledger-SPT cash account, step by step.

Ledger timing (seed eq. 1, no look-ahead): row ``t`` is bar ``t`` with
prices ``p_t`` (Prices row ``t + 2``).  Positions ``q_{t-1}`` were held over
``[t-1, t]``; on seeing ``p_t`` the target is
``=MNVH_STEP(q_{t-1}, p_{t-1}, p_t, w, lam, beta)``, the proposed trade is
``dq = target - q_{t-1}``, ``kappa = LEDGER_KAPPA(p_t, dq, cash_{t-1},
fee_rate, fixed_fee, min_cash)`` scales it, and the scaled trade executes at
``p_t``.  Plain Excel formulas then keep the cash account:

* ``fees_t = fee_rate * sum|q_t - q_{t-1}| p_t + fixed_fee * #(q_t != q_{t-1})``
* ``cash_t = cash_{t-1} - sum (q_t - q_{t-1}) p_t - fees_t``
* ``NAV_t = cash_t + sum q_t p_t``;  ``MTM_t = sum q_{t-1} (p_t - p_{t-1})``
* ``PnL_t = NAV_t - NAV_{t-1}``, and the check column ``PnL - (MTM - fees)``
  is zero (no financing on this sheet: cash earns nothing).

The price table the formulas read (``mnvh_price_table``) has no date column, so
both sheets take the Prices rows in sheet order as time order.  The date check
(Backtest!B3, mirrored above the Ledger's check column) reads ``mnvh_dates`` and
says so, in red, when the rows are newest first or out of order
(:func:`date_check_formula`).
"""

from __future__ import annotations

from pathlib import Path

from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils.cell import absolute_coordinate

from pyxl.templates import spec as S
from pyxl.templates.common import (
    MONEY,
    PCT,
    array_formula,
    block_check_formula,
    col,
    header,
    instructions,
    new_workbook,
    plain_lines,
    red_when_warning,
    scalar_inputs,
    set_widths,
    style_formula,
    style_input,
    text,
)

__all__ = ["build", "price_frame", "backtest_formats", "date_check_formula", "DEFAULTS",
           "LEDGER_FIRST_ROW", "LEDGER_STEPS", "LEDGER_COLUMNS", "BACKTEST_BLOCK",
           "BACKTEST_FORMULA", "BLOCK", "BLOCK_OUTSIDE", "check_formula",
           "DATE_CHECK", "DATE_OK", "DATE_NEWEST_FIRST", "DATE_UNSORTED",
           "DATE_NOT_CHECKED"]

#: Default inputs (also used by the tests to recompute the ledger).
DEFAULTS = {
    "mnvh_lam": 0.9,
    "mnvh_beta": 10_000_000.0,
    "mnvh_cash0": 1_000_000.0,
    "mnvh_fee_rate": 0.0005,
    "mnvh_fixed_fee": 1.0,
    "mnvh_min_cash": 0.0,
    "mnvh_weighting": "equal",
}
#: Bars the Ledger sheet steps through (the first LEDGER_STEPS + 1 price rows); the
#: Backtest sheet's =MNVH_BACKTEST uses the whole price table.
LEDGER_STEPS = 60
#: Row of bar t = 0 on the Ledger sheet (the start: no positions, cash C0).
LEDGER_FIRST_ROW = 6
N = S.MNVH_STOCKS
#: First column of each block on the Ledger sheet (1-based).
LEDGER_COLUMNS = {
    "t": 1, "date": 2,
    "target": 3,                 # N columns: =MNVH_STEP (array formula over the row)
    "dq": 3 + N,                 # N columns: target - q_prev
    "kappa": 3 + 2 * N,          # =LEDGER_KAPPA
    "q": 4 + 2 * N,              # N columns: executed positions
    "trade": 4 + 3 * N,          # sum dq_exec * p
    "fees": 5 + 3 * N,
    "cash": 6 + 3 * N,
    "value": 7 + 3 * N,          # sum q p
    "nav": 8 + 3 * N,
    "pnl": 9 + 3 * N,
    "mtm": 10 + 3 * N,
    "check": 11 + 3 * N,
}
#: Block of the =MNVH_BACKTEST metrics table on the Backtest sheet.
BACKTEST_BLOCK = "A5:B26"
#: The backtest formula: the ledger sheet's own settings (absolute beta, the same fees and
#: cash floor, no spread, no financing) over the whole price block, so its first
#: LEDGER_STEPS steps reproduce the Ledger sheet exactly.  It reads ``mnvh_prices``, the
#: block without its ticker row: the metrics need no tickers, and Tokyo codes typed as
#: numbers in row 1 (7203 over yen prices) would otherwise be read as a first bar.
#: A blank cell would take the formula's default, not what the Ledger sheet does with it (a
#: blank fee rate ran at 5 bp where the Ledger charges none, a blank lambda at 0.9 where the
#: Ledger errors): a blank lambda or starting cash reaches the formula as the text
#: :data:`BLANK`, so the block shows ``#PyXL! lam: text '(blank)' at the cell; enter a
#: number``, and a blank fee rate is 0, as on the Ledger.  A blank beta is refused by the
#: formula itself in ``"absolute"`` mode (currency, no default).
BLANK = "(blank)"


def _required(name: str) -> str:
    """``name``, or the text :data:`BLANK` when its cell is blank (Excel, LibreOffice, calc)."""
    return f'IF(ISBLANK({name}),"{BLANK}",{name})'


BACKTEST_FORMULA = (
    f'=MNVH_BACKTEST(mnvh_prices,{_required("mnvh_lam")},mnvh_beta,'
    'mnvh_weighting,IF(ISBLANK(mnvh_fee_rate),0,mnvh_fee_rate),0,"",'
    f'FALSE,FALSE,"absolute",{_required("mnvh_cash0")},"","","",0,mnvh_fixed_fee,0,0,'
    'mnvh_min_cash)'
)

#: The date-order check cells (sheet, cell): Backtest!B3 first, then its Ledger mirror.
DATE_CHECK = tuple((sheet, ref) for sheet, ref, _ in S.MNVH.checks)
#: What the date check shows.  The warnings start with "Prices are" (the red rule's test).
DATE_OK = "ok"
DATE_NEWEST_FIRST = "Prices are newest first: sort the Prices sheet by date, oldest first"
DATE_UNSORTED = "Prices are not in date order: sort the Prices sheet by date, oldest first"
DATE_NOT_CHECKED = "not checked: Prices column A is not all dates"
#: The Prices block (A1:K251, header row and date column included) and its warning.
BLOCK = S.MNVH.blocks[0]
BLOCK_OUTSIDE = BLOCK.message

_STEPS_EN = (
    "Edit the yellow cells on 'Inputs' (lambda, beta, starting cash, fees, cash floor, target "
    "weights) or paste your own prices on 'Prices' (dates in column A, one ticker per column). "
    f"The sheets are laid out for exactly {S.MNVH_STOCKS} tickers x {S.MNVH_DAYS} days "
    f"(Prices!A1:{col(1 + S.MNVH_STOCKS)}{1 + S.MNVH_DAYS} with the ticker header row): "
    "paste that shape over the whole block. A wider or longer table turns Backtest!B3 red "
    "and the Run button refuses it; cells left from the old prices are still used, so clear "
    "the block before pasting a shorter table.",
    "'Ledger' runs the strategy one bar per row: =MNVH_STEP gives the eq. 1 target positions "
    "from the previous positions and the last two price rows, =LEDGER_KAPPA the largest scale "
    "kappa in [0, 1] of the trade that keeps cash >= the floor after fees; cash, NAV, PnL and "
    "a PnL check column are plain Excel formulas you can audit.",
    "Timing: the target decided from p(t-1) -> p(t) trades at p(t); nothing uses a later price.",
    "'Backtest' shows =MNVH_BACKTEST's metrics for the whole price table (equal weights by "
    "default, see Inputs!C10) and the ledger's equity curve.",
    "The sheets take the Prices rows in sheet order as time order, so keep them oldest "
    "first: newest-first rows (as many downloads come) would run the strategy backwards in "
    "time. Backtest!B3 (and the cell above the Ledger's check column) reads the dates in "
    "column A and turns red, naming the fix, when they are not oldest first.",
    "Without Excel: 'pyxl calc mnvh_ledger.xlsx -o out.xlsx'. The PyXL ribbon's Run button "
    "writes the full engine's ledger and metrics to 'Out_Backtest'.",
)
_STEPS_JA = (
    "「Inputs」の黄色のセル (λ, β, 初期現金, 手数料, 最低現金, 目標ウェイト) を編集するか, "
    f"「Prices」に自分の価格を貼り付けます (A列に日付, 1列に1銘柄)。シートは {S.MNVH_STOCKS} 銘柄 "
    f"x {S.MNVH_DAYS} 日 (見出し行を含め Prices!A1:{col(1 + S.MNVH_STOCKS)}"
    f"{1 + S.MNVH_DAYS}) 専用です。ブロック全体を同じ形で貼り付けてください: "
    "範囲より広い・長い表では Backtest!B3 が赤くなり, 実行ボタンは実行しません。"
    "残った古い価格はそのまま使われるため, 短い表を貼る前にブロックを消去してください。",
    "「Ledger」は1行1期で戦略を実行します: =MNVH_STEP が式1の目標数量を, =LEDGER_KAPPA が "
    "手数料後も現金が下限以上となる最大の取引倍率 κ を返します。現金, NAV, 損益と検算列は "
    "通常のExcel数式です。",
    "タイミング: p(t-1)→p(t) で決めた目標は p(t) で約定します。将来の価格は使いません。",
    "「Backtest」は価格表全体に対する =MNVH_BACKTEST の指標と台帳の資産曲線を示します。",
    "シートは「Prices」の行順を時間順として扱うため, 古い順に並べてください: 新しい順 "
    "(多くのダウンロード形式) のままでは戦略が時間を逆にたどります。Backtest!B3 (と Ledger "
    "の検算列の上のセル) がA列の日付を確認し, 古い順でなければ赤く表示して直し方を示します。",
    "Excelなしで: 'pyxl calc mnvh_ledger.xlsx -o out.xlsx'。実行ボタンは「Out_Backtest」に "
    "エンジンの台帳と指標を出力します。",
)


def price_frame():
    """The bundled price slice used by the template (last MNVH_DAYS days, MNVH_TICKERS)."""
    from pyxl.data import load_sp500_prices

    return load_sp500_prices()[list(S.MNVH_TICKERS)].iloc[-S.MNVH_DAYS:].round(4)


#: Number formats of the =MNVH_BACKTEST rows by metric key: returns, volatility, drawdown and
#: hit rate are decimals shown as percents; counts as integers; the residual in scientific form
#: (a 1e-16 residual must not read 0.0000); the rest (ratios, x NAV) with four decimals.
_BACKTEST_FMT = {
    "periods": "#,##0", "years": "0.00", "final_nav": MONEY,
    "total_return": PCT, "cagr": PCT, "ann_vol": PCT, "max_drawdown": PCT, "hit_rate": PCT,
    "fee_gross": PCT,
    "max_dd_duration": "#,##0", "risk_events": "#,##0", "identity_residual": "0.00E+00",
}


def backtest_formats() -> list[str]:
    """Number format of each row of the =MNVH_BACKTEST block, in the formula's row order."""
    from pyxl.core.metrics import METRICS
    from pyxl.xl.udf_backtest import EXTRA

    keys = [*METRICS, *EXTRA]
    first, last = (int(x[1:]) for x in BACKTEST_BLOCK.split(":"))
    if len(keys) != last - first + 1:  # the block must hold every row of the formula
        raise RuntimeError(f"BACKTEST_BLOCK {BACKTEST_BLOCK} holds {last - first + 1} rows, "
                           f"=MNVH_BACKTEST returns {len(keys)}; resize the block")
    return [_BACKTEST_FMT.get(k, "#,##0.0000") for k in keys]


def date_check_formula() -> str:
    """The date-order check: a plain Excel formula over ``mnvh_dates`` (Prices column A).

    Shows :data:`DATE_OK` when the dates never decrease, :data:`DATE_NEWEST_FIRST` when
    they never increase (and some decrease), :data:`DATE_UNSORTED` otherwise.  The Run
    button's rule (``_check_date_order`` in :mod:`pyxl.macros.engines`): trailing blank
    rows (a shorter table) are ignored, and a column that is not all dates (a text cell,
    a blank row between dates) is not checked (:data:`DATE_NOT_CHECKED`).  Excel stores
    dates as serial numbers, so "a date" here is any number.

    Only the name ``mnvh_dates`` is referenced, so rows inserted anywhere in the table
    keep the check whole.  (It compared two ranges shifted by one row, ``A2:A250`` with
    ``A3:A251``; Excel moves such ranges apart when a row is inserted at the first row of
    one of them, and the check then showed ``#VALUE!``.)  With ``t`` the row within the
    name (1 first) and ``less_t`` the number of dates below the t-th, the dates never
    decrease exactly when ``less_t <= t - 1`` for every t (the earliest of a descent's
    equal dates breaks it otherwise); "never increase" likewise with the dates above.
    A blank gap is a filled row below the first COUNTA(mnvh_dates) rows.  Uses only
    COUNTA, COUNT, COUNTIF, SUMPRODUCT, MAX, MIN, ROW, ISNUMBER and IF with
    ``(comparison)*x`` products inside SUMPRODUCT (array evaluation in every Excel),
    which Excel, LibreOffice and the ``formulas`` package of ``pyxl calc`` evaluate alike.

    Returns
    -------
    str
        The formula, ``=IF(...)``.
    """
    d = "mnvh_dates"
    t_minus_1 = f"(ROW({d})-MIN(ROW({d})))"
    gaps = f'(SUMPRODUCT(MAX(({d}<>"")*ROW({d}))-MIN(ROW({d}))+1)>COUNTA({d}))*1'
    not_dates = f"COUNTA({d})-COUNT({d})+{gaps}"  # text cells + blank gaps
    down = f'SUMPRODUCT((COUNTIF({d},"<"&{d})>{t_minus_1})*ISNUMBER({d}))'
    up = f'SUMPRODUCT((COUNTIF({d},">"&{d})>{t_minus_1})*ISNUMBER({d}))'
    return (f'=IF({not_dates}>0,"{DATE_NOT_CHECKED}",IF({down}=0,"{DATE_OK}",'
            f'IF({up}=0,"{DATE_NEWEST_FIRST}","{DATE_UNSORTED}")))')


def check_formula() -> str:
    """Backtest!B3: the Prices block check (:attr:`pyxl.templates.spec.MNVH` ``.blocks``),
    then the date-order check (:func:`date_check_formula`).

    Shows ``BLOCK.message`` while any cell just right of or below Prices!A1:K251 holds a
    value (a table pasted wider or longer than the block, which the sheets would read
    only in part), else what the date check shows.  Every warning starts with
    "Prices are" (the red rule's test).
    """
    return block_check_formula(BLOCK, date_check_formula().lstrip("="))


def _red_when_warning(ws, ref: str) -> None:
    """Light-red fill and dark-red bold text while the check cell shows a warning."""
    red_when_warning(ws, ref, "Prices are")


def _rng(c1: int, r: int, c2: int) -> str:
    return f"{col(c1)}{r}:{col(c2)}{r}"


def build(path: Path) -> Path:
    """Write mnvh_ledger.xlsx (formulas only)."""
    import pyxl.udfs as udfs

    spec = S.MNVH
    wb = new_workbook(spec)
    instructions(wb["Instructions"], spec, _STEPS_EN, _STEPS_JA)
    prices = price_frame()

    # Inputs ----------------------------------------------------------------
    ws = wb["Inputs"]
    scalar_inputs(ws, spec, DEFAULTS, {
        "mnvh_lam": "0.00", "mnvh_beta": "#,##0", "mnvh_cash0": "#,##0",
        "mnvh_fee_rate": "0.00%", "mnvh_fixed_fee": MONEY, "mnvh_min_cash": "#,##0"})
    wref = spec.input("mnvh_weights").ref.replace("$", "")
    first_w = ws[wref][0]
    wrow = first_w[0].row
    ws.cell(wrow - 1, 1, "Target weights w (ledger) / 目標ウェイト").font = Font(bold=True)
    ws.cell(wrow, 1, "w (sum / 合計 =)")
    for j, cell in enumerate(first_w):
        ws.cell(wrow - 1, cell.column, f"=Prices!{col(2 + j)}1").font = Font(bold=True)
        cell.value = round(1.0 / N, 10)
        style_input(cell, "0.00%")
    c = ws.cell(wrow, 2, f"=SUM({wref})")
    style_formula(c, "0.00%")
    set_widths(ws, {"A": 50, "B": 36, "C": 13, "D": 15})
    for j in range(1, N):
        ws.column_dimensions[col(3 + j)].width = 9

    # Prices ----------------------------------------------------------------
    ws = wb["Prices"]
    header(ws, 1, 1, ["Date", *S.MNVH_TICKERS])
    for i, (dt, row) in enumerate(prices.iterrows()):
        c = ws.cell(2 + i, 1, dt.to_pydatetime())
        c.number_format = "yyyy-mm-dd"
        for j, v in enumerate(row.to_numpy()):
            style_input(ws.cell(2 + i, 2 + j, float(v)), "#,##0.00")
    ws.freeze_panes = "B2"
    set_widths(ws, {"A": 12})

    # Ledger ----------------------------------------------------------------
    ws = wb["Ledger"]
    L = LEDGER_COLUMNS
    r0 = LEDGER_FIRST_ROW
    groups = [("target", "Target q (=MNVH_STEP) / 目標数量"), ("dq", "Proposed trade dq / 取引案"),
              ("q", "Executed positions q / 約定後数量")]
    for key, lab in groups:
        ws.cell(r0 - 2, L[key], lab).font = Font(bold=True)
        header(ws, r0 - 1, L[key], list(S.MNVH_TICKERS))
        for j in range(N):  # linked to Prices row 1, so pasted tickers show here too
            c = ws.cell(r0 - 1, L[key] + j, f"=Prices!{col(2 + j)}$1")
            c.data_type = "f"
    header(ws, r0 - 1, 1, ["t", "Date"])
    singles = [("kappa", "kappa κ"), ("trade", "Trade value / 取引額"), ("fees", "Fees / 手数料"),
               ("cash", "Cash / 現金"), ("value", "Positions / 建玉評価額"), ("nav", "NAV"),
               ("pnl", "PnL / 損益"), ("mtm", "MTM / 評価損益"),
               ("check", "PnL-(MTM-fees) / 検算")]
    for key, lab in singles:
        header(ws, r0 - 1, L[key], [lab])
    ws.cell(r0 - 3, 1, "Row t: target from p(t-1)->p(t), executed at p(t) / "
                       "行t: p(t-1)→p(t) から目標を決め p(t) で約定")
    n_rows = LEDGER_STEPS + 1
    # Bar t is row t + 1 of the named price table, read with INDEX(name, t + 1, 0) (its
    # whole row) rather than Prices row t + 2: a row inserted among the first bars widens
    # the names, so the Ledger steps through it as the Backtest sheet does (direct
    # references would be shifted past it by Excel and skip that day).
    for t in range(n_rows):
        r = r0 + t
        ws.cell(r, L["t"], t)
        ws.cell(r, L["date"], f"=INDEX(mnvh_dates,{t + 1})").number_format = "yyyy-mm-dd"
        q_now = _rng(L["q"], r, L["q"] + N - 1)
        p_now = f"INDEX(mnvh_prices,{t + 1},0)"
        if t == 0:
            for j in range(N):
                style_formula(ws.cell(r, L["q"] + j, 0), "#,##0.00")
            # blank starting cash: the text BLANK, so every later cash cell errors
            style_formula(ws.cell(r, L["cash"], "=" + _required("mnvh_cash0")), MONEY)
        else:
            q_prev = _rng(L["q"], r - 1, L["q"] + N - 1)
            p_prev = f"INDEX(mnvh_prices,{t},0)"
            array_formula(ws, _rng(L["target"], r, L["target"] + N - 1),
                          f"=MNVH_STEP({q_prev},{p_prev},{p_now},mnvh_weights,mnvh_lam,mnvh_beta)",
                          "#,##0.00")
            for j in range(N):
                tc, qc = col(L["target"] + j), col(L["q"] + j)
                style_formula(ws.cell(r, L["dq"] + j, f"={tc}{r}-{qc}{r - 1}"), "#,##0.00")
                style_formula(ws.cell(r, L["q"] + j,
                                      f"={qc}{r - 1}+{col(L['kappa'])}{r}*{col(L['dq'] + j)}{r}"),
                              "#,##0.00")
            dq = _rng(L["dq"], r, L["dq"] + N - 1)
            cash_prev = f"{col(L['cash'])}{r - 1}"
            style_formula(ws.cell(r, L["kappa"],
                                  f"=LEDGER_KAPPA({p_now},{dq},{cash_prev},mnvh_fee_rate,"
                                  f"mnvh_fixed_fee,mnvh_min_cash)"), "0.0000")
            style_formula(ws.cell(r, L["trade"], f"=SUMPRODUCT({q_now}-{q_prev},{p_now})"),
                          MONEY)
            style_formula(ws.cell(r, L["fees"],
                                  f"=mnvh_fee_rate*SUMPRODUCT(ABS({q_now}-{q_prev}),{p_now})"
                                  f"+mnvh_fixed_fee*SUMPRODUCT(({q_now}<>{q_prev})*1)"), MONEY)
            style_formula(ws.cell(r, L["cash"],
                                  f"={cash_prev}-{col(L['trade'])}{r}-{col(L['fees'])}{r}"), MONEY)
            style_formula(ws.cell(r, L["pnl"], f"={col(L['nav'])}{r}-{col(L['nav'])}{r - 1}"),
                          MONEY)
            style_formula(ws.cell(r, L["mtm"], f"=SUMPRODUCT({q_prev},{p_now}-{p_prev})"), MONEY)
            style_formula(ws.cell(r, L["check"],
                                  f"={col(L['pnl'])}{r}-({col(L['mtm'])}{r}-{col(L['fees'])}{r})"),
                          "0.00E+00")
        style_formula(ws.cell(r, L["value"], f"=SUMPRODUCT({q_now},{p_now})"), MONEY)
        style_formula(ws.cell(r, L["nav"], f"={col(L['cash'])}{r}+{col(L['value'])}{r}"), MONEY)
    (_, bt_ref), (led_sheet, led_ref) = DATE_CHECK
    if led_sheet != "Ledger" or ws[led_ref].column != L["check"] or ws[led_ref].row >= r0 - 1:
        raise RuntimeError(f"spec.MNVH.checks: {led_sheet}!{led_ref} must sit above the "
                           "Ledger's check column; update the spec")
    c = ws[led_ref]
    ws.cell(c.row, c.column - 1, "Prices / 価格表:").font = Font(bold=True)
    ws.cell(c.row, c.column - 1).alignment = Alignment(horizontal="right")
    style_formula(c)
    c.value = f"=Backtest!{absolute_coordinate(bt_ref)}"
    _red_when_warning(ws, led_ref)
    ws.freeze_panes = ws.cell(r0, 3)
    # Too wide for one page: print at 55 % across several pages instead.
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    ws.page_setup.scale = 55
    ws.column_dimensions["B"].width = 11
    for key in ("trade", "fees", "cash", "value", "nav", "pnl", "mtm", "check"):
        ws.column_dimensions[col(L[key])].width = 14
    last = r0 + n_rows - 1

    # Backtest ---------------------------------------------------------------
    ws = wb["Backtest"]
    text(ws, 4, 1, "=MNVH_BACKTEST(mnvh_prices, ...): whole table / 全期間の指標").font = (
        Font(bold=True))
    c = ws[bt_ref]
    # what it checks is in its messages, the Instructions and docs/workbooks.md; a longer
    # label would be cut off by the value cell
    ws.cell(c.row, c.column - 1, "Prices check / 価格表の確認").font = Font(bold=True)
    style_formula(c)
    c.value = check_formula()
    _red_when_warning(ws, bt_ref)
    if hasattr(udfs, "MNVH_BACKTEST"):
        array_formula(ws, BACKTEST_BLOCK,
                      BACKTEST_FORMULA, "General")
        for r, fmt in enumerate(backtest_formats(), start=5):
            ws.cell(r, 2).number_format = fmt
    ws["D4"] = "Ledger sheet summary / 台帳の要約"
    ws["D4"].font = Font(bold=True)
    summary = (
        ("Start NAV / 初期NAV", f"=Ledger!{col(L['nav'])}{r0}", MONEY),
        ("End NAV / 最終NAV", f"=Ledger!{col(L['nav'])}{last}", MONEY),
        ("Total return / 総リターン", "=E6/E5-1", PCT),
        ("Total fees / 手数料合計", f"=SUM(Ledger!{col(L['fees'])}{r0 + 1}:"
                                  f"{col(L['fees'])}{last})", MONEY),
        ("Sum of PnL - (end - start NAV) / 損益の検算",
         f"=SUM(Ledger!{col(L['pnl'])}{r0 + 1}:{col(L['pnl'])}{last})-(E6-E5)", "0.00E+00"),
        ("Min kappa / 最小κ", f"=MIN(Ledger!{col(L['kappa'])}{r0 + 1}:"
                              f"{col(L['kappa'])}{last})", "0.0000"),
        ("Max |PnL check| / 検算の最大誤差",
         f"=MAX(ABS(MAX(Ledger!{col(L['check'])}{r0 + 1}:{col(L['check'])}{last})),"
         f"ABS(MIN(Ledger!{col(L['check'])}{r0 + 1}:{col(L['check'])}{last})))", "0.00E+00"),
    )
    for k, (lab, f, fmt) in enumerate(summary):
        ws.cell(5 + k, 4, lab)
        style_formula(ws.cell(5 + k, 5, f), fmt)
    chart = LineChart()
    chart.title = "Ledger NAV (equity curve) / 資産曲線"
    chart.y_axis.title = "NAV (USD)"
    chart.y_axis.number_format = "#,##0"
    chart.height, chart.width = 9, 20
    led = wb["Ledger"]
    chart.add_data(Reference(led, min_col=L["nav"], min_row=r0 - 1, max_row=last),
                   titles_from_data=True)
    chart.set_categories(Reference(led, min_col=L["date"], min_row=r0, max_row=last))
    chart.x_axis.number_format = "yyyy-mm"
    chart.x_axis.tickLblSkip = 40
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.legend = None
    plain_lines(chart)
    ws.add_chart(chart, "D14")
    set_widths(ws, {"A": 30, "B": 16, "C": 3, "D": 40, "E": 16})

    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
