"""``pyxl demo`` section "excel": the templates calculated without Excel.

Builds each template workbook from code (:mod:`pyxl.templates`), calculates
every formula, PyXL's included, with the workbook engine
(:func:`pyxl.workbook.calculate`, the ``formulas`` package calling the same
functions as the add-in), and writes the filled workbooks to
``outdir/workbooks/`` with a calculation log.  Open them in Excel (formulas,
recalculated by the add-in) or in any viewer (the cached values).
"""

from __future__ import annotations

from pathlib import Path

from pyxl.progress import ProgressFn, null_progress

__all__ = ["run_demo"]


def run_demo(outdir: Path, progress: ProgressFn = null_progress) -> list[Path]:
    """Fill the four templates into ``outdir/workbooks``; return the files written."""
    from pyxl.templates import builder
    from pyxl.templates.spec import TEMPLATES
    from pyxl.workbook import calculate

    dest = Path(outdir) / "workbooks"
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    log = ["PyXL workbooks calculated without Excel (pyxl calc)", ""]
    keys = list(TEMPLATES)
    for i, key in enumerate(keys):
        spec = TEMPLATES[key]
        path = dest / spec.filename
        progress(f"{spec.filename}: building", i / len(keys))
        builder(key)(path)
        progress(f"{spec.filename}: calculating", (i + 0.5) / len(keys))
        report = calculate(path, path, dynamic_arrays=True)
        log.append(f"{spec.filename}: {report.formulas} formulas, {report.cells} cells, "
                   f"{report.seconds:.1f} s, {len(report.issues)} error cells")
        log.extend(f"  {issue}" for issue in report.issues)
        written.append(path)
    log_path = dest / "calc_log.txt"
    log_path.write_text("\n".join(log) + "\n", encoding="utf-8")
    written.append(log_path)
    progress("workbooks filled", 1.0)
    return written
