"""mbp.xlsx: multiple-benchmark optimisation on a universe small enough for a workbook.

The universe is a 120-name slice of the engine's synthetic TSE-like generator
(:func:`pyxl.core.mbp.universe.make_universe` with segment breaks at caps rank
20 and 60, i.e. top 20 / 21-60 / 61-120, the proportions of top 100 /
101-500 / 501+), reduced to a 6-factor model: the four style factors
(market, size, value, momentum) and two sectors (industries 1-16 and 17-33
pooled; their factor covariance is the sub-block of the first two industry
factors, so it stays positive definite).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font

from pyxl.templates import spec as S
from pyxl.templates.common import (
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

__all__ = ["build", "universe", "DEFAULTS", "FACTOR_NAMES", "PORTFOLIO_FIRST_ROW",
           "REPORT_ROWS", "FRONTIER", "report_block"]

FACTOR_NAMES = ("market", "size", "value", "momentum", "sector_1", "sector_2")
DEFAULTS = {"mbp_te_total": 0.01, "mbp_segment_neutral": True, "mbp_max_weight": 0.2}
#: Default within-segment TE limits (segments 1, 2, 3).
TE_SEGMENTS = (0.01, 0.03, 0.05)
#: Rows of the =MBP_REPORT table (labels + values).
REPORT_ROWS = 24
#: First asset row of the Portfolio sheet.
PORTFOLIO_FIRST_ROW = 6
#: Frontier sheet layout: summary rows, weight block and report blocks.
FRONTIER = {"summary_row": 5, "weights_row": 30, "report_col": 30}


def universe() -> dict[str, np.ndarray]:
    """The template's universe: names, segment, bench_w, alpha, spec_var, exposures, factor_cov."""
    from pyxl.core.mbp.universe import make_universe

    u = make_universe(n=S.MBP_NAMES, seed=2024, breaks=(20, 60))
    ind = u.exposures[:, 4:].argmax(axis=1)
    B = np.column_stack([u.exposures[:, :4], (ind < 16).astype(float),
                         (ind >= 16).astype(float)])
    F = u.factor_cov[:6, :6]
    r = lambda a: np.round(a, 10)  # noqa: E731 - short, cells keep 10 decimals
    return {
        "names": np.array([f"JP{i + 1:03d}" for i in range(S.MBP_NAMES)]),
        "segment": u.segment.astype(float),
        "bench_w": r(u.bench_w),
        "alpha": r(u.alpha),
        "spec_var": r(u.spec_var),
        "exposures": r(B),
        "factor_cov": r(F),
    }


def report_formats(ws, top_row: int, left_col: int, labels) -> None:
    """Number formats of an =MBP_REPORT block by row label (percent, count, squared TE)."""
    for i, lab in enumerate(labels):
        if lab.startswith("Names held"):
            fmt = "0"
        elif "^2" in lab or lab.startswith(("Delta", "2 x", "Sum", "Residual")):
            fmt = "0.00E+00"
        else:
            fmt = "0.00%"
        ws.cell(top_row + i, left_col + 1).number_format = fmt


def report_labels(u: dict[str, np.ndarray]) -> list[str]:
    """Row labels of =MBP_REPORT for this universe (the benchmark portfolio's report)."""
    import pyxl.udfs as udfs

    colv = lambda v: [[float(x)] for x in v]  # noqa: E731
    rows = udfs.MBP_REPORT(colv(u["bench_w"]), colv(u["bench_w"]), colv(u["segment"]),
                           u["exposures"].tolist(), u["factor_cov"].tolist(),
                           colv(u["spec_var"]))
    return [str(r[0]) for r in rows]


def report_block(top_row: int, left_col: int) -> str:
    """A1 block of an =MBP_REPORT table whose top-left cell is (top_row, left_col)."""
    return f"{col(left_col)}{top_row}:{col(left_col + 1)}{top_row + REPORT_ROWS - 1}"


_ARGS = "mbp_bench_w,mbp_segment,mbp_exposures,mbp_factor_cov,mbp_spec_var"

_STEPS_EN = (
    "Edit the limits on 'Inputs': the market tracking-error limit, segment neutrality, the "
    "maximum weight and the within-segment TE limit of each segment (blank = no limit).",
    "'Universe' holds the names, their size segment (1 = top 20 caps, 2 = 21-60, 3 = 61-120), "
    "benchmark weights, alpha, specific variance and factor exposures; 'Factors' the factor "
    "covariance. Paste your own (same shape) to optimise your universe: the sheets read "
    f"exactly {S.MBP_NAMES} names and {S.MBP_FACTORS} factors, so a larger table turns "
    "Portfolio!E3 red and the Run button refuses it, and a smaller one leaves old rows in use "
    "(clear the block first).",
    "'Portfolio': =MBP_OPTIMIZE returns the weight column (long-only, fully invested, "
    "maximising alpha) and =MBP_REPORT decomposes the tracking error: market, segment and "
    "within-segment TE, names held per segment and the cross terms, which add up to TE^2.",
    "'Frontier' repeats the seed's Table 1: a single-benchmark portfolio (SBP, market TE limit "
    "only) at market TE 0.25 %..5 % leaves the small-cap within-segment TE uncontrolled; the "
    "multiple-benchmark portfolio (MBP, with the within-segment limits) bounds it.",
    "Without Excel: 'pyxl calc mbp.xlsx -o out.xlsx'. The PyXL ribbon's Run button writes the full "
    "optimisation report to 'Out_MBP'.",
)
_STEPS_JA = (
    "「Inputs」で制約を設定します: 市場トラッキングエラー上限, セグメント中立, 最大ウェイト, "
    "セグメント内TE上限 (空欄 = 制限なし)。",
    "「Universe」には銘柄, 規模セグメント (1 = 時価総額上位20, 2 = 21-60, 3 = 61-120), "
    "ベンチマーク・ウェイト, アルファ, 固有分散, ファクター・エクスポージャーがあります。"
    f"シートは {S.MBP_NAMES} 銘柄 x {S.MBP_FACTORS} ファクター専用です: 大きい表では "
    "Portfolio!E3 が赤くなり実行ボタンは実行しません。小さい表では古い行が残るため, "
    "先にブロックを消去してください。",
    "「Portfolio」: =MBP_OPTIMIZE がウェイト列を返し, =MBP_REPORT がトラッキングエラーを "
    "分解します (市場, セグメント, セグメント内TE, 保有銘柄数, 交差項; 合計はTE^2)。",
    "「Frontier」は論文の表1を再現します: 単一ベンチマーク (SBP) では小型株のセグメント内TEが "
    "制御されず, 複数ベンチマーク (MBP) では上限内に収まります。",
    "Excelなしで: 'pyxl calc mbp.xlsx -o out.xlsx'。実行ボタンは「Out_MBP」に結果を出力します。",
)


def build(path: Path) -> Path:
    """Write mbp.xlsx (formulas only)."""
    spec = S.MBP
    wb = new_workbook(spec)
    instructions(wb["Instructions"], spec, _STEPS_EN, _STEPS_JA)
    u = universe()
    n, k, m = S.MBP_NAMES, S.MBP_FACTORS, S.MBP_SEGMENTS

    # Inputs ----------------------------------------------------------------
    ws = wb["Inputs"]
    scalar_inputs(ws, spec, DEFAULTS, {"mbp_te_total": PCT, "mbp_max_weight": PCT})
    seg_cells = ws[spec.input("mbp_te_segments").ref.replace("$", "")][0]
    row = seg_cells[0].row
    ws.cell(row - 1, 1, "Within-segment TE limits (blank = none) / セグメント内TE上限").font = (
        Font(bold=True))
    ws.cell(row, 1, "te_segments (annual)")
    for j, c in enumerate(seg_cells):
        ws.cell(row - 1, c.column, f"Segment {j + 1}").font = Font(bold=True)
        c.value = TE_SEGMENTS[j]
        style_input(c, PCT)
    set_widths(ws, {"A": 50, "B": 40, "C": 14, "D": 18, "E": 14})

    # Universe and Factors ----------------------------------------------------
    ws = wb["Universe"]
    header(ws, 1, 1, ["Name", "Segment", "Bench weight", "Alpha", "Spec. variance",
                      *FACTOR_NAMES])
    for i in range(n):
        r = 2 + i
        style_input(ws.cell(r, 1, str(u["names"][i])))
        style_input(ws.cell(r, 2, int(u["segment"][i])), "0")
        style_input(ws.cell(r, 3, float(u["bench_w"][i])), "0.0000%")
        style_input(ws.cell(r, 4, float(u["alpha"][i])), "0.00%")
        style_input(ws.cell(r, 5, float(u["spec_var"][i])), "0.0000")
        for j in range(k):
            style_input(ws.cell(r, 6 + j, float(u["exposures"][i, j])), "0.000")
    ws.freeze_panes = "B2"
    set_widths(ws, {"A": 9, "B": 9, "C": 13, "D": 9, "E": 13})
    ws = wb["Factors"]
    header(ws, 1, 1, ["Factor", *FACTOR_NAMES])
    for i in range(k):
        ws.cell(2 + i, 1, FACTOR_NAMES[i]).font = Font(bold=True)
        for j in range(k):
            style_input(ws.cell(2 + i, 2 + j, float(u["factor_cov"][i, j])), "0.000000")
    set_widths(ws, {col(j): 12 for j in range(1, k + 2)})

    # Portfolio ---------------------------------------------------------------
    ws = wb["Portfolio"]
    ((check_sheet, check_ref, _),) = spec.checks
    c = ws[check_ref]
    if check_sheet != "Portfolio" or c.column < 3 or c.row >= PORTFOLIO_FIRST_ROW - 1:
        raise RuntimeError(f"spec.MBP.checks: {check_sheet}!{check_ref} must be right of "
                           "column B, above the Portfolio table; update the spec")
    # the label in column A spills over the empty cells up to the check
    ws.cell(c.row, 1, "Universe check / ユニバースの確認:").font = Font(bold=True)
    style_formula(c)
    universe_block, factor_block = spec.blocks
    # rows inserted inside the Universe grow the names past the 120 rows the Portfolio and
    # Frontier sheets show (their weight blocks would cut the list): say so first
    size = (f'IF(ROWS(mbp_names)<>{n},"{universe_block.subject} "&ROWS(mbp_names)&" names: '
            f'the Portfolio and Frontier sheets show {n}; keep {n} names, or use the Run '
            'button, which reports every name",')
    c.value = "=" + size + block_check_formula(
        universe_block, block_check_formula(factor_block).lstrip("=")).lstrip("=") + ")"
    for block in spec.blocks:
        red_when_warning(ws, check_ref, block.subject)
    p0 = PORTFOLIO_FIRST_ROW
    header(ws, p0 - 1, 1, ["Name", "Segment", "Benchmark", "=MBP_OPTIMIZE weight", "Active"])
    # name i of the table as it stands (INDEX on the names, as the weights are ordered):
    # direct Universe!A{row} references would be moved past a row inserted inside the
    # Universe, and every later name would then sit beside the next name's weight
    for i in range(n):
        r = p0 + i
        ws.cell(r, 1, f"=INDEX(mbp_names,{i + 1})")
        ws.cell(r, 2, f"=INDEX(mbp_segment,{i + 1})")
        style_formula(ws.cell(r, 3, f"=INDEX(mbp_bench_w,{i + 1})"), "0.00%")
        style_formula(ws.cell(r, 5, f"=D{r}-C{r}"), "0.00%")
    wcol = f"D{p0}:D{p0 + n - 1}"
    array_formula(ws, wcol, f"=MBP_OPTIMIZE(mbp_alpha,{_ARGS},mbp_te_total,mbp_te_segments,"
                            "mbp_segment_neutral,mbp_max_weight)", "0.00%")
    text(ws, p0 - 2, 7, "=MBP_REPORT(weights, ...): tracking-error decomposition / TE分解").font = (
        Font(bold=True))
    labels = report_labels(u)
    array_formula(ws, report_block(p0 - 1, 7),
                  f"=MBP_REPORT({wcol},{_ARGS})", "0.0000")
    report_formats(ws, p0 - 1, 7, labels)
    # Segment weights table and chart.
    t0 = p0 + REPORT_ROWS + 2
    header(ws, t0, 7, ["Segment", "Portfolio", "Benchmark", "Within TE", "Limit"])
    rep_lab = f"$G${p0 - 1}:$G${p0 + REPORT_ROWS - 2}"
    rep_val = f"$H${p0 - 1}:$H${p0 + REPORT_ROWS - 2}"
    for s in range(1, m + 1):
        r = t0 + s
        ws.cell(r, 7, f"Segment {s}")
        for j, lab in enumerate(("Portfolio weight", "Benchmark weight", "Within-segment TE")):
            style_formula(ws.cell(r, 8 + j, f'=INDEX({rep_val},MATCH("{lab} {s}",{rep_lab},0))'),
                          "0.00%")
        # A blank limit means "no limit" (=MBP_OPTIMIZE): say so instead of INDEX's 0.00 %.
        style_formula(ws.cell(r, 11, f'=IF(INDEX(mbp_te_segments,{s})="","none",'
                                     f"INDEX(mbp_te_segments,{s}))"), "0.00%")
    chart = BarChart()
    chart.type = "col"
    chart.title = "Within-segment TE vs limit / セグメント内TEと上限"
    chart.y_axis.number_format = "0%"
    chart.add_data(Reference(ws, min_col=10, max_col=11, min_row=t0, max_row=t0 + m),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=7, min_row=t0 + 1, max_row=t0 + m))
    chart.height, chart.width = 7, 13
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.legend.position = "b"
    plain_lines(chart)
    ws.add_chart(chart, f"G{t0 + m + 2}")
    set_widths(ws, {"A": 9, "B": 9, "C": 12, "D": 14, "E": 10, "G": 24, "H": 12, "I": 12,
                    "J": 12, "K": 10})
    ws.freeze_panes = f"A{p0}"

    # Frontier ------------------------------------------------------------------
    ws = wb["Frontier"]
    F = FRONTIER
    s0, w0, rc = F["summary_row"], F["weights_row"], F["report_col"]
    nte = len(S.MBP_FRONTIER_TE)
    text(ws, s0 - 2, 1, "SBP: market TE limit only. MBP: + within-segment limits "
                        "(Inputs), segment neutral. / SBP: 市場TEのみ, MBP: セグメント内TE上限付き")
    cols = ["Market TE limit", "SBP names", "SBP within TE 1", "SBP within TE 2",
            "SBP within TE 3", "MBP names", "MBP within TE 1", "MBP within TE 2",
            "MBP within TE 3", "MBP market TE"]
    header(ws, s0 - 1, 1, cols)
    ws.cell(w0 - 2, 1, "Weights / ウェイト").font = Font(bold=True)
    header(ws, w0 - 1, 1, ["Name"])
    for i in range(n):
        ws.cell(w0 + i, 1, f"=INDEX(mbp_names,{i + 1})")
    for t, te in enumerate(S.MBP_FRONTIER_TE):
        r = s0 + t
        style_input(ws.cell(r, 1, te), PCT)
        for kind, c_off in (("SBP", 2), ("MBP", 2 + nte)):
            wc = c_off + t
            ws.cell(w0 - 1, wc, f"=\"{kind} \"&TEXT($A${r},\"0.00%\")").font = Font(bold=True)
            block = f"{col(wc)}{w0}:{col(wc)}{w0 + n - 1}"
            if kind == "SBP":
                f = (f'=MBP_OPTIMIZE(mbp_alpha,{_ARGS},$A${r},"",FALSE,mbp_max_weight)')
            else:
                f = (f"=MBP_OPTIMIZE(mbp_alpha,{_ARGS},$A${r},mbp_te_segments,TRUE,"
                     "mbp_max_weight)")
            array_formula(ws, block, f, "0.00%")
            left = rc + 2 * (wc - 2)
            ws.cell(w0 - 1, left, f"=\"Report \"&{col(wc)}{w0 - 1}").font = Font(bold=True)
            array_formula(ws, report_block(w0, left), f"=MBP_REPORT({block},{_ARGS})", "0.0000")
            report_formats(ws, w0, left, labels)
            lab = f"${col(left)}${w0}:${col(left)}${w0 + REPORT_ROWS - 1}"
            val = f"${col(left + 1)}${w0}:${col(left + 1)}${w0 + REPORT_ROWS - 1}"
            base = 2 if kind == "SBP" else 6
            items = [("Names held", "0")] + [(f"Within-segment TE {s}", PCT)
                                             for s in range(1, m + 1)]
            if kind == "MBP":
                items.append(("Market TE", PCT))
            for j, (label, fmt) in enumerate(items):
                style_formula(ws.cell(r, base + j, f'=INDEX({val},MATCH("{label}",{lab},0))'),
                              fmt)
    chart = LineChart()
    chart.title = "Small-cap (segment 3) within-segment TE / 小型株セグメント内TE"
    chart.x_axis.title = "market TE limit"
    chart.y_axis.number_format = "0%"
    chart.add_data(Reference(ws, min_col=5, min_row=s0 - 1, max_row=s0 + nte - 1),
                   titles_from_data=True)
    chart.add_data(Reference(ws, min_col=9, min_row=s0 - 1, max_row=s0 + nte - 1),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=s0, max_row=s0 + nte - 1))
    chart.x_axis.number_format = "0.00%"
    chart.height, chart.width = 7, 22
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.legend.position = "b"
    plain_lines(chart)
    ws.add_chart(chart, f"B{s0 + nte + 1}")
    set_widths(ws, {col(j): 11 for j in range(1, 2 + 2 * nte)})
    ws.print_area = f"A1:{col(1 + 2 * nte)}{w0 - 3}"  # the summary and chart
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
