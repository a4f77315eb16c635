"""Formula-layer overhead: converting an Excel range and recalculating from the cache.

``=MNVH_BACKTEST`` over a T x N price range is called through the xlwings harness
(:mod:`pyxl.xl.winstub`, which converts cells as xlwings' Windows engine does).  In one
run it measures

* PyXL's range conversion (``to_matrix``: one numpy call for a range of numbers)
  against the cell-by-cell conversion it falls back to for a range with a bad cell
  (the baseline, the way every range was converted before);
* a recalculation with unchanged cells (conversion, cache key, cached result), and
  the first calculation (the backtest itself);
* the add-in's start-up: ``import pyxl.udfs`` in a fresh process (what Excel's UDF
  server does before the first formula), against importing only the libraries it
  cannot do without (xlwings, pandas, numba, scipy.special) and against the same
  import with cvxpy loaded eagerly (as before cvxpy was imported on first use).

The harness's own conversion (xlwings' ``clean_value_data``) is in both calls; in
Excel, COM's transfer of the cells comes on top.  Run ``python benchmarks/bench_xl.py``;
writes ``benchmarks/results/xl.json``.  Times are the best of ``REPEAT`` runs.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _timing import best_of

from pyxl.xl import convert, winstub
from pyxl.xl.cache import clear_all

REPEAT = 5
SIZES = ((2520, 200), (5000, 500))


def cell_by_cell(rows, name="prices"):
    """Baseline: the per-cell path of ``to_matrix`` (validates and locates every cell)."""
    nrows, ncols = len(rows), len(rows[0])
    out = np.empty((nrows, ncols))
    for i, r in enumerate(rows):
        for j, cell in enumerate(r):
            out[i, j] = convert._cell_to_float(cell, name, convert._where(i, j, nrows, ncols))
    return out


STARTUP = {
    "floor": "import xlwings, pandas, numba, scipy.special",
    "pyxl.udfs": "import pyxl.udfs",
    "pyxl.udfs + cvxpy": "import pyxl.udfs, cvxpy",
}


def startup_times(repeat: int = REPEAT) -> dict[str, float]:
    """Best wall time (s) of each ``STARTUP`` import in a fresh interpreter."""
    best = dict.fromkeys(STARTUP, math.inf)
    for _ in range(repeat):  # alternate, so drift hits every case alike
        for name, code in STARTUP.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the 2520 x 200 range only")
    args = ap.parse_args()
    rng = np.random.default_rng(np.random.SeedSequence(20261124))
    rows_out = []
    for T, N in SIZES[:1] if args.quick else SIZES:
        P = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal((T, N)), axis=0))
        body = tuple(tuple(float(v) for v in r) for r in P)
        cells = (tuple(f"T{i}" for i in range(N)),) + body
        fast = convert.to_matrix(body, "prices")
        assert np.array_equal(fast, cell_by_cell(body))
        t_fast = best_of(lambda b=body: convert.to_matrix(b, "prices"), REPEAT)[0]
        t_slow = best_of(lambda b=body: cell_by_cell(b), 2)[0]
        winstub.call_formula("MNVH_BACKTEST", cells[:30])  # numba cache load
        clear_all()
        t0 = time.perf_counter()
        first = winstub.call_formula("MNVH_BACKTEST", cells)
        t_first = time.perf_counter() - t0
        assert not str(first[0][0]).startswith("#PyXL!"), first
        t_cached = best_of(lambda c=cells: winstub.call_formula("MNVH_BACKTEST", c), REPEAT)[0]
        rows_out.append({"case": f"MNVH_BACKTEST {T}x{N}", "cells": T * N,
                         "convert_numpy_s": t_fast, "convert_cell_by_cell_s": t_slow,
                         "ratio_convert": t_slow / t_fast,
                         "ns_per_cell_numpy": t_fast / (T * N) * 1e9,
                         "recalc_cached_s": t_cached, "first_calc_s": t_first})
    print(f"{'case':28s} {'convert s':>10} {'cell-by-cell s':>15} {'x':>6} "
          f"{'recalc (cached) s':>18} {'first calc s':>13}")
    for r in rows_out:
        print(f"{r['case']:28s} {r['convert_numpy_s']:10.4f} {r['convert_cell_by_cell_s']:15.4f} "
              f"{r['ratio_convert']:6.1f} {r['recalc_cached_s']:18.4f} {r['first_calc_s']:13.4f}")
    start = startup_times()
    print(f"start-up (fresh process, best of {REPEAT}): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in start.items())
          + f"; pyxl.udfs / floor {start['pyxl.udfs'] / start['floor']:.2f}")
    out = Path(__file__).parent / "results" / "xl.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "repeat": REPEAT, "rows": rows_out, "startup_s": start},
                              indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
