"""kelly.xlsx: the seed's Kelly table as live formulas, growth vs leverage, horizon."""

from __future__ import annotations

from pathlib import Path

from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.styles import Font

from pyxl.templates import spec as S
from pyxl.templates.common import (
    PCT,
    array_formula,
    block_check_formula,
    header,
    instructions,
    new_workbook,
    plain_lines,
    red_when_warning,
    scalar_inputs,
    set_widths,
    style_formula,
    style_input,
)

__all__ = ["build", "KELLY_MULTIPLES", "FRACTION_BLOCK", "SEED_LEVERAGE", "KELLY_FIRST_ROW",
           "GROWTH_FIRST_ROW"]

#: Block of the =KELLY_TABLE array formula on the Growth sheet.
FRACTION_BLOCK = "E4:K8"
#: Wealth level (fraction of the start) of the =KELLY_TABLE drawdown probability column.
FRACTION_DRAWDOWN = 0.5
#: Leverage grid of the Growth sheet as multiples of the Kelly leverage (0 to 2.5 by 0.1):
#: growth peaks at 1 and falls back to rf at 2.
KELLY_MULTIPLES = tuple(round(i * 0.1, 10) for i in range(26))
#: The leverage the seed prints for each asset (rounded to 0.1).
SEED_LEVERAGE = (2.3, 1.1, 1.9, 1.4, 5.7, 6.8, 5.3)
#: First data row of the asset table on the Kelly sheet.
KELLY_FIRST_ROW = 5
#: First data row of the leverage grid on the Growth sheet.
GROWTH_FIRST_ROW = 12

_STEPS_EN = (
    "Edit the yellow cells on 'Inputs': the risk-free rate, the Kelly fraction, the confidence "
    "and the asset table (arithmetic annual mean mu and volatility sigma, decimals).",
    "'Kelly' recomputes the seed's table live: =KELLY_LEVERAGE(mu, sigma, rf, fraction) next to "
    "the leverage the seed prints, the growth at that leverage and the years needed to be "
    "confident it beats cash (or the unlevered portfolio) with =KELLY_HORIZON.",
    "'Growth' plots the expected log growth g(n) = rf + n(mu - rf) - n^2 sigma^2 / 2 "
    "(=KELLY_GROWTH) against leverage n for the asset picked in Inputs!C8, and the "
    "fractional-Kelly table (1/4, 1/2, 3/4, full).",
    "Full Kelly is aggressive and its inputs are uncertain; read the horizon column before "
    "levering up (Rubinstein 1991: 208 years to be 95 % sure Kelly beats cash).",
    "Without Excel: 'pyxl calc kelly.xlsx -o out.xlsx' computes every formula. The Run button "
    "(PyXL ribbon) writes a fuller report to 'Out_Kelly'.",
)
_STEPS_JA = (
    "「Inputs」シートの黄色のセル (無リスク金利, ケリー比率, 信頼度, 資産表: 年率の算術平均 μ と "
    "ボラティリティ σ) を編集します。",
    "「Kelly」シートは論文の表を数式で再計算します: =KELLY_LEVERAGE と論文の値, その "
    "レバレッジでの成長率, =KELLY_HORIZON による優位が確定するまでの年数。",
    "「Growth」シートは C8 で選んだ資産について成長率とレバレッジの関係をグラフにし, "
    "フラクショナル・ケリー (1/4, 1/2, 3/4, フル) の表を示します。",
    "フル・ケリーは攻撃的で入力値も不確かです。レバレッジを掛ける前に期間の列を確認してください。",
    "Excelなしで: 'pyxl calc kelly.xlsx -o out.xlsx' で全数式を計算できます。"
    "実行ボタンは「Out_Kelly」に詳しいレポートを出力します。",
)



#: Inputs!C8 found in the names compared as text (a code typed as a number in one cell,
#: 8306, and as text in the other, '8306, is the same asset, as for the Run button);
#: #N/A when it is not listed exactly once.
_HIT = '(kelly_names&""=kelly_asset&"")'


def _pick(column: str) -> str:
    """Formula for the ``column`` value (``kelly_mu``, ``kelly_sigma``) of Inputs!C8.

    A blank cell is shown blank (``""``), not as SUMPRODUCT's 0: the PyXL formulas
    reading it then say ``mu: is blank; enter a number``, as the Run button does.
    """
    return (f'=IF(SUMPRODUCT({_HIT}*1)=1,IF(SUMPRODUCT({_HIT}*ISBLANK({column}))>0,"",'
            f"SUMPRODUCT({_HIT}*{column})),NA())")


def _mirror(cell: str) -> str:
    """``=cell``, but blank when ``cell`` is blank: ``=Inputs!B16`` alone shows a blank as
    0, and a blank mu read as 0 gave a leverage of -0.18 where the Run button refuses the
    blank.  A PyXL formula takes the ``""`` as blank (``mu: is blank; enter a number``),
    arithmetic on it is ``#VALUE!``: an input is never silently used as 0."""
    return f'=IF(ISBLANK({cell}),"",{cell})'


def build(path: Path) -> Path:
    """Write kelly.xlsx (formulas only; :func:`pyxl.templates.generate` calculates it)."""
    spec = S.KELLY
    wb = new_workbook(spec)
    instructions(wb["Instructions"], spec, _STEPS_EN, _STEPS_JA)

    # Inputs ----------------------------------------------------------------
    ws = wb["Inputs"]
    scalar_inputs(ws, spec, {
        "kelly_rf": 0.01, "kelly_fraction": 1.0, "kelly_confidence": 0.95,
        "kelly_vs_leverage": 0, "kelly_asset": S.KELLY_ASSETS[0][0],
    }, {"kelly_rf": PCT, "kelly_fraction": "0.00", "kelly_confidence": PCT})
    first = int(spec.input("kelly_names").ref.split(":")[0].split("$")[-1])
    header(ws, first - 1, 1, ["Asset / 資産", "mu (annual) / 期待リターン",
                              "sigma (annual) / ボラティリティ"])
    for i, (name, mu, sigma) in enumerate(S.KELLY_ASSETS):
        r = first + i
        style_input(ws.cell(r, 1, name))
        style_input(ws.cell(r, 2, mu), PCT)
        style_input(ws.cell(r, 3, sigma), PCT)
    ws.cell(first + len(S.KELLY_ASSETS) + 1, 1,
            "Source: the seed's table (r_f = 1 %). mu is the arithmetic mean. / "
            "出典: 論文の表 (r_f = 1 %)。μ は算術平均。")
    set_widths(ws, {"A": 52, "B": 40, "C": 20, "D": 20})
    # The table's check (spec.KELLY.checks): an 8th asset typed under the table is read
    # by nothing, so say so; mirrored above the Kelly sheet's table.
    (block,) = spec.blocks
    (in_sheet, in_ref, _), (k_sheet, k_ref, _) = spec.checks
    c = ws[in_ref]
    if in_sheet != "Inputs" or c.row >= first - 1 or c.row <= 8:
        raise RuntimeError(f"spec.KELLY.checks: {in_sheet}!{in_ref} must lie between the "
                           "scalar inputs and the asset table; update the spec")
    ws.cell(c.row, c.column - 1, "Asset table check / 資産表の確認").font = Font(bold=True)
    style_formula(c)
    c.value = block_check_formula(block)
    red_when_warning(ws, in_ref, block.subject)

    # Kelly sheet: the seed's table live -----------------------------------
    ws = wb["Kelly"]
    # Column E is fraction x n* (Inputs!C5); G, H and I are at that leverage, and the seed's
    # value in F is the full-Kelly n*, so the two agree only at fraction 1.
    hdr = ["Asset / 資産", "mu", "sigma", "Sharpe (mu-rf)/sigma",
           "Leverage n = fraction x n* (Inputs!C5) / レバレッジ",
           "Seed n* (full Kelly) / 論文の値", "Growth at n / 成長率", "Volatility at n",
           "Years to beat leverage Inputs!C7 (0 cash, 1 unlevered) / 優位確定までの年数"]
    r0 = KELLY_FIRST_ROW
    header(ws, r0 - 1, 1, hdr)
    ws.row_dimensions[r0 - 1].height = 60  # four wrapped lines: the long leverage labels
    c = ws[k_ref]
    if k_sheet != "Kelly" or c.row >= r0 - 1:
        raise RuntimeError(f"spec.KELLY.checks: {k_sheet}!{k_ref} must lie above the Kelly "
                           "table; update the spec")
    ws.cell(c.row, c.column - 1, "Asset table / 資産表の確認").font = Font(bold=True)
    style_formula(c)
    c.value = f"={in_sheet}!{in_ref}"
    red_when_warning(ws, k_ref, block.subject)
    for i in range(len(S.KELLY_ASSETS)):
        r = r0 + i
        src = first + i
        ws.cell(r, 1, _mirror(f"Inputs!A{src}"))
        ws.cell(r, 2, _mirror(f"Inputs!B{src}"))
        ws.cell(r, 3, _mirror(f"Inputs!C{src}"))
        ws.cell(r, 4, f"=(B{r}-kelly_rf)/C{r}")
        ws.cell(r, 5, f"=KELLY_LEVERAGE(B{r},C{r},kelly_rf,kelly_fraction)")
        ws.cell(r, 6, SEED_LEVERAGE[i])
        ws.cell(r, 7, f"=KELLY_GROWTH(E{r},B{r},C{r},kelly_rf)")
        ws.cell(r, 8, f"=E{r}*C{r}")
        ws.cell(r, 9, f"=KELLY_HORIZON(B{r},C{r},kelly_rf,kelly_confidence,"
                      f"kelly_vs_leverage,E{r})")
        for j, fmt in zip(range(1, 10), (None, PCT, PCT, "0.000", "0.00", "0.0", PCT, PCT,
                                        "#,##0.0"), strict=True):
            style_formula(ws.cell(r, j), fmt)
    # Rubinstein (1991) check block.
    rb = r0 + len(S.KELLY_ASSETS) + 2
    ws.cell(rb, 1, "Rubinstein (1991) check / ルビンシュタインの検証").font = Font(bold=True)
    header(ws, rb + 1, 1, ["Input / 入力", "Value / 値"])
    rows = (("m: log (geometric) excess return / 対数超過リターン", 0.025),
            ("sigma / ボラティリティ", 0.18), ("rf / 無リスク金利", 0.01))
    for k, (lab, val) in enumerate(rows):
        ws.cell(rb + 2 + k, 1, lab)
        style_input(ws.cell(rb + 2 + k, 2, val), PCT)
    ws.cell(rb + 5, 1, "Arithmetic mu = rf + m + sigma^2/2 / 算術平均")
    ws.cell(rb + 5, 2, f"=B{rb + 4}+B{rb + 2}+B{rb + 3}^2/2")
    style_formula(ws.cell(rb + 5, 2), PCT)
    mu_cell, sig_cell, rf_cell = f"B{rb + 5}", f"B{rb + 3}", f"B{rb + 4}"
    ws.cell(rb + 6, 1, "Years, Kelly vs cash (seed: about 208) / 現金に対して")
    ws.cell(rb + 6, 2, f"=KELLY_HORIZON({mu_cell},{sig_cell},{rf_cell},0.95,0)")
    ws.cell(rb + 7, 1, "Years, Kelly vs all-stock (seed: about 4,700) / 株式100%に対して")
    ws.cell(rb + 7, 2, f"=KELLY_HORIZON({mu_cell},{sig_cell},{rf_cell},0.95,1)")
    for rr in (rb + 6, rb + 7):
        style_formula(ws.cell(rr, 2), "#,##0")
    set_widths(ws, {"A": 44, "B": 12, "C": 10, "D": 14, "E": 14, "F": 14, "G": 14, "H": 14,
                    "I": 22})
    ws.freeze_panes = f"B{r0}"

    # Growth sheet --------------------------------------------------------
    ws = wb["Growth"]
    ws["A4"] = "Asset (Inputs!C8) / 資産"
    ws["B4"] = "=kelly_asset"
    ws["A5"] = "mu"
    ws["B5"] = _pick("kelly_mu")
    ws["A6"] = "sigma"
    ws["B6"] = _pick("kelly_sigma")
    ws["A7"] = "Kelly leverage n* / ケリー・レバレッジ"
    ws["B7"] = "=KELLY_LEVERAGE(B5,B6,kelly_rf,1)"
    ws["A8"] = "Growth at n* / 最大成長率"
    ws["B8"] = "=KELLY_GROWTH(B7,B5,B6,kelly_rf)"
    for rr, fmt in ((4, None), (5, PCT), (6, PCT), (7, "0.00"), (8, PCT)):
        style_formula(ws.cell(rr, 2), fmt)
    g0 = GROWTH_FIRST_ROW
    header(ws, g0 - 1, 1, ["Multiple of n* / ケリー倍率", "Leverage n / レバレッジ",
                           "Approximation g(n) / 近似",
                           "Exact, lognormal, daily rebalancing / 厳密 (日次リバランス)"])
    for i, x in enumerate(KELLY_MULTIPLES):
        r = g0 + i
        style_input(ws.cell(r, 1, x), "0.0")
        style_formula(ws.cell(r, 2, f"=A{r}*$B$7"), "0.00")
        style_formula(ws.cell(r, 3, f"=KELLY_GROWTH(B{r},$B$5,$B$6,kelly_rf)"), PCT)
        style_formula(ws.cell(r, 4, f'=KELLY_GROWTH(B{r},$B$5,$B$6,kelly_rf,"lognormal",252)'),
                      PCT)
    last = g0 + len(KELLY_MULTIPLES) - 1
    chart = ScatterChart()
    chart.title = "Log growth vs leverage / レバレッジと成長率"
    chart.style = 13
    chart.y_axis.title = "growth per year"
    chart.x_axis.title = "leverage n"
    chart.y_axis.number_format = "0%"
    chart.x_axis.number_format = "0.0"
    chart.height, chart.width = 9, 17
    xs = Reference(ws, min_col=2, min_row=g0, max_row=last)
    for c in (3, 4):
        series = Series(Reference(ws, min_col=c, min_row=g0 - 1, max_row=last), xs,
                        title_from_data=True)
        series.marker.symbol = "none"
        chart.series.append(series)
    plain_lines(chart)
    chart.legend.position = "b"
    ws.add_chart(chart, "E11")
    # Fractional Kelly table (=KELLY_TABLE, 5 rows x 7 columns).
    ws.cell(2, 5, "Fractional Kelly for the asset above / フラクショナル・ケリー").font = Font(
        bold=True)
    ws.cell(3, 5, f"P = probability of ever falling to {FRACTION_DRAWDOWN:.0%} of the start / "
                  f"P: 資産が当初の{FRACTION_DRAWDOWN:.0%}まで減る確率")
    array_formula(ws, FRACTION_BLOCK, f"=KELLY_TABLE($B$5,$B$6,kelly_rf,{FRACTION_DRAWDOWN:g})")
    for row in ws[FRACTION_BLOCK][1:]:
        for j, c in enumerate(row):
            c.number_format = ("General", "0.00", PCT, PCT, PCT, PCT, "0.0")[j]
    set_widths(ws, {"A": 36, "B": 16, "C": 16, "D": 20, "E": 14, "F": 11, "G": 11, "H": 11, "I": 11,
                    "J": 15, "K": 13})
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
