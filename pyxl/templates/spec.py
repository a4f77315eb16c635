"""The layout contract of the template workbooks (``workbooks/*.xlsx``).

This module is the single source of truth for what the templates contain and
where: the generators in :mod:`pyxl.templates` build the workbooks from it,
and the button macros (:mod:`pyxl.macros`) read it to find their inputs and
their output sheets.  Nothing here imports Excel, xlwings or openpyxl.

Conventions every template follows
----------------------------------
* Sheet roles (:data:`ROLES`):

  - ``"instructions"``: read-me text in English and Japanese; never written.
  - ``"inputs"``: cells the user edits (styled as inputs: pale yellow fill,
    blue font), each reachable by a workbook-scoped defined name listed in
    :attr:`TemplateSpec.inputs`.  Macros read them and never write them.
  - ``"data"``: bulk input tables (prices, a universe); also user-editable and
    also named.  Macros read, never write.
  - ``"formulas"``: live PyXL and plain Excel formulas computed from the
    inputs.  Macros never write here either (the formulas recompute).
  - ``"output"``: sheets whose names start with ``"Out_"``.  Only the button
    macros write here, and they clear the sheet first.  The template ships
    them empty except for a title in cell A1.

* Every workbook carries a defined name ``pyxl_template`` whose value is the
  template key as a text constant (``="kelly"``), so a macro can identify the
  template whatever the file was renamed to.
* Defined names are workbook-scoped, lower-case, prefixed by the template key.
  ``ref`` is an absolute A1 reference *without* the sheet name; the sheet is
  :attr:`InputName.sheet`.
* PyXL formulas that return more than one cell are stored as array formulas
  over the block they fill (see ``docs/workbooks.md``); :attr:`TemplateSpec.
  arrays` lists those blocks so tests and the workbook engine can check them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "ROLES",
    "InputName",
    "SheetSpec",
    "TemplateSpec",
    "DataBlock",
    "beyond_block",
    "TEMPLATES",
    "template",
    "sheet_role",
    "output_sheets",
    "MNVH_DAYS",
    "MNVH_STOCKS",
    "MNVH_TICKERS",
    "SCN_MONTHS",
    "SCN_TICKERS",
    "SCN_RT",
    "MBP_NAMES",
    "MBP_FACTORS",
    "MBP_SEGMENTS",
    "MBP_FRONTIER_TE",
    "KELLY_ASSETS",
]

ROLES = ("instructions", "inputs", "data", "formulas", "output")


@dataclass(frozen=True)
class SheetSpec:
    """One sheet: its exact name, role and a bilingual one-line purpose."""

    name: str
    role: str
    title_en: str
    title_ja: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if (self.role == "output") != self.name.startswith("Out_"):
            raise ValueError(f"sheet {self.name!r}: output sheets and only they start with Out_")


@dataclass(frozen=True)
class InputName:
    """A workbook-scoped defined name pointing at user input.

    Attributes
    ----------
    name : str
        The defined name (``mnvh_lam``).
    sheet : str
        Sheet holding the cells.
    ref : str
        Absolute A1 reference on that sheet (``$C$4`` or ``$B$2:$K$251``).
    kind : str
        ``"number"``, ``"integer"``, ``"choice"``, ``"bool"``, ``"text"``,
        ``"vector"`` (a row or column), ``"matrix"`` or ``"labels"``.
    doc_en, doc_ja : str
        What to enter, with units.
    choices : tuple of str
        Allowed values of a ``"choice"`` (the cell has data validation).
    choices_from : str
        Instead of fixed ``choices``, the defined name whose cells list the allowed
        values, so the drop-down follows a table the user edits (``kelly_names``).
    """

    name: str
    sheet: str
    ref: str
    kind: str
    doc_en: str
    doc_ja: str
    choices: tuple[str, ...] = ()
    choices_from: str = ""

    @property
    def address(self) -> str:
        """``'Sheet'!$A$1`` form, as stored in the defined name."""
        return f"'{self.sheet}'!{self.ref}"


#: How far past a data block the check looks: this many columns right of it (over its
#: first two rows, the header and the first bar) and two rows below it (over its
#: columns).  A table pasted from A1 that is wider or longer than the block always
#: fills the first of those cells.
BEYOND_COLUMNS = 100
BEYOND_ROWS = 2


@dataclass(frozen=True)
class DataBlock:
    """A data table of fixed size that the template's formulas and Run button read.

    The Ledger sheet of ``mnvh_ledger.xlsx`` is laid out per ticker, and the named
    ranges have a fixed size, so a table pasted larger than the block is read only
    in part.  The template's check cell shows :attr:`message` (red) while any cell
    just right of or below the block (:func:`beyond_block`) holds a value, and the
    Run button refuses to run.

    Attributes
    ----------
    sheet : str
        Sheet holding the block.
    ref : str
        Absolute A1 reference of the whole block: header row and date column included.
    subject : str
        Start of the warning, ``"Prices are"``; the check's red rule tests for it.
    shape : str
        What the block holds, ``"10 tickers x 250 days"``.
    columns_right, rows_below : int
        How far right of and below the block the check looks (:func:`beyond_block`).
    names : tuple of str
        The named ranges that make up the block (the Run button follows them).
    fix : str
        The end of the warning: what the user should do.
    cli_any_size : bool
        Whether a command-line tool reads the same table at any size (the Run button
        then says so).
    """

    sheet: str
    ref: str
    subject: str
    shape: str
    #: Columns right of the block the check looks at (over its first two rows); 0 when a
    #: column added to the right is not data the sheets would miss.
    columns_right: int = BEYOND_COLUMNS
    #: Rows below the block the check looks at (over its columns).
    rows_below: int = BEYOND_ROWS
    #: Named ranges that make up the block, which the Run button follows when rows are
    #: inserted; empty: every named range on the block's sheet (a block in A1).
    names: tuple[str, ...] = ()
    fix: str = "delete the extra rows and columns"
    cli_any_size: bool = True

    @property
    def edge_probes(self) -> tuple[tuple[str, str], ...]:
        """The check cell's probes, each widened back over the block's last column or row:
        ``(("$K$1:$DG$2", "$K$1:$K$2"), ("$A$251:$K$253", "$A$251:$K$251"))`` for
        ``$A$1:$K$251``; the cells outside are the first range less the second.

        A probe starting just past the block moves with a row (column) inserted just
        below (right of) the block, so a value typed in that new row lay between the
        table and the probe: nothing read it and the check said "ok".  Starting on the
        block's last row, the probe widens over such a row instead, as Excel widens any
        range for a row inserted below its first row; the block's own last row (the
        second range, which moves with the first) is subtracted.
        """
        (c1, r1), (c2, r2) = self.corners
        out = []
        if self.columns_right > 0:
            out.append((_abs(c2, r1, c2 + self.columns_right, r1 + 1),
                        _abs(c2, r1, c2, r1 + 1)))
        if self.rows_below > 0:
            out.append((_abs(c1, r2, c2, r2 + self.rows_below), _abs(c1, r2, c2, r2)))
        return tuple(out)

    @property
    def corners(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((column, row), (column, row))`` of the top-left and bottom-right cells."""
        first, last = (_cell_rc(a) for a in self.ref.split(":"))
        return first, last

    @property
    def cells(self) -> str:
        """The block as ``A1:K251`` (no ``$``)."""
        return self.ref.replace("$", "")

    @property
    def message(self) -> str:
        """What the check cell shows while data lies outside the block."""
        return (f"{self.subject} also outside {self.cells}: the sheets read only "
                f"{self.shape}; {self.fix}")

    @property
    def top_rows(self) -> str:
        """The block's header cell and the first data cell below it, ``$A$1:$A$2``.

        Excel (and LibreOffice) widen a named range for a row inserted inside it, but
        move the whole range down for a row inserted at its first row: a row inserted
        as the table's new first row lies outside every name, and outside the check's
        probes, so nothing would read it and nothing would say so.  This range grows
        to three rows exactly then (:func:`pyxl.templates.common.block_check_formula`).
        """
        (c1, r1), _ = self.corners
        return _abs(c1, r1, c1, r1 + 1)

    @property
    def top_name(self) -> str:
        """Defined name of :attr:`top_rows` (``pyxl_top_Prices``), which the template
        defines and both the check cell and the Run button read: the two tell a row
        inserted at the table's first row by the same cells."""
        return "pyxl_top_" + re.sub(r"\W", "_", self.sheet)

    @property
    def top_address(self) -> str:
        """``'Prices'!$A$1:$A$2``, as stored in :attr:`top_name`."""
        return f"'{self.sheet}'!{self.top_rows}"

    @property
    def top_message(self) -> str:
        """What the check cell shows after a row was inserted at the table's first row."""
        first = self.top_rows.split(":")[1].replace("$", "")
        return (f"{self.subject} also in a row inserted above the table's first row "
                f"({first}): the names start below it and the sheets do not read it; "
                "delete that row, and insert rows below the first row instead")


def beyond_block(ref: str, columns: int = BEYOND_COLUMNS,
                 rows: int = BEYOND_ROWS) -> tuple[str, ...]:
    """Absolute refs of the cells just right of and just below a block ``$A$1:$K$251``.

    Returns ``("$L$1:$DG$2", "$A$252:$K$253")`` for that block: ``columns``
    (:data:`BEYOND_COLUMNS`) columns to the right over the block's first two rows, and
    ``rows`` (:data:`BEYOND_ROWS`) rows below it over its columns.  A reach of 0
    leaves that side out.
    """
    (c1, r1), (c2, r2) = (_cell_rc(a) for a in ref.split(":"))
    probes = []
    if columns > 0:
        probes.append(_abs(c2 + 1, r1, c2 + columns, r1 + 1))
    if rows > 0:
        probes.append(_abs(c1, r2 + 1, c2, r2 + rows))
    return tuple(probes)


def _cell_rc(a1: str) -> tuple[int, int]:
    """``"$K$251"`` -> ``(11, 251)`` (column, row; 1-based)."""
    m = re.fullmatch(r"\$?([A-Z]{1,3})\$?(\d+)", a1.strip())
    if not m:
        raise ValueError(f"not an A1 cell reference: {a1!r}")
    c = 0
    for ch in m.group(1):
        c = 26 * c + ord(ch) - 64
    return c, int(m.group(2))


@dataclass(frozen=True)
class TemplateSpec:
    """One template workbook."""

    key: str
    filename: str
    title_en: str
    title_ja: str
    sheets: tuple[SheetSpec, ...]
    inputs: tuple[InputName, ...]
    #: Name of the button macro (a Python function in :mod:`pyxl.macros`) the
    #: template's Run button calls; the ribbon's Run does the same.
    macro: str
    #: Blocks filled by multi-cell PyXL formulas: (sheet, "A1:B2", formula name).
    arrays: tuple[tuple[str, str, str], ...] = field(default=())
    #: Check cells: (sheet, "B3", what is checked).  Each is a plain Excel formula that
    #: shows ``"ok"`` when the inputs are consistent and a message naming the fix when
    #: they are not (red by conditional formatting); the tests calculate them.
    checks: tuple[tuple[str, str, str], ...] = field(default=())
    #: Fixed-size data tables (:class:`DataBlock`) whose check cell warns, and whose
    #: Run button refuses, while data lies outside them.
    blocks: tuple[DataBlock, ...] = field(default=())

    def sheet(self, name: str) -> SheetSpec:
        """The sheet called ``name`` (KeyError when absent)."""
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)

    def input(self, name: str) -> InputName:
        """The defined input called ``name`` (KeyError when absent)."""
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(name)


def _col(n: int) -> str:
    """1-based column number to letters (1 -> A, 27 -> AA)."""
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _abs(c1: int, r1: int, c2: int | None = None, r2: int | None = None) -> str:
    a = f"${_col(c1)}${r1}"
    if c2 is None:
        return a
    return f"{a}:${_col(c2)}${r2}"


# ---------------------------------------------------------------------------
# Sizes of the bundled data slices
# ---------------------------------------------------------------------------

#: MNVH: trading days and stocks (last MNVH_DAYS days of the bundled S&P 500 data).
MNVH_DAYS = 250
MNVH_TICKERS = ("AAPL", "BAC", "CVX", "JNJ", "JPM", "KO", "MSFT", "PG", "WMT", "XOM")
MNVH_STOCKS = len(MNVH_TICKERS)

#: Scenarios: monthly returns (months) of a few stocks, and the RT portfolios.
SCN_MONTHS = 120
SCN_TICKERS = ("AAPL", "JNJ", "JPM", "KO", "XOM")
SCN_RT = 3

#: MBP: a small synthetic TSE-like universe (names, factors, size segments).
MBP_NAMES = 120
MBP_FACTORS = 6
MBP_SEGMENTS = 3
#: Market TE limits of the frontier table (annual decimals), as seed Table 1.
MBP_FRONTIER_TE = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05)

#: Kelly: the seed's table (name, mu, sigma), r_f = 1 %.
KELLY_ASSETS = (
    ("S&P 500", 0.085, 0.182),
    ("TOPIX", 0.046, 0.177),
    ("MSCI KOKUSAI", 0.078, 0.19),
    ("MSCI EM", 0.089, 0.235),
    ("eMAXIS balance (8 assets)", 0.055, 0.0886),
    ("eMAXIS balance (4 assets)", 0.0544, 0.0811),
    ("Global 3x balanced", 0.161, 0.169),
)

# ---------------------------------------------------------------------------
# mnvh_ledger.xlsx
# ---------------------------------------------------------------------------
# Inputs sheet: labels in column A (English), B (Japanese), values in column C.
_MNVH_IN = "Inputs"
_MNVH_PX = "Prices"
_mnvh_scalars = (
    ("mnvh_lam", "number", "lambda: inventory decay in [0, 1]", "λ: 在庫の減衰率 (0〜1)"),
    ("mnvh_beta", "number", "beta: trading intensity (currency units, eq. 1)",
     "β: 取引強度 (通貨単位, 式1)"),
    ("mnvh_cash0", "number", "C0: starting cash (USD)", "C0: 初期現金 (米ドル)"),
    ("mnvh_fee_rate", "number", "Proportional fee, decimal of notional (0.0005 = 5 bp)",
     "比例手数料 (約定代金に対する比率)"),
    ("mnvh_fixed_fee", "number", "Fixed fee per non-zero trade (USD)",
     "1取引あたりの固定手数料 (米ドル)"),
    ("mnvh_min_cash", "number", "Minimum cash after trading (USD, may be negative = credit line)",
     "取引後の最低現金残高 (米ドル, 負なら与信枠)"),
    ("mnvh_weighting", "choice", "Target weights for the backtest sheet",
     "バックテストの目標ウェイト方式"),
)
MNVH_WEIGHTING_CHOICES = ("equal", "invvol", "markowitz")
_mnvh_inputs = [
    InputName(n, _MNVH_IN, _abs(3, 4 + i), k, en, ja,
              MNVH_WEIGHTING_CHOICES if k == "choice" else ())
    for i, (n, k, en, ja) in enumerate(_mnvh_scalars)
]
# Target weights of the ledger sheet: one row under the tickers (row 14, columns C..).
_mnvh_inputs.append(InputName(
    "mnvh_weights", _MNVH_IN, _abs(3, 14, 2 + MNVH_STOCKS, 14), "vector",
    "Target notional weights w of the ledger sheet (sum to 1, may be negative)",
    "台帳シートの目標ウェイト w (合計1, 負も可)"))
# Prices sheet: A1 "Date", B1.. tickers; A2.. dates; B2.. prices.
_mnvh_inputs += [
    InputName("mnvh_tickers", _MNVH_PX, _abs(2, 1, 1 + MNVH_STOCKS, 1), "labels",
              "Tickers (header row of the price table)", "銘柄コード (価格表の見出し)"),
    InputName("mnvh_dates", _MNVH_PX, _abs(1, 2, 1, 1 + MNVH_DAYS), "vector",
              "Dates of the price table", "価格表の日付"),
    InputName("mnvh_prices", _MNVH_PX, _abs(2, 2, 1 + MNVH_STOCKS, 1 + MNVH_DAYS), "matrix",
              "Daily prices, T x N, positive (USD)", "日次価格 T x N (正の値, 米ドル)"),
    InputName("mnvh_price_table", _MNVH_PX, _abs(2, 1, 1 + MNVH_STOCKS, 1 + MNVH_DAYS),
              "matrix", "Prices with the ticker header row", "見出し行付きの価格表"),
]

MNVH = TemplateSpec(
    key="mnvh",
    filename="mnvh_ledger.xlsx",
    title_en="MNVH + Ledger-SPT: step-by-step ledger and backtest",
    title_ja="MNVH + Ledger-SPT: ステップごとの台帳とバックテスト",
    sheets=(
        SheetSpec("Instructions", "instructions", "How to use this workbook", "使い方"),
        SheetSpec(_MNVH_IN, "inputs", "Parameters and target weights", "パラメータと目標ウェイト"),
        SheetSpec(_MNVH_PX, "data", "Daily prices (bundled S&P 500 data)",
                  "日次価格 (同梱のS&P 500データ)"),
        SheetSpec("Ledger", "formulas",
                  "Step-by-step ledger: =MNVH_STEP targets, =LEDGER_KAPPA, cash, NAV, PnL",
                  "ステップごとの台帳: 目標数量, κ, 現金, NAV, 損益"),
        SheetSpec("Backtest", "formulas", "=MNVH_BACKTEST metrics and the equity chart",
                  "バックテスト指標と資産曲線"),
        SheetSpec("Out_Backtest", "output", "Full engine run written by the Run button",
                  "実行ボタンによるエンジン結果"),
    ),
    inputs=tuple(_mnvh_inputs),
    macro="run_mnvh",
    checks=(
        # Beside the Backtest results, and mirrored above the Ledger's check column
        # (column 11 + 3 N, row 4: see pyxl.templates.mnvh.LEDGER_COLUMNS).
        ("Backtest", "B3", "Prices dates (mnvh_dates) run oldest first"),
        ("Ledger", f"{_col(11 + 3 * MNVH_STOCKS)}4", "the Backtest sheet's date check"),
    ),
    blocks=(DataBlock(_MNVH_PX, _abs(1, 1, 1 + MNVH_STOCKS, 1 + MNVH_DAYS), "Prices are",
                      f"{MNVH_STOCKS} tickers x {MNVH_DAYS} days"),),
)

# ---------------------------------------------------------------------------
# scenarios.xlsx
# ---------------------------------------------------------------------------
_SCN_IN = "Inputs"
_SCN_H = "History"
_SCN_T = "Targets"
_scn_scalars = (
    ("scn_block", "integer", "Block length in periods (0 = automatic, Politis-White)",
     "ブロック長 (0 = 自動)"),
    ("scn_n_paths", "integer", "Number of paths", "パス数"),
    ("scn_lam", "number", "EWMA decay lambda (0.94)", "EWMA減衰係数 λ"),
    ("scn_periods", "choice", "Periods per year (12 monthly, 52 weekly, 252 daily)",
     "年間期間数 (12, 52, 252)"),
    ("scn_seed", "integer", "Random seed", "乱数シード"),
    ("scn_ridge", "number", "Ridge of the drift delta (0 = exact)", "ドリフト補正のリッジ係数"),
    ("scn_fan_rt", "choice", "RT portfolio shown in the fan chart (1..K)",
     "ファンチャートに表示するポートフォリオ (1..K)"),
)
_scn_inputs = [
    InputName(n, _SCN_IN, _abs(3, 4 + i), k, en, ja,
              ("12", "52", "252") if n == "scn_periods"
              else (tuple(str(k + 1) for k in range(SCN_RT)) if n == "scn_fan_rt" else ()))
    for i, (n, k, en, ja) in enumerate(_scn_scalars)
]
_NS = len(SCN_TICKERS)
_scn_inputs += [
    InputName("scn_returns", _SCN_H, _abs(2, 2, 1 + _NS, 1 + SCN_MONTHS), "matrix",
              "Monthly simple returns, T x N (decimals)", "月次単純リターン T x N"),
    InputName("scn_tickers", _SCN_H, _abs(2, 1, 1 + _NS, 1), "labels", "Asset names", "資産名"),
    InputName("scn_return_table", _SCN_H, _abs(2, 1, 1 + _NS, 1 + SCN_MONTHS), "matrix",
              "Returns with the asset-name header row", "見出し行付きのリターン表"),
    # Targets sheet: row 3 mu_ann (C3:..), cov from row 6, RT weights below.
    InputName("scn_mu_ann", _SCN_T, _abs(3, 4, 2 + _NS, 4), "vector",
              "Annual expected returns (decimals)", "年率期待リターン"),
    InputName("scn_cov_ann", _SCN_T, _abs(3, 8, 2 + _NS, 7 + _NS), "matrix",
              "Annual covariance matrix N x N", "年率共分散行列 N x N"),
    InputName("scn_rt_weights", _SCN_T, _abs(3, 10 + _NS, 2 + _NS, 9 + _NS + SCN_RT),
              "matrix", "Risk-tolerance portfolio weights, K x N (rows sum to 1)",
              "リスク許容度別ポートフォリオのウェイト K x N"),
]

SCENARIOS = TemplateSpec(
    key="scenarios",
    filename="scenarios.xlsx",
    title_en="Scenario generation: block bootstrap + EWMA recolour + drift delta",
    title_ja="シナリオ生成: ブロック・ブートストラップ + EWMA再着色 + ドリフト補正",
    sheets=(
        SheetSpec("Instructions", "instructions", "How to use this workbook", "使い方"),
        SheetSpec(_SCN_IN, "inputs", "Bootstrap and recolour settings", "設定"),
        SheetSpec(_SCN_H, "data", "Monthly return history", "月次リターン履歴"),
        SheetSpec(_SCN_T, "inputs", "Annual targets and RT portfolios",
                  "年率目標とリスク許容度別ポートフォリオ"),
        SheetSpec("Summary", "formulas", "=MBB_RECOLOR summary and the fan chart",
                  "=MBB_RECOLOR サマリーとファンチャート"),
        SheetSpec("Out_Scenarios", "output", "Full scenario run written by the Run button",
                  "実行ボタンによるシナリオ結果"),
    ),
    inputs=tuple(_scn_inputs),
    macro="run_scenarios",
    checks=(("Summary", "B3", "nothing lies outside the History block"),),
    blocks=(DataBlock(_SCN_H, _abs(1, 1, 1 + _NS, 1 + SCN_MONTHS), "History is",
                      f"{_NS} assets x {SCN_MONTHS} months"),),
)

# ---------------------------------------------------------------------------
# mbp.xlsx
# ---------------------------------------------------------------------------
_MBP_IN = "Inputs"
_MBP_U = "Universe"
_MBP_F = "Factors"
_mbp_scalars = (
    ("mbp_te_total", "number", "Market tracking-error limit (annual, 0.01 = 1 %)",
     "市場トラッキングエラー上限 (年率)"),
    ("mbp_segment_neutral", "bool", "Segment-neutral holdings (TRUE/FALSE)",
     "セグメント中立 (TRUE/FALSE)"),
    ("mbp_max_weight", "number", "Maximum weight per name (decimal)", "1銘柄の最大ウェイト"),
)
_mbp_inputs = [
    InputName(n, _MBP_IN, _abs(3, 4 + i), k, en, ja, ("TRUE", "FALSE") if k == "bool" else ())
    for i, (n, k, en, ja) in enumerate(_mbp_scalars)
]
_mbp_inputs.append(InputName(
    "mbp_te_segments", _MBP_IN, _abs(3, 9, 2 + MBP_SEGMENTS, 9), "vector",
    "Within-segment TE limit per segment (blank = no limit)",
    "セグメント内TE上限 (空欄 = 制限なし)"))
# Universe sheet: A name, B segment, C bench weight, D alpha, E spec var, F.. exposures.
_NU = MBP_NAMES
_mbp_inputs += [
    InputName("mbp_names", _MBP_U, _abs(1, 2, 1, 1 + _NU), "labels", "Security names", "銘柄名"),
    InputName("mbp_segment", _MBP_U, _abs(2, 2, 2, 1 + _NU), "vector",
              "Segment label 1..M (1 = largest caps)", "セグメント番号 1..M"),
    InputName("mbp_bench_w", _MBP_U, _abs(3, 2, 3, 1 + _NU), "vector",
              "Benchmark weights (sum to 1)", "ベンチマーク・ウェイト"),
    InputName("mbp_alpha", _MBP_U, _abs(4, 2, 4, 1 + _NU), "vector",
              "Expected active return (annual decimals)", "期待アクティブ・リターン (年率)"),
    InputName("mbp_spec_var", _MBP_U, _abs(5, 2, 5, 1 + _NU), "vector",
              "Specific variance (annual)", "固有分散 (年率)"),
    InputName("mbp_exposures", _MBP_U, _abs(6, 2, 5 + MBP_FACTORS, 1 + _NU), "matrix",
              "Factor exposures B, N x K", "ファクター・エクスポージャー N x K"),
    InputName("mbp_factor_cov", _MBP_F, _abs(2, 2, 1 + MBP_FACTORS, 1 + MBP_FACTORS), "matrix",
              "Factor covariance F, K x K (annual)", "ファクター共分散 K x K (年率)"),
]

MBP = TemplateSpec(
    key="mbp",
    filename="mbp.xlsx",
    title_en="Multiple-benchmark portfolio optimisation (MBP)",
    title_ja="複数ベンチマーク・ポートフォリオ最適化 (MBP)",
    sheets=(
        SheetSpec("Instructions", "instructions", "How to use this workbook", "使い方"),
        SheetSpec(_MBP_IN, "inputs", "Limits", "制約条件"),
        SheetSpec(_MBP_U, "data", "Universe: segments, benchmark, alpha, exposures",
                  "ユニバース: セグメント, ベンチマーク, アルファ, エクスポージャー"),
        SheetSpec(_MBP_F, "data", "Factor covariance", "ファクター共分散"),
        SheetSpec("Portfolio", "formulas", "=MBP_OPTIMIZE weights and =MBP_REPORT",
                  "=MBP_OPTIMIZE のウェイトと =MBP_REPORT"),
        SheetSpec("Frontier", "formulas", "TE frontier: SBP vs MBP like seed Table 1",
                  "TEフロンティア: SBP と MBP (論文の表1)"),
        SheetSpec("Out_MBP", "output", "Full optimisation written by the Run button",
                  "実行ボタンによる最適化結果"),
    ),
    inputs=tuple(_mbp_inputs),
    macro="run_mbp",
    checks=(("Portfolio", "E3", "nothing lies outside the Universe and Factors blocks"),),
    blocks=(DataBlock(_MBP_U, _abs(1, 1, 5 + MBP_FACTORS, 1 + MBP_NAMES), "Universe is",
                      f"{MBP_NAMES} names x {MBP_FACTORS} factors"),
            DataBlock(_MBP_F, _abs(1, 1, 1 + MBP_FACTORS, 1 + MBP_FACTORS), "Factors are",
                      f"{MBP_FACTORS} x {MBP_FACTORS} factors")),
)

# ---------------------------------------------------------------------------
# kelly.xlsx
# ---------------------------------------------------------------------------
_K_IN = "Inputs"
_kelly_scalars = (
    ("kelly_rf", "number", "Risk-free rate r_f (annual decimal)", "無リスク金利 (年率)"),
    ("kelly_fraction", "number", "Kelly fraction (1 = full Kelly, 0.5 = half)",
     "ケリー比率 (1 = フル, 0.5 = ハーフ)"),
    ("kelly_confidence", "number", "Confidence for the horizon (0.95)", "期間計算の信頼度"),
    ("kelly_vs_leverage", "choice", "Horizon benchmark leverage: 0 = cash, 1 = unlevered",
     "比較対象のレバレッジ: 0 = 現金, 1 = レバレッジなし"),
    ("kelly_asset", "choice", "Asset shown in the growth chart", "グラフに表示する資産"),
)
# kelly_asset's drop-down lists the asset table as it stands (kelly_names), so an asset
# typed over a row or inserted into the table can be picked.
_kelly_inputs = [
    InputName(n, _K_IN, _abs(3, 4 + i), k, en, ja,
              ("0", "1") if n == "kelly_vs_leverage" else (),
              "kelly_names" if n == "kelly_asset" else "")
    for i, (n, k, en, ja) in enumerate(_kelly_scalars)
]
_NK = len(KELLY_ASSETS)
# Asset table on the Inputs sheet: header row 12, rows 13..; A name, B mu, C sigma.
_kelly_inputs += [
    InputName("kelly_names", _K_IN, _abs(1, 13, 1, 12 + _NK), "labels", "Asset names", "資産名"),
    InputName("kelly_mu", _K_IN, _abs(2, 13, 2, 12 + _NK), "vector",
              "Expected annual return mu (arithmetic, decimal)", "期待リターン μ (年率, 算術)"),
    InputName("kelly_sigma", _K_IN, _abs(3, 13, 3, 12 + _NK), "vector",
              "Annual volatility sigma (decimal)", "年率ボラティリティ σ"),
]

KELLY = TemplateSpec(
    key="kelly",
    filename="kelly.xlsx",
    title_en="Kelly leverage: optimal leverage, growth and time to outperform",
    title_ja="ケリー基準のレバレッジ: 最適レバレッジ, 成長率, 優位が確定するまでの期間",
    sheets=(
        SheetSpec("Instructions", "instructions", "How to use this workbook", "使い方"),
        SheetSpec(_K_IN, "inputs", "Rates and the asset table", "金利と資産表"),
        SheetSpec("Kelly", "formulas", "The seed's table as live formulas", "論文の表 (数式)"),
        SheetSpec("Growth", "formulas", "Growth vs leverage and the chart",
                  "レバレッジと成長率のグラフ"),
        SheetSpec("Out_Kelly", "output", "Full Kelly report written by the Run button",
                  "実行ボタンによるケリー分析"),
    ),
    inputs=tuple(_kelly_inputs),
    macro="run_kelly",
    # On Inputs above the asset table, and mirrored above the Kelly sheet's table.
    checks=(("Inputs", "B10", "nothing lies below the asset table"),
            ("Kelly", "B3", "the Inputs sheet's asset table check")),
    # An 8th asset typed in row 20 is shown nowhere: the Kelly sheet has 7 rows and
    # the names kelly_names/mu/sigma end in row 19.  Only the row below is looked at
    # (row 21 holds the table's source note; a column added right of the table is
    # not read and not missed).
    blocks=(DataBlock(_K_IN, _abs(1, 12, 3, 12 + _NK), "Assets are", f"{_NK} assets",
                      columns_right=0, rows_below=1,
                      names=("kelly_names", "kelly_mu", "kelly_sigma"),
                      fix="insert rows inside the table instead (the Run button reports "
                          "every row; the Kelly sheet keeps the seed's 7 rows)",
                      cli_any_size=False),),
)

#: Every template by key, in the order ``pyxl templates`` writes them.
TEMPLATES: dict[str, TemplateSpec] = {t.key: t for t in (MNVH, SCENARIOS, MBP, KELLY)}


def template(key_or_filename: str) -> TemplateSpec:
    """The template with this key (``"mnvh"``) or file name (``"mnvh_ledger.xlsx"``)."""
    for t in TEMPLATES.values():
        if key_or_filename in (t.key, t.filename):
            return t
    raise KeyError(key_or_filename)


def sheet_role(template_key: str, sheet_name: str) -> str:
    """Role of ``sheet_name`` in template ``template_key``.

    Sheets not in the spec (added by the user) are ``"output"`` when their
    name starts with ``Out_`` and ``"inputs"`` otherwise (never overwritten).
    """
    try:
        return template(template_key).sheet(sheet_name).role
    except KeyError:
        return "output" if sheet_name.startswith("Out_") else "inputs"


def output_sheets(template_key: str) -> tuple[str, ...]:
    """Names of the sheets the Run button may clear and write."""
    return tuple(s.name for s in template(template_key).sheets if s.role == "output")
