"""CLI sub-commands of the Excel delivery: ``pyxl templates`` and ``pyxl calc``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyxl.commands import output_path

__all__ = ["register"]


def _cmd_templates(args: argparse.Namespace) -> int:
    from pyxl.templates import generate, template_keys

    keys = template_keys(args.only, "--only")  # refused in one line, nothing written
    for path in generate(args.out, keys, calculate=not args.no_calc):
        print(path)
    return 0


def _cmd_calc(args: argparse.Namespace) -> int:
    from pyxl.workbook import calculate

    src = Path(args.input)
    name = src.stem + "_calc" + src.suffix
    out = output_path(args.out, src.with_name(name), name)  # -o DIR/: DIR/BOOK_calc.xlsx
    report = calculate(src, out, values_only=args.values_only,
                       dynamic_arrays=args.dynamic_arrays)
    if not args.quiet:
        print(f"{src} -> {out}: {report.formulas} formulas, {report.cells} cells "
              f"in {report.seconds:.1f} s")
    for issue in report.issues:
        print(f"warning: {issue}", file=sys.stderr)
    if report.issues and args.strict:
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``templates`` and ``calc``."""
    from pyxl.templates.spec import TEMPLATES

    keys = " ".join(TEMPLATES)
    files = ", ".join(f"{k}: {t.filename}" for k, t in TEMPLATES.items())
    p = sub.add_parser(
        "templates", help=f"write the template workbooks (keys {keys})",
        description=f"Write the template workbooks ({files}).")
    p.add_argument("-o", "--out", default="workbooks", help="output folder (default ./workbooks)")
    p.add_argument("--only", nargs="*", default=None, metavar="KEY",
                   help=f"templates to write, by key: {keys} (a file name such as "
                        "mnvh_ledger also works; default all)")
    p.add_argument("--no-calc", action="store_true",
                   help="write formulas only, without cached values")
    p.set_defaults(func=_cmd_templates)

    p = sub.add_parser(
        "calc", help="calculate every formula of an .xlsx without Excel (PyXL formulas included)")
    p.add_argument("input", help="workbook to calculate (.xlsx or .xlsm)")
    p.add_argument("-o", "--out", default=None,
                   help="output workbook, or a folder to write INPUT_calc.xlsx into "
                        "(default: INPUT_calc.xlsx beside the input)")
    p.add_argument("--values-only", action="store_true",
                   help="replace formulas by their values (for readers without PyXL)")
    p.add_argument("--dynamic-arrays", action="store_true",
                   help="mark array formulas calling PyXL as Excel 365 dynamic (spilling) arrays")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 1 when any cell computes to an error")
    p.add_argument("-q", "--quiet", action="store_true", help="print warnings only")
    p.set_defaults(func=_cmd_calc)
