"""CLI sub-commands for the Excel add-in and the button macros.

* ``pyxl addin build [-o FILE]``: assemble ``pyxl.xlam`` (no Excel needed) and
  print what was verified by reading it back;
* ``pyxl addin install``: Windows + Excel only; builds, copies into XLSTART and
  imports the wrappers (exits 2 elsewhere, printing the manual steps);
* ``pyxl addin wrappers [--check]``: regenerate ``addin/pyxl_udfs.bas`` and
  ``addin/pyxl_register.bas`` from ``pyxl.udfs`` (``--check``: exit 1 if stale);
* ``pyxl run-macro BOOK.xlsx MACRO [-o OUT.xlsx]``: run a template's button
  macro without Excel (openpyxl), e.g. ``run_kelly``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyxl.commands import output_path
from pyxl.errors import InputError


def _cmd_build(args: argparse.Namespace) -> int:
    from pyxl.addin.build import StaleWrappersError, build_xlam, inspect_xlam

    try:
        out = build_xlam(Path(args.out), check_wrappers=not args.no_check)
    except StaleWrappersError as err:
        print(f"pyxl addin build: {err}", file=sys.stderr)
        return 1
    info = inspect_xlam(out)
    n_udfs = len(info.modules.get("xlwings_udfs", "").split("\nFunction ")) - 1
    print(f"built {out}")
    missing = info.missing_callbacks() or "none"
    print(f"  ribbon tab     : {', '.join(info.tab_labels)} "
          f"({len(info.callbacks)} buttons, missing callbacks: {missing})")
    print(f"  config sheet   : {info.sheets[0]} (UDF Modules = {info.config.get('UDF Modules')})")
    print(f"  VBA modules    : {', '.join(info.modules)} (read back with olevba)")
    print(f"  formula wrappers: {n_udfs}")
    return 0 if not info.missing_callbacks() else 1


def _cmd_install(args: argparse.Namespace) -> int:
    from pyxl.addin.install import install

    return install(import_wrappers=not args.no_import)


def _cmd_wrappers(args: argparse.Namespace) -> int:
    from pyxl.addin import wrappers

    folder = Path(args.dir)
    if args.check:
        stale = wrappers.stale_files(folder)
        if stale:
            print(f"stale: {', '.join(stale)}; run 'pyxl addin wrappers'", file=sys.stderr)
            return 1
        print("wrappers up to date")
        return 0
    for path in wrappers.write_all(folder):
        print(f"wrote {path}")
    return 0


def _cmd_run_macro(args: argparse.Namespace) -> int:
    from pyxl.macros import MACROS, OpenpyxlBook, run
    from pyxl.macros.book import dropped_on_save

    if args.macro not in MACROS:
        print(f"pyxl run-macro: unknown macro {args.macro!r}; choose one of "
              f"{', '.join(MACROS)}", file=sys.stderr)
        return 2
    out = output_path(args.out, Path(args.book), Path(args.book).name)  # -o DIR/: DIR/BOOK
    lost = dropped_on_save(args.book)
    if lost:
        what = " and ".join([", ".join(lost[:-1]), lost[-1]] if len(lost) > 1 else lost)
        if Path(out).resolve() == Path(args.book).resolve():
            raise InputError(Path(args.book).name, f"holds {what}, which saving without Excel "
                             "would delete", "write the results to another file with -o "
                             "OUT.xlsx, or run the button in Excel")
        print(f"pyxl run-macro: note: {Path(out).name} will not have the {what} of "
              f"{Path(args.book).name} (saving without Excel drops them)", file=sys.stderr)
    book = OpenpyxlBook(args.book, out=out)
    result = run(args.macro, book)
    for line in book.status_log:
        print(line, file=sys.stderr)
    if not result.ok:
        print(f"pyxl run-macro: {result.message}", file=sys.stderr)
        return 1
    print(f"{args.macro}: {result.message} ({result.seconds:.1f} s), written to {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pyxl addin ...`` and ``pyxl run-macro``."""
    from pyxl.addin.wrappers import ADDIN_DIR

    p = sub.add_parser("addin", help="build or install the PyXL Excel add-in (pyxl.xlam)")
    asub = p.add_subparsers(dest="addin_command", required=True)
    b = asub.add_parser("build", help="assemble pyxl.xlam from addin/ (no Excel needed)")
    b.add_argument("-o", "--out", default=str(ADDIN_DIR / "build" / "pyxl.xlam"),
                   help="output file (default addin/build/pyxl.xlam)")
    b.add_argument("--no-check", action="store_true",
                   help="build even when addin/*.bas are stale (not recommended)")
    b.set_defaults(func=_cmd_build)
    i = asub.add_parser("install", help="Windows + Excel: install pyxl.xlam into XLSTART")
    i.add_argument("--no-import", action="store_true",
                   help="only copy the add-in; do not import wrappers through COM")
    i.set_defaults(func=_cmd_install)
    w = asub.add_parser("wrappers", help="regenerate addin/*.bas from pyxl.udfs")
    w.add_argument("--dir", default=str(ADDIN_DIR), help="add-in source folder")
    w.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    w.set_defaults(func=_cmd_wrappers)

    r = sub.add_parser("run-macro", help="run a template's button macro without Excel")
    r.add_argument("book", help="template workbook (.xlsx)")
    r.add_argument("macro", help="run_mnvh, run_scenarios, run_mbp or run_kelly")
    r.add_argument("-o", "--out", default=None,
                   help="write here instead of updating BOOK (a file, or a folder: DIR/BOOK)")
    r.set_defaults(func=_cmd_run_macro)
