"""cvxpy is imported on first use, so the add-in and the CLI start without it."""

from __future__ import annotations

import subprocess
import sys

import cvxpy

from pyxl.core import lazy_cvxpy


def _modules_after(code: str) -> set[str]:
    code += "\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_udfs_and_cli_import_without_cvxpy():
    for code in ("import pyxl.udfs", "import pyxl.cli", "import pyxl.core.mbp.optimize",
                 "import pyxl.core.kelly.portfolio"):
        assert "cvxpy" not in _modules_after(code), code


def test_first_use_imports_cvxpy():
    mods = _modules_after("from pyxl.core.lazy_cvxpy import cp\ncp.Variable")
    assert "cvxpy" in mods


def test_proxy_is_cvxpy():
    assert lazy_cvxpy.cp.Variable is cvxpy.Variable
    assert lazy_cvxpy.cp.CLARABEL == cvxpy.CLARABEL
    assert lazy_cvxpy.cp.error.SolverError is cvxpy.error.SolverError


def test_status_strings_match_cvxpy():
    assert lazy_cvxpy.STATUS_OPTIMAL == (cvxpy.OPTIMAL, cvxpy.OPTIMAL_INACCURATE)
    assert lazy_cvxpy.STATUS_INFEASIBLE == (cvxpy.INFEASIBLE, cvxpy.INFEASIBLE_INACCURATE)
