"""scenarios.xlsx: block bootstrap + EWMA recolour + drift delta with =MBB_RECOLOR.

History: monthly simple returns of five bundled S&P 500 stocks (month-end
prices, last SCN_MONTHS months).  Targets: an illustrative house view of annual
means, the historical annualised covariance (so recolouring keeps history's
risk but moves the means), and three risk-tolerance (RT) portfolios.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from openpyxl.chart import LineChart, Reference
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

__all__ = ["build", "history", "targets", "DEFAULTS", "SUMMARY_BLOCK", "FAN_BLOCK",
           "RT_NAMES", "ARGS"]

N = len(S.SCN_TICKERS)
K = S.SCN_RT
DEFAULTS = {"scn_block": 6, "scn_n_paths": 500, "scn_lam": 0.94, "scn_periods": 12,
            "scn_seed": 0, "scn_ridge": 0.0, "scn_fan_rt": 2}
#: Illustrative annual house view (arithmetic means) per ticker.
HOUSE_VIEW = {"AAPL": 0.08, "JNJ": 0.05, "JPM": 0.07, "KO": 0.05, "XOM": 0.06}
RT_NAMES = ("RT1 conservative / 安定型", "RT2 balanced / バランス型", "RT3 growth / 成長型")
RT_WEIGHTS = ((0.10, 0.35, 0.10, 0.35, 0.10), (0.20, 0.20, 0.20, 0.20, 0.20),
              (0.35, 0.10, 0.25, 0.05, 0.25))
#: =MBB_RECOLOR(..., "summary"): 14 setting rows, then assets, RT portfolios,
#: terminal-wealth and drawdown percentiles (each with a header row).
SUMMARY_ROWS = 14 + (1 + N) + 3 * (1 + K)
SUMMARY_BLOCK = f"A5:H{4 + SUMMARY_ROWS}"
#: =MBB_RECOLOR(..., "fan:k"): header + periods 0..H, 6 columns.
FAN_BLOCK = f"K5:P{5 + S.SCN_MONTHS + 1}"
#: The shared leading arguments of every MBB_RECOLOR call in the template.
ARGS = ("scn_return_table,scn_mu_ann,scn_cov_ann,scn_block,scn_n_paths,scn_lam,scn_periods,"
        "scn_seed,scn_rt_weights,scn_ridge")

_STEPS_EN = (
    "Paste a return history on 'History' (one row per period, one column per asset, simple "
    "returns in decimals) or keep the bundled monthly S&P 500 stocks. The workbook is laid out "
    f"for exactly {N} assets x {S.SCN_MONTHS} periods (History!A1:{col(1 + N)}"
    f"{1 + S.SCN_MONTHS} with the ticker header row, and {N} assets on 'Targets'): paste that "
    "shape over the whole block. A wider or longer table turns Summary!B3 red and the Run "
    "button refuses it; cells left from the old history are still used, so clear the block "
    "before pasting a shorter history.",
    "Set the annual targets on 'Targets': the mean return per asset, the covariance matrix, and "
    "the risk-tolerance (RT) portfolios' weights (rows sum to 1).",
    "Set the bootstrap on 'Inputs': block length (0 = automatic), number of paths, EWMA lambda, "
    "periods per year, seed and ridge.",
    "'Summary' shows =MBB_RECOLOR's diagnostics: per asset target vs realised mean and "
    "volatility and the correlation error; per RT portfolio the target vs realised mean "
    "(exact with ridge 0), terminal-wealth and max-drawdown percentiles; and the fan chart of "
    "the RT portfolio picked in Inputs!C10.",
    "Same seed, same scenarios: the results are reproducible. Without Excel: 'pyxl calc "
    "scenarios.xlsx -o out.xlsx'. The PyXL ribbon's Run button writes the summary to "
    "'Out_Scenarios'.",
)
_STEPS_JA = (
    "「History」にリターン履歴を貼り付けます (1行1期間, 1列1資産, 小数の単純リターン)。"
    "同梱の S&P 500 月次データのままでも構いません。ブックは "
    f"{N} 資産 x {S.SCN_MONTHS} 期間 (見出し行を含め History!A1:{col(1 + N)}{1 + S.SCN_MONTHS}, "
    f"「Targets」も {N} 資産) 専用です。ブロック全体を同じ形で貼り付けてください: "
    "範囲より広い・長い表では Summary!B3 が赤くなり, 実行ボタンは実行しません。"
    "残った古い値はそのまま使われるため, 短い履歴を貼る前にブロックを消去してください。",
    "「Targets」で年率目標を設定します: 資産ごとの期待リターン, 共分散行列, "
    "リスク許容度別ポートフォリオ (RT) のウェイト (各行の合計は1)。",
    "「Inputs」でブートストラップを設定します: ブロック長 (0 = 自動), パス数, EWMAのλ, "
    "年間期間数, シード, リッジ係数。",
    "「Summary」は =MBB_RECOLOR の診断結果 (目標と実現値の比較, 終端資産と最大ドローダウンの"
    "分位点) と C10 で選んだポートフォリオのファンチャートを示します。",
    "同じシードなら同じシナリオになります。Excelなしで: 'pyxl calc scenarios.xlsx -o out.xlsx'。",
)


def history():
    """Monthly simple returns (last SCN_MONTHS months) of SCN_TICKERS, rounded to 1e-10."""
    from pyxl.data import load_sp500_prices

    px = load_sp500_prices()[list(S.SCN_TICKERS)].resample("ME").last()
    return px.pct_change().dropna().iloc[-S.SCN_MONTHS:].round(10)


def targets(returns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu_ann, cov_ann, rt_weights) the template ships."""
    mu = np.array([HOUSE_VIEW[t] for t in S.SCN_TICKERS])
    cov = np.round(np.cov(returns.to_numpy().T) * 12, 6)
    return mu, cov, np.array(RT_WEIGHTS)


def build(path: Path) -> Path:
    """Write scenarios.xlsx (formulas only)."""
    spec = S.SCENARIOS
    wb = new_workbook(spec)
    instructions(wb["Instructions"], spec, _STEPS_EN, _STEPS_JA)
    hist = history()
    mu, cov, rt = targets(hist)

    ws = wb["Inputs"]
    scalar_inputs(ws, spec, DEFAULTS, {"scn_lam": "0.00", "scn_ridge": "0.0000"})
    set_widths(ws, {"A": 52, "B": 40, "C": 12, "D": 16})

    ws = wb["History"]
    header(ws, 1, 1, ["Month", *S.SCN_TICKERS])
    for i, (dt, row) in enumerate(hist.iterrows()):
        ws.cell(2 + i, 1, dt.to_pydatetime()).number_format = "yyyy-mm"
        for j, v in enumerate(row.to_numpy()):
            style_input(ws.cell(2 + i, 2 + j, float(v)), "0.00%")
    ws.freeze_panes = "B2"
    set_widths(ws, {"A": 10})

    ws = wb["Targets"]
    header(ws, 3, 3, list(S.SCN_TICKERS))
    ws.cell(4, 1, "Annual mean (arithmetic) / 年率期待リターン")
    for j in range(N):
        style_input(ws.cell(4, 3 + j, float(mu[j])), PCT)
    ws.cell(6, 1, "Annual covariance / 年率共分散").font = Font(bold=True)
    header(ws, 7, 3, list(S.SCN_TICKERS))
    for i in range(N):
        ws.cell(8 + i, 2, S.SCN_TICKERS[i]).font = Font(bold=True)
        for j in range(N):
            style_input(ws.cell(8 + i, 3 + j, float(cov[i, j])), "0.000000")
    r_hdr = 9 + N
    ws.cell(r_hdr - 1, 1, "RT portfolio weights (rows sum to 1) / RTポートフォリオ").font = Font(
        bold=True)
    header(ws, r_hdr, 3, list(S.SCN_TICKERS))
    header(ws, r_hdr, 3 + N, ["Sum / 合計", "Annual target / 年率目標"])
    for k in range(K):
        r = r_hdr + 1 + k
        ws.cell(r, 1, RT_NAMES[k])
        for j in range(N):
            style_input(ws.cell(r, 3 + j, float(rt[k, j])), "0%")
        style_formula(ws.cell(r, 3 + N, f"=SUM(C{r}:{col(2 + N)}{r})"), "0%")
        style_formula(ws.cell(r, 4 + N, f"=SUMPRODUCT(C{r}:{col(2 + N)}{r},scn_mu_ann)"), PCT)
    ws.cell(r_hdr + K + 2, 1, "Volatility implied by the covariance / 共分散から求めた"
                              "ボラティリティ")
    for j in range(N):
        style_formula(ws.cell(r_hdr + K + 2, 3 + j, f"=SQRT({col(3 + j)}{8 + j})"), PCT)
    set_widths(ws, {"A": 44, "B": 8, **{col(3 + j): 12 for j in range(N + 2)}})

    ws = wb["Summary"]
    ((check_sheet, check_ref, _),) = spec.checks
    (block,) = spec.blocks
    c = ws[check_ref]
    if check_sheet != "Summary" or c.column != 2 or c.row >= 4:
        raise RuntimeError(f"spec.SCENARIOS.checks: {check_sheet}!{check_ref} must be B1-B3 "
                           "of Summary; update the spec")
    ws.cell(c.row, 1, "History / 履歴の確認").font = Font(bold=True)
    style_formula(c)
    c.value = block_check_formula(block)
    red_when_warning(ws, check_ref, block.subject)
    text(ws, 4, 1, '=MBB_RECOLOR(..., "summary")').font = Font(bold=True)
    array_formula(ws, SUMMARY_BLOCK, f'=MBB_RECOLOR({ARGS},"summary")', "0.0000")
    fan_top = int(FAN_BLOCK.split(":")[0][1:])
    text(ws, fan_top - 1, 11, '=MBB_RECOLOR(..., "fan:" & scn_fan_rt): wealth percentiles '
                              "per period / 期間ごとの資産分位点").font = Font(bold=True)
    array_formula(ws, FAN_BLOCK, f'=MBB_RECOLOR({ARGS},"fan:"&scn_fan_rt)', "0.000")
    last = fan_top + S.SCN_MONTHS + 1
    for r in range(fan_top + 1, last + 1):
        ws.cell(r, 11).number_format = "0"
    chart = LineChart()
    chart.title = "Fan chart: wealth of the chosen RT portfolio / ファンチャート"
    chart.y_axis.title = "wealth (start = 1)"
    chart.x_axis.title = "period"
    chart.y_axis.number_format = "0.0"
    for c in range(12, 17):
        chart.add_data(Reference(ws, min_col=c, min_row=fan_top, max_row=last),
                       titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=11, min_row=fan_top + 1, max_row=last))
    chart.x_axis.tickLblSkip = 12
    chart.height, chart.width = 9, 22
    chart.x_axis.number_format = "0"
    chart.y_axis.delete = False
    chart.x_axis.delete = False
    chart.legend.position = "r"
    for series, color in zip(chart.series, ("C00000", "ED7D31", "000000", "4472C4", "70AD47"),
                             strict=True):
        series.smooth = False
        series.graphicalProperties.line.solidFill = color
    plain_lines(chart)
    ws.add_chart(chart, f"A{6 + SUMMARY_ROWS}")
    set_widths(ws, {"A": 22, **{col(j): 12 for j in range(2, 9)}, "K": 8})
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
