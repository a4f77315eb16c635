"""Audit 2, the newcomer's path: ``pyxl demo`` outputs, Ctrl-C, blocked output folders,
the progress bar on a terminal, and one-line errors with an exit code instead of tracebacks."""

from __future__ import annotations

import importlib.machinery
import io
import sys
import types
from pathlib import Path

import pytest

import pyxl.cli as cli
from pyxl.cli import main
from pyxl.errors import InputError
from pyxl.progress import Progress


def _err_lines(text: str) -> list[str]:
    """stderr lines that are not progress output."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("==")
            and not ln.lstrip().startswith("[")]


def _fake_section(monkeypatch, name: str, run_demo) -> None:
    """Register a demo section ``name`` whose ``run_demo(outdir, progress)`` is given."""
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.run_demo = run_demo
    monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(cli, "DEMO_MODULES", (name,))
    monkeypatch.setattr(cli, "DEMO_SECTIONS", (name,), raising=False)


# --- pyxl demo --only --------------------------------------------------------------------

def test_demo_only_unknown_section_is_refused(tmp_path, capsys):
    # a typo used to run nothing, print "0 files" and exit 0
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--only", "mnhv", "-o", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--only" in err and "mnhv" in err and "mnvh" in err
    assert not out.exists()
    with pytest.raises(InputError, match="--only"):
        cli.run_demo(out, ["MNVH"])


# --- Ctrl-C and outputs that are in the way ---------------------------------------------

class _InterruptAt(Progress):
    """Progress that presses Ctrl-C when the section reports ``message``."""

    message = "summary"

    def __call__(self, message, fraction=None):
        super().__call__(message, fraction)
        if message == self.message:
            raise KeyboardInterrupt


def test_demo_ctrl_c_keeps_earlier_outputs_and_exits_130(tmp_path, capsys, monkeypatch):
    # The kelly section has written four files when it reports "summary"; Ctrl-C there
    # used to leave a traceback and those four files overwritten by the unfinished run.
    out = tmp_path / "pyxl-out"
    (out / "kelly").mkdir(parents=True)
    old = out / "kelly" / "growth_vs_leverage.csv"
    old.write_text("earlier run\n")
    monkeypatch.setattr(cli, "Progress", _InterruptAt)
    rc = main(["demo", "--only", "kelly", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 130
    assert _err_lines(err) == ["pyxl: interrupted (Ctrl-C)"], err
    assert "Traceback" not in err
    assert old.read_text() == "earlier run\n"
    assert sorted(p.name for p in out.rglob("*")) == ["growth_vs_leverage.csv", "kelly"]


def test_demo_interrupted_mid_file_leaves_no_half_written_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "pyxl-out"
    (out / "sec").mkdir(parents=True)
    (out / "sec" / "ledger.csv").write_text("a,b\n1,2\n3,4\n")

    def run_demo(outdir, progress):
        folder = Path(outdir) / "sec"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "ledger.csv", "w") as fh:
            fh.write("a,b\n9,9\n")  # half of the new file ...
            raise KeyboardInterrupt  # ... when Ctrl-C arrives

    _fake_section(monkeypatch, "sec", run_demo)
    assert main(["demo", "-o", str(out)]) == 130
    assert (out / "sec" / "ledger.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert [p.name for p in out.iterdir()] == ["sec"]  # no staging folder left behind
    capsys.readouterr()


def test_demo_output_folder_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "pyxl-out"
    blocker.write_text("not a folder")
    rc = main(["demo", "--only", "kelly", "-o", str(blocker)])
    lines = _err_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith("pyxl: --out: ") and str(blocker) in lines[0]
    assert "is a file, not a folder" in lines[0] and "-o" in lines[0]
    assert blocker.read_text() == "not a folder"


def test_demo_folder_in_place_of_an_output_file_publishes_nothing(tmp_path, capsys):
    # kelly/summary.md is a folder: the run stops with one line, and the section's other
    # files, written before summary.md, do not replace those of the earlier run
    out = tmp_path / "pyxl-out"
    (out / "kelly" / "summary.md").mkdir(parents=True)
    (out / "kelly" / "horizon.csv").write_text("earlier run\n")
    rc = main(["demo", "--only", "kelly", "-o", str(out)])
    lines = _err_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1, lines
    assert "summary.md" in lines[0] and "--out" in lines[0]
    assert (out / "kelly" / "horizon.csv").read_text() == "earlier run\n"
    assert not (out / "kelly" / "growth_vs_leverage.csv").exists()


def test_demo_success_moves_every_file_into_place(tmp_path, capsys):
    out = tmp_path / "pyxl-out"
    (out / "kelly").mkdir(parents=True)
    (out / "kelly" / "horizon.csv").write_text("earlier run\n")
    assert main(["demo", "--only", "kelly", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    names = {"growth_vs_leverage.csv", "growth_vs_leverage.png", "fractional_table.csv",
             "horizon.csv", "leverage_drift.csv", "summary.md"}
    assert {p.name for p in (out / "kelly").iterdir()} == names
    assert (out / "kelly" / "horizon.csv").read_text() != "earlier run\n"
    assert [p.name for p in out.iterdir()] == ["kelly"]
    for n in names:
        assert f"kelly/{n}" in printed
    assert "6 files in" in printed


# --- the progress bar on a terminal ------------------------------------------------------

class _Tty(io.StringIO):
    """A terminal: both fake streams append to one screen, in order."""

    def __init__(self, screen: list[str]) -> None:
        super().__init__()
        self.screen = screen

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.screen.append(s)
        return len(s)


def test_demo_table_on_stdout_starts_on_its_own_line(tmp_path, monkeypatch):
    # on a terminal the bar is redrawn with \r and no newline; the MNVH section prints its
    # metrics table to stdout at 30 %, which used to glue "Metric ..." onto the bar line
    screen: list[str] = []
    monkeypatch.setattr(sys, "stdout", _Tty(screen))
    monkeypatch.setattr(sys, "stderr", _Tty(screen))

    def run_demo(outdir, progress):
        progress("verifying", 0.3)
        print("Metric  MNVH")
        progress("done", 1.0)
        return []

    _fake_section(monkeypatch, "sec", run_demo)
    cli.run_demo(tmp_path / "out")
    text = "".join(screen)
    assert "\nMetric  MNVH\n" in text, repr(text)


def test_progress_error_after_open_bar_starts_a_new_line():
    screen: list[str] = []
    p = Progress(stream=_Tty(screen))
    p.start("mnvh")
    p("writing", 0.4)
    p.break_line()
    p.break_line()  # idempotent
    p.start("kelly")
    assert "".join(screen).endswith("(0.0s)\n== kelly\n")


# --- one line, never a traceback -----------------------------------------------------------

def test_run_macro_on_a_broken_workbook_is_one_line(tmp_path, capsys):
    book = tmp_path / "kelly.xlsx"
    book.write_bytes(b"PK\x03\x04 truncated download")
    rc = main(["run-macro", str(book), "run_kelly"])
    lines = _err_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"pyxl: {book}: cannot be read as an .xlsx workbook")
    csv = tmp_path / "prices.csv"
    csv.write_text("a,b\n1,2\n")
    rc = main(["run-macro", str(csv), "run_kelly"])
    lines = _err_lines(capsys.readouterr().err)
    assert rc == 2 and len(lines) == 1 and "prices.csv" in lines[0], lines


def test_library_message_with_a_newline_stays_one_line(tmp_path, capsys):
    # pandas' tokenizer message ends in a newline; it used to split the error in two lines
    bad = tmp_path / "hist.csv"
    bad.write_text("A,B\n0.01,0.02\n0.01,0.02,0.03,0.04\n0.01,0.02\n")
    mu = tmp_path / "mu.csv"
    mu.write_text("0.05\n0.06\n")
    rc = main(["scenarios", "--returns", str(bad), "--mu", str(mu), "--cov", str(mu)])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("pyxl: --returns: ")


def test_unexpected_error_is_one_line_with_exit_code_1(capsys, monkeypatch):
    def boom():
        raise RuntimeError("kernel\nfailed")

    monkeypatch.setattr(cli, "run_warmup", boom)
    monkeypatch.delenv("PYXL_DEBUG", raising=False)
    assert main(["warmup"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("pyxl: unexpected RuntimeError: kernel failed;") and "PYXL_DEBUG" in err
    monkeypatch.setenv("PYXL_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["warmup"])


def test_kelly_scenario_csv_without_header_keeps_its_first_row(tmp_path, capsys):
    """A headerless scenario file: every row is a scenario (the first was lost as names)."""
    import numpy as np

    rows = np.array([[0.05, -0.02], [-0.04, 0.03], [0.02, 0.01], [-0.03, -0.02], [0.01, 0.02]])
    f = tmp_path / "scen.csv"
    f.write_text("\n".join(",".join(f"{v:g}" for v in r) for r in rows) + "\n")
    assert main(["kelly", "scenario", str(f)]) == 0
    assert "over 5 scenarios" in capsys.readouterr().out
    # with caps and a budget from the command line, the same answer as the core
    from pyxl.core import kelly as K
    assert main(["kelly", "scenario", str(f), "--max-weight", "1.5", "--budget", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    w = K.kelly_scenario(rows, 0.0, None, False, np.full(2, 1.5), 1.0)
    assert [float(line.split()[1]) for line in out[:2]] == pytest.approx(np.round(w, 4))


def test_calc_into_an_existing_folder_writes_book_calc_inside(tmp_path, capsys):
    from pyxl.templates import generate

    book = generate(tmp_path / "t", ["kelly"], calculate=False)[0]
    dest = tmp_path / "out"
    dest.mkdir()
    assert main(["calc", str(book), "-o", str(dest), "--quiet"]) == 0
    assert (dest / (book.stem + "_calc.xlsx")).is_file()
    assert list(dest.iterdir()) == [dest / (book.stem + "_calc.xlsx")]


def test_cli_path_errors_name_the_file_and_the_argument(tmp_path, capsys):
    assert main(["backtest", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    cov = tmp_path / "cov.csv"
    cov.write_text("f1\n1\n")
    args = ["mbp", "optimize", str(tmp_path / "nope.csv"), str(cov), "--te-total", "0.02"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyxl: assets: ") and "nope.csv" in err and err.count("\n") == 1


def test_ablation_hedge_both_without_benchmark_says_hedged_points_are_skipped(tmp_path, capsys):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    P = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal((80, 3)), axis=0))
    f = tmp_path / "p.csv"
    pd.DataFrame(P, columns=["A", "B", "C"],
                 index=pd.bdate_range("2024-01-01", periods=80, name="Date")).to_csv(f)
    code = main(["ablation", str(f), "--lams", "0.9", "--betas", "10", "--schemes", "equal",
                 "--throttle", "off", "-o", str(tmp_path / "out")])
    assert code == 0
    assert "no --benchmark, so the grid has no hedged points" in capsys.readouterr().err
