"""Button macros (``RunPython``) for the PyXL templates and the ribbon's Run button.

In a template, a button calls e.g. ``RunPython "import pyxl.macros as m; m.run_kelly()"``;
the add-in's ribbon Run button calls ``RunPython "import pyxl; pyxl.main()"``, which
looks at the active sheet and runs the macro of the template it belongs to.

Every macro reads the template's named inputs, runs the engine through the PyXL
formulas (so a button run and the cells agree), shows progress in the status
bar and writes results, native charts and a run log only to the ``Out_``
sheets, clearing them first.  Inputs are never modified; when anything fails
nothing partial is written, and the status bar and the ``Out_Log`` sheet say why.

Each macro takes an optional :class:`~pyxl.macros.book.WorkbookIO`: by default
the calling Excel workbook (xlwings); tests and ``pyxl run-macro`` pass an
:class:`~pyxl.macros.book.OpenpyxlBook`.
"""

from __future__ import annotations

from pyxl.macros.book import OpenpyxlBook, WorkbookIO, XlwingsBook
from pyxl.macros.runner import MacroError, RunResult, execute

__all__ = [
    "main",
    "dispatch",
    "run",
    "run_mnvh",
    "run_scenarios",
    "run_mbp",
    "run_kelly",
    "MACROS",
    "template_key",
    "MacroError",
    "OpenpyxlBook",
    "RunResult",
    "WorkbookIO",
    "XlwingsBook",
]

#: Macro name -> template key.
MACROS = {
    "run_mnvh": "mnvh",
    "run_scenarios": "scenarios",
    "run_mbp": "mbp",
    "run_kelly": "kelly",
}


def template_key(io: WorkbookIO) -> str | None:
    """The template a workbook was made from (its ``pyxl_template`` name), or None."""
    if not io.has_name("pyxl_template"):
        return None
    value = io.read_name("pyxl_template")
    if isinstance(value, list):
        value = value[0][0] if value and value[0] else None
    return str(value).strip().lower() if value else None


def run(macro: str, io: WorkbookIO | None = None) -> RunResult:
    """Run the named macro (``"run_kelly"`` ...) on ``io`` (default: the calling book)."""
    from pyxl.macros.engines import COMPUTE

    if macro not in MACROS:
        raise KeyError(f"unknown macro {macro!r}; choose one of {', '.join(MACROS)}")
    io = io if io is not None else XlwingsBook()
    wanted = MACROS[macro]

    def compute(book, progress):
        key = template_key(book)
        if key is not None and key != wanted:
            raise MacroError(f"{macro} belongs to the {wanted} template but this workbook "
                             f"is the {key} template; press its own Run button")
        return COMPUTE[wanted](book, progress)

    return execute(io, macro, compute)


def run_mnvh(io: WorkbookIO | None = None) -> RunResult:
    """Full MNVH + Ledger-SPT backtest of ``mnvh_ledger.xlsx`` into ``Out_Backtest``."""
    return run("run_mnvh", io)


def run_scenarios(io: WorkbookIO | None = None) -> RunResult:
    """Scenario generation of ``scenarios.xlsx`` into ``Out_Scenarios``."""
    return run("run_scenarios", io)


def run_mbp(io: WorkbookIO | None = None) -> RunResult:
    """MBP optimisation, decomposition and TE frontier of ``mbp.xlsx`` into ``Out_MBP``."""
    return run("run_mbp", io)


def run_kelly(io: WorkbookIO | None = None) -> RunResult:
    """Kelly table and growth curve of ``kelly.xlsx`` into ``Out_Kelly``."""
    return run("run_kelly", io)


def dispatch(io: WorkbookIO) -> RunResult | None:
    """What the ribbon's Run does, by the role of the active sheet.

    * Not a PyXL template: nothing is run; the status bar says so.
    * ``instructions`` sheet: nothing is run; the status bar says which
      macro Run starts from the other sheets.
    * ``inputs``, ``data``, ``formulas`` or ``output`` sheet: the template's
      macro runs (the same as its button).
    """
    from pyxl.templates.spec import TEMPLATES, sheet_role

    key = template_key(io)
    if key is None or key not in TEMPLATES:
        io.status("PyXL: this workbook is not a PyXL template (no pyxl_template name); "
                  "open one from workbooks/ or run 'pyxl templates'")
        return None
    spec = TEMPLATES[key]
    role = sheet_role(key, io.active_sheet())
    if role == "instructions":
        io.status(f"PyXL: Run on any other sheet starts {spec.macro} and writes "
                  f"{', '.join(s.name for s in spec.sheets if s.role == 'output')}")
        return None
    return run(spec.macro, io)


def main() -> None:
    """Entry point of the ribbon's Run button: dispatch on the calling workbook."""
    dispatch(XlwingsBook())
