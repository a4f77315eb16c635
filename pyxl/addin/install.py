"""Install ``pyxl.xlam`` into Excel (Windows; needs Excel and pywin32).

Steps (each printed as it runs):

1. build ``pyxl.xlam`` with ``Interpreter_Win`` set to the ``pythonw.exe``
   of the running Python, so the add-in uses the environment PyXL lives in;
2. find Excel's XLSTART folder through xlwings (starts Excel hidden when it
   is not running), close an open copy of ``pyxl.xlam`` and copy the new one;
3. open it in Excel and import the wrappers with xlwings' own
   ``import_udfs`` (regenerates ``xlwings_udfs`` and registers the Function
   Wizard help through COM), then save the add-in.  This needs "Trust access
   to the VBA project object model"; without it the embedded wrappers and
   the ``Workbook_Open`` registration are used as built.

Off Windows nothing is installed: :func:`install` prints the manual steps and
returns 2.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from pyxl.addin.build import build_xlam

__all__ = ["install", "manual_steps", "ADDIN_NAME"]

ADDIN_NAME = "pyxl.xlam"


def manual_steps(platform: str = sys.platform) -> str:
    """What to do by hand where ``pyxl addin install`` cannot run."""
    if platform == "darwin":
        return (
            "pyxl addin install needs Windows (Excel's COM interface).  On macOS:\n"
            "  1. pyxl addin build -o pyxl.xlam\n"
            "  2. copy pyxl.xlam to ~/Library/Group Containers/UBF8T346G9.Office/"
            "User Content/Startup/Excel/\n"
            "  3. xlwings runpython install   (lets Excel call Python)\n"
            "  4. in the add-in's pyxl.conf sheet (or one in your workbook) set Interpreter_Mac\n"
            "     to this environment's python (`which python`)\n"
            "  5. restart Excel (Cmd-Q): the PyXL tab appears; Run works, formulas need Windows.\n"
            "See docs/excel.md."
        )
    return (
        "pyxl addin install needs Windows with Excel installed.  Here you can still\n"
        "  pyxl addin build -o pyxl.xlam      (build and verify the add-in)\n"
        "  pyxl run-macro BOOK.xlsx run_kelly  (run a template's macro without Excel)\n"
        "and copy pyxl.xlam to a Windows machine: see docs/excel.md."
    )


def _pythonw() -> str:
    exe = Path(sys.executable)
    cand = exe.with_name("pythonw.exe")
    return str(cand if cand.exists() else exe)


def install(import_wrappers: bool = True) -> int:
    """Build, copy into XLSTART and load the add-in; returns a process exit code."""
    if not sys.platform.startswith("win"):
        print(manual_steps(), file=sys.stderr)
        return 2
    import pywintypes  # noqa: F401 - fails early without pywin32
    import xlwings as xw
    from xlwings.cli import get_addin_dir

    with tempfile.TemporaryDirectory() as tmp:
        built = build_xlam(Path(tmp) / ADDIN_NAME, interpreter_win=_pythonw())
        print(f"1/3 built {ADDIN_NAME} (Interpreter_Win = {_pythonw()})")
        target = Path(get_addin_dir()) / ADDIN_NAME
        for app in xw.apps:
            try:
                app.books[ADDIN_NAME].close()
            except KeyError:
                pass
        shutil.copyfile(built, target)
    print(f"2/3 copied to {target}")
    if not import_wrappers:
        print("3/3 skipped: restart Excel to load the add-in")
        return 0
    app = xw.apps.active if xw.apps else xw.App(visible=False)
    book = app.books.open(str(target))
    try:
        from xlwings import udfs

        udfs.import_udfs("pyxl.udfs", book.api)
        book.save()
        print("3/3 imported the formula wrappers and their Function Wizard help; done")
    except Exception as err:  # noqa: BLE001 - COM refuses without VBA project access
        print(f"3/3 could not import through COM ({err}).\n"
              "    The add-in already contains the wrappers; to allow re-imports tick\n"
              "    File > Options > Trust Center > Trust Center Settings > Macro Settings >\n"
              "    'Trust access to the VBA project object model'.")
    return 0

