"""Report builders for ``pyxl demo`` and the CLI: tables, CSV/XLSX and PNG charts.

Each ``pyxl/reports/<engine>.py`` exposes ``run_demo(outdir, progress) -> list[Path]``.
"""
