"""The workbook engine: calculate PyXL workbooks without Excel (``pyxl calc``).

See :func:`pyxl.workbook.engine.calculate` and ``docs/workbooks.md``.
"""

from pyxl.workbook.engine import CalcReport, CellIssue, calculate, evaluate

__all__ = ["CalcReport", "CellIssue", "calculate", "evaluate"]
