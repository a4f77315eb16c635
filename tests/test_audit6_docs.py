"""The user documentation (README.md, docs/*.md) checked against the code.

Mechanical facts only, so that these tests fail as soon as the pages drift:

* every formula signature shown (README table, ``### `=F(...)` `` headings, the
  indented signature blocks) names the arguments of :mod:`pyxl.udfs` in their order,
  with ``[brackets]`` exactly on the optional ones, and every formula is in the table;
* the argument tables of ``MNVH_BACKTEST``, ``MBB_RECOLOR`` and ``MBP_OPTIMIZE`` list
  the arguments in order with the defaults the code uses;
* every ``pyxl ...`` command line shown is a real sub-command with real options;
* every relative link and every repository path in backticks exists;
* error lines quoted in the pages are the ones the formulas give;
* worked examples agree with values computed independently here.
"""

from __future__ import annotations

import argparse
import inspect
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import excel_range, excel_row

import pyxl.udfs as udfs
from pyxl.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FORMULAS = {n: inspect.unwrap(getattr(udfs, n)) for n in dir(udfs)
            if n.isupper() and callable(getattr(udfs, n))}
_ARG = re.compile(r"^\[?[a-z_][a-z_0-9]*\]?$")


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _flat(text: str) -> str:
    """Markdown prose with its line breaks and indentation folded to single spaces."""
    return re.sub(r"\s+", " ", text)


def _params(name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(FORMULAS[name]).parameters.values())


def _balanced(text: str, start: int) -> str:
    """The text between the parenthesis at ``start`` and its partner."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    raise AssertionError(f"unbalanced parenthesis at {start}")


def _shown_signatures() -> list[tuple[str, str, list[str]]]:
    """(page, formula, args) for every signature shown in a table row, heading or block."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"=([A-Z_]+)\(", text):
            name = m.group(1)
            if name not in FORMULAS:
                continue
            line_start = text.rfind("\n", 0, m.start()) + 1
            lead = text[line_start:m.start()]
            if lead not in ("| `", "### `") and lead.strip():
                continue  # an example inside prose or a table cell, not a signature
            args = [a.strip() for a in _balanced(text, m.end() - 1).split(",")]
            if all(_ARG.match(a) for a in args):
                out.append((page.name, name, args))
    return out


def test_every_formula_is_in_the_readme_table_and_has_a_shown_signature():
    shown = _shown_signatures()
    readme = {name for page, name, _ in shown if page == "README.md"}
    assert readme == set(FORMULAS), set(FORMULAS) ^ readme
    docs = {name for page, name, _ in shown if page != "README.md"}
    assert docs == set(FORMULAS), set(FORMULAS) ^ docs


@pytest.mark.parametrize("page,name,args", _shown_signatures(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_shown_signature_matches_the_code(page, name, args):
    params = _params(name)
    assert [a.strip("[]") for a in args] == [p.name for p in params], (page, name)
    for a, p in zip(args, params, strict=True):
        optional = p.default is not inspect.Parameter.empty
        assert a.startswith("[") == optional, (page, name, p.name, "optional" if optional
                                               else "required")


# --- argument tables --------------------------------------------------------------


def _table_after(text: str, marker: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table after ``marker``."""
    rows = []
    for line in text[text.index(marker):].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [r for r in rows[1:] if not set("".join(r)) <= set("-: ")]


def _doc_default(cell: str):
    """A default as the docs write it -> the Python value it stands for (or MISSING)."""
    c = cell.replace("`", "").strip()
    low = c.lower()
    if low in ("", "required"):
        return inspect.Parameter.empty
    if low.startswith(("blank", "none")):
        return None
    if c in ("TRUE", "FALSE"):
        return c == "TRUE"
    m = re.match(r'^"([^"]*)"', c)
    if m:
        return m.group(1)
    m = re.search(r"-?[\d,]*\.?\d+(e-?\d+)?", c)
    assert m, cell
    return float(m.group(0).replace(",", ""))


def _check_table(name: str, rows: list[tuple[str, str]]):
    params = _params(name)
    assert [r[0] for r in rows] == [p.name for p in params], name
    for (arg, shown), p in zip(rows, params, strict=True):
        want = _doc_default(shown)
        if isinstance(want, float):
            assert isinstance(p.default, (int, float)) and not isinstance(p.default, bool), arg
            assert math.isclose(p.default, want), (name, arg, p.default, shown)
        else:
            assert p.default == want, (name, arg, p.default, shown)


def test_mnvh_backtest_argument_table():
    rows = _table_after(_text("docs/mnvh.md"), "| # | argument | default | meaning |")
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    # beta's signature default is None (resolved by mode: DEFAULT_BETA in nav mode, an
    # error in absolute mode); the table states both
    (beta,) = [r for r in rows if r[1] == "`beta`"]
    from pyxl.core.mnvh import DEFAULT_BETA

    assert _params("MNVH_BACKTEST")[2].default is None
    assert beta[2] == (f"engine default ({DEFAULT_BETA:g}) in `nav` mode; none in `absolute` "
                       "mode")
    _check_table("MNVH_BACKTEST", [(r[1].strip("`"), "blank" if r is beta else r[2])
                                   for r in rows])


def test_mbb_recolor_argument_table():
    rows = _table_after(_text("docs/scenarios.md"), "| argument | default | meaning |")
    _check_table("MBB_RECOLOR", [(r[0], r[1]) for r in rows])


def test_mbp_optimize_argument_table():
    rows = _table_after(_text("docs/mbp.md"), "| argument | meaning | default |")
    _check_table("MBP_OPTIMIZE", [(r[0], r[2]) for r in rows])


def test_defaults_stated_in_prose():
    ledger, kelly = _flat(_text("docs/ledger.md")), _flat(_text("docs/kelly.md"))
    # LEDGER_KAPPA: "Defaults 0."; MNVH_STEP: beta_mode "absolute", the default here
    assert "zero; 0 when no positive kappa is feasible. Defaults 0." in ledger
    assert {p.name: p.default for p in _params("LEDGER_KAPPA")[3:]} == {
        "fee_rate": 0, "fixed_fee": 0, "min_cash": 0}
    assert '`beta_mode` "absolute", the default here' in ledger
    assert FORMULAS["MNVH_STEP"].__defaults__[0] == "absolute"
    assert "`fraction` defaults to 1 (full Kelly)" in kelly
    assert _params("KELLY_LEVERAGE")[3].default == 1
    assert "Years needed to be `confidence`-sure (default 0.95)" in kelly
    assert "(default 0 = cash; 1 = the unlevered portfolio)" in kelly
    horizon = {p.name: p.default for p in _params("KELLY_HORIZON")}
    assert (horizon["confidence"], horizon["vs_leverage"], horizon["leverage"]) == (0.95, 0, None)
    assert "times the start (default 0.5)" in kelly
    assert _params("KELLY_TABLE")[3].default == 0.5
    assert "`periods` times a year (default 1)" in kelly
    assert _params("KELLY_GROWTH")[5].default == 1


# --- command lines ----------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def _command_lines() -> list[tuple[str, str]]:
    """(page, command) for every ``pyxl ...`` line in code blocks and inline code."""
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for span in re.findall(r"(?<!`)`(pyxl [^`]+)`(?!`)", text):
            out.extend((page.name, part.strip()) for part in span.split("&&"))
        in_block = False
        current = None
        for line in text.splitlines():
            if line.startswith("```"):
                in_block = not in_block
            code = in_block or line.startswith("    ")
            stripped = line.strip()
            if code and stripped.startswith("pyxl "):
                current = [stripped]
                out.append((page.name, current))
            elif code and current is not None and stripped.startswith(("[", "--")):
                current.append(stripped)  # continuation of the previous command line
            elif current is not None and not (code and stripped.endswith("\\")):
                current = None
            if current is not None and stripped.endswith("\\"):
                current[-1] = stripped.rstrip("\\")
    return [(p, c if isinstance(c, str) else " ".join(c)) for p, c in out]


def _check_command(command: str) -> None:
    parser = build_parser()
    tokens = command.split("#")[0].replace("[", " ").replace("]", " ").split()
    assert tokens[0] == "pyxl"
    tokens = tokens[1:]
    if tokens and tokens[0] == "<command>":
        return
    level = [parser]
    i = 0
    while i < len(tokens) and _subparsers(level[0]):
        subs = _subparsers(level[0])
        names = [t for t in tokens[i].split("|") if t]
        i += 1
        while i + 1 < len(tokens) and tokens[i] == "|":  # "backtest | ablation | walkforward"
            names.append(tokens[i + 1])
            i += 2
        assert all(n in subs for n in names), (command, names, sorted(subs))
        level = [subs[n] for n in names]
    for t in tokens[i:]:
        for flag in re.findall(r"^(--?[a-zA-Z][\w-]*)", t):
            assert all(flag in _options(p) for p in level), (command, flag)


@pytest.mark.parametrize("page,command", _command_lines())
def test_shown_command_lines_are_real(page, command):
    _check_command(command)


def test_command_lines_are_found():
    commands = {c.split()[1] for _, c in _command_lines()}
    assert {"demo", "warmup", "backtest", "ablation", "walkforward", "scenarios", "kelly",
            "mbp", "templates", "calc", "addin", "run-macro"} <= commands


def test_parquet_install_hint_names_this_project():
    # PyPI's "pyxl" is an unrelated package: the extra must come from the source folder
    page = _text("docs/scenarios.md")
    assert "pip install pyxl[" not in page
    assert 'pip install -e ".[parquet]"' in page


# --- links and paths ----------------------------------------------------------------


def test_links_and_repository_paths_exist():
    missing = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")) and \
                    not (page.parent / target).exists():
                missing.append((page.name, target))
        for path in re.findall(
                r"`((?:pyxl|tests|benchmarks|scripts|addin|workbooks|docs)/[^`\s]*)`", text):
            path = path.rstrip(".,")
            if "*" in path or "<" in path:
                assert any(ROOT.glob(re.sub(r"<[^>]*>", "*", path))), (page.name, path)
            elif not (ROOT / path).exists():
                missing.append((page.name, path))
    assert not missing


def test_anchors_exist():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                 for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
        for anchor in re.findall(r"\]\(#([^)]+)\)", text):
            assert anchor in slugs, (page.name, anchor)


# --- quoted error lines -------------------------------------------------------------


def _one(out) -> str:
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    return out[0][0]


def _quoted(page: str, text: str) -> str:
    assert text in _flat(_text(page)), (page, text)
    return text


def test_readme_blank_cell_line(xl):
    rng = np.random.default_rng(np.random.SeedSequence(6))
    prices = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, (30, 4)), axis=0))).astype(object)
    prices[11, 2] = None
    want = _quoted("README.md", "#PyXL! prices: blank cell at row 12, column 3; fill it or "
                                "shrink the range")
    assert _one(xl("MNVH_BACKTEST", excel_range(prices))) == want
    assert want in _flat(_text("docs/mnvh.md"))


def test_excel_page_error_lines(xl):
    want = _quoted("docs/excel.md", "#PyXL! sigma: must be > 0, got 0; change the value")
    assert _one(xl("KELLY_LEVERAGE", 0.085, 0.0, 0.01)) == want
    chained = _quoted("docs/excel.md", "#PyXL! mu: the cell shows another formula's error "
                                       "(sigma: text 'abc' at the cell); fix that cell first")
    upstream = "#PyXL! sigma: text 'abc' at the cell; enter a number"
    assert _one(xl("KELLY_LEVERAGE", 0.085, "abc", 0.01)) == upstream
    assert _one(xl("KELLY_LEVERAGE", upstream, 0.182, 0.01)) == chained


def test_kelly_page_error_lines(xl):
    mu = np.array([0.08, 0.06, 0.10])
    cov = np.array([[0.040, 0.010, 0.012], [0.010, 0.020, 0.004], [0.012, 0.004, 0.090]])
    out = _one(xl("KELLY_HORIZON", 0.0412, 0.18, 0.0, 0.95, 0, 5))
    assert out.startswith("#PyXL! " + _quoted("docs/kelly.md", "leverage: 5 never out-grows 0 ("))
    assert out.endswith(_quoted("docs/kelly.md", "); pick a leverage strictly between 0 and "
                                                 "2.54"))
    # 2 n* - n_b with n* = 0.0412 / 0.18^2, computed here
    assert f"{2 * 0.0412 / 0.18 ** 2:.2f}" == "2.54"
    assert _quoted("docs/kelly.md", "cov: is 2x2, expected 3x3") in _one(
        xl("KELLY_WEIGHTS", excel_range(mu), excel_range(cov[:2, :2]), 0.0))
    assert _quoted("docs/kelly.md", "budget: |1| exceeds max_leverage 0.5") in _one(
        xl("KELLY_WEIGHTS", excel_row(mu), excel_range(cov), 0.0, 1, 0.5, False, None, 1.0))
    assert _quoted("docs/kelly.md", "max_weight: caps sum to 0.6 < budget 1") in _one(
        xl("KELLY_WEIGHTS", excel_row(mu), excel_range(cov), 0.0, 1, None, True, 0.2, 1.0))
    free_lunch = np.array([[0.01, 0.02], [0.02, 0.01], [0.03, 0.0]])
    assert _one(xl("KELLY_SCENARIO", excel_range(free_lunch))) == "#PyXL! " + _quoted(
        "docs/kelly.md", "returns: some mix never loses in any scenario (growth unbounded); "
                         "set max_leverage or add scenarios with losses")
    # a -40 % day: leverage 2.5 and more wipes the book out, 2.49 does not
    day = excel_range([0.01, -0.4, 0.02])
    assert "can wipe out the account in one period" in _one(
        xl("KELLY_GROWTH", 2.5, None, None, 0.0, day, 252))
    assert isinstance(_one(xl("KELLY_GROWTH", 2.49, None, None, 0.0, day, 252)), float)
    _quoted("docs/kelly.md", "One -40 % day makes any leverage of 2.5 or more an error line")


def test_mnvh_page_layout_refusals(xl):
    rng = np.random.default_rng(np.random.SeedSequence(7))
    one = [["Date", "AAA"]] + [[f"2024-01-{d:02d}", 100 + d] for d in range(1, 21)]
    assert _one(xl("MNVH_BACKTEST", excel_range(one))).startswith(
        _quoted("docs/mnvh.md", "#PyXL! prices: has 1 asset; ").rstrip())
    rows = [[t, *(100 + rng.random(6))] for t in ("AAA", "BBB", "CCC")]
    out = _one(xl("MNVH_BACKTEST", excel_range(rows)))
    assert out.startswith(_quoted("docs/mnvh.md",
                                  "#PyXL! prices: has one row per asset (AAA, BBB, ...);"))
    assert out.endswith("=TRANSPOSE(...)")


def test_scenarios_and_mbp_handle_lines(xl):
    expired = "handle has expired; recalculate the cell that made it (F9)"
    _quoted("docs/scenarios.md", expired)
    _quoted("docs/mbp.md", "#PyXL! weights: " + expired)
    assert _one(xl("MBP_REPORT", "pyxl:mbp#000000000000")) == "#PyXL! weights: " + expired
    kind = _quoted("docs/mbp.md", "#PyXL! weights: handle is a 'scn', expected 'mbp'; "
                                  "use the right cell")
    assert _one(xl("MBP_REPORT", "pyxl:scn#000000000000")) == kind
    rets = np.random.default_rng(np.random.SeedSequence(8)).normal(0.01, 0.05, (40, 3))
    cov = np.cov(rets.T) * 12
    bad = cov.copy()
    bad[0, 1] = bad[1, 0] = 1.0
    out = _one(xl("MBB_RECOLOR", excel_range(rets), excel_row([0.08, 0.06, 0.1]),
                  excel_range(bad), 3, 10))
    assert out.startswith("#PyXL! cov_ann: is not positive semi-definite (min eigenvalue ")
    assert out.endswith("); use a valid covariance matrix")
    assert "`#PyXL! cov_ann: is not positive semi-definite (min eigenvalue -0.05); use a " \
           "valid covariance matrix`" in _flat(_text("docs/scenarios.md"))


# --- worked examples, against values computed here ----------------------------------


def test_ledger_page_examples(xl):
    page = _flat(_text("docs/ledger.md"))
    # eq. 1 by hand: r = (0.1, -0.05), R = 0.025
    q = [1000 * 0.5 / 10 * (0.025 - 0.10), 1000 * 0.5 / 20 * (0.025 + 0.05)]
    assert q == pytest.approx([-3.75, 1.875])
    assert "-> -3.75" in page and "(spills) 1.875" in page
    out = xl("MNVH_STEP", excel_range([0, 0]), excel_range([10, 20]), excel_range([11, 19]),
             excel_range([0.5, 0.5]), 0.9, 1000)
    assert [r[0] for r in out] == pytest.approx(q, rel=1e-15)
    # kappa = (cash - F) / (S + A): S = 10*100 + 20*10, A = 0.001 * S, F = 2 fixed fees
    kappa = (500 - 2) / (1200 + 1.2)
    assert "`(500 - 2) / 1201.2 = 0.41459`" in page and f"{kappa:.5f}" == "0.41459"
    assert _one(xl("LEDGER_KAPPA", excel_range([10, 20]), excel_range([100, 10]), 500, 0.001,
                   1)) == pytest.approx(kappa, rel=1e-14)
    assert _one(xl("LEDGER_KAPPA", excel_range([10, 20]), excel_range([100, 10]), 5, 0, 5)) == 0
    assert _one(xl("LEDGER_KAPPA", excel_range([10, 20]), excel_range([-100, -10]), 5, 0,
                   5)) == 1


def test_kelly_page_seed_table():
    rows = _table_after(_text("docs/kelly.md"), "| portfolio | mu | sigma |")
    assert len(rows) == 7
    for _name, mu, sigma, shown in rows:
        n = (float(mu.rstrip(" %")) - 1) / 100 / (float(sigma.rstrip(" %")) / 100) ** 2
        two, one = (s.strip("* ") for s in shown.split("->"))
        assert f"{n:.2f}" == two and f"{n:.1f}" == one


def _agrees_with_shown(cell: str, value: float) -> bool:
    """``value`` rounds to the figure shown in ``cell`` ("4.77 %", "14.5")."""
    number = cell.strip().rstrip(" %")
    decimals = len(number.split(".")[1]) if "." in number else 0
    scaled = value * 100 if cell.strip().endswith("%") else value
    return abs(float(number) - scaled) <= 0.5 * 10 ** -decimals + 1e-12


def test_kelly_page_fractional_table(xl):
    rows = _table_after(_text("docs/kelly.md"), "| | leverage | log growth | kept |")
    mu, sigma = 0.085, 0.182
    n_star = mu / sigma ** 2
    got = xl("KELLY_TABLE", mu, sigma, 0.0)[1:]
    for f, row, cells in zip((0.25, 0.5, 0.75, 1.0), rows, got, strict=True):
        n = f * n_star
        g = n * mu - n ** 2 * sigma ** 2 / 2
        # leverage, log growth, kept 2f - f^2, vol, P(ever halve) = 0.5^(2/f - 1), ln 2 / g
        expect = [n, g, 2 * f - f * f, n * sigma, 0.5 ** (2 / f - 1), math.log(2) / g]
        assert all(_agrees_with_shown(c, e) for c, e in zip(row[1:], expect, strict=True)), \
            (row, expect)
        assert cells[1:] == pytest.approx(expect, rel=1e-12)


def test_npz_keys_documented(tmp_path):
    from pyxl.cli import main

    rng = np.random.default_rng(np.random.SeedSequence(9))
    rets = rng.normal(0.008, 0.04, (48, 3))
    np.savetxt(tmp_path / "hist.csv", rets, delimiter=",", header="A,B,C", comments="")
    np.savetxt(tmp_path / "mu.csv", [[0.08, 0.06, 0.1]], delimiter=",")
    np.savetxt(tmp_path / "cov.csv", np.cov(rets.T) * 12, delimiter=",")
    npz = tmp_path / "paths.npz"
    assert main(["scenarios", "--returns", str(tmp_path / "hist.csv"), "--mu",
                 str(tmp_path / "mu.csv"), "--cov", str(tmp_path / "cov.csv"), "--paths", "20",
                 "--block", "3", "--npz", str(npz), "--summary",
                 str(tmp_path / "s.csv")]) == 0
    with np.load(npz) as z:
        keys = {k for k in z.files if not k.startswith("paths_")}
    page = _flat(_text("docs/scenarios.md"))
    listed = re.search(r"array per chunk \(.*?\) plus (.*?); `--parquet`", page).group(1)
    assert set(re.findall(r"`(\w+)`", listed)) == keys
