"""The seed Table 1 study: SBP versus MBP along a market-TE grid.

For each market-TE limit (seed: 0.25 % .. 5 % a year) an SBP (maximise alpha
subject to market TE only, no segment constraint) and an MBP (segment neutral,
seed eq. 6, plus a within-segment TE limit for every segment) are solved on the
same universe.  The within-segment limit of segment m is
``within_multiple[m] * market TE`` (default 2 for every segment), so the MBP
bounds exactly what the SBP leaves uncontrolled.  Each problem structure is
compiled once and re-solved with new Parameter values (DPP); each re-solve
is a working-set solve seeded by the previous market TE (:mod:`.screen`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from pyxl.core.mbp.model import MBPData, make_data
from pyxl.core.mbp.optimize import Limits, MBPProblem
from pyxl.core.mbp.universe import Universe
from pyxl.errors import InputError

__all__ = ["TABLE1_TE", "table1_study"]

#: Market-TE grid of seed Table 1 (annual decimals).
TABLE1_TE = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05)


def table1_study(
    universe: Universe,
    te_grid: Sequence[float] = TABLE1_TE,
    within_multiple: float | Sequence[float] = 2.0,
    solver: str | None = None,
    progress: Callable[[str, float | None], None] | None = None,
) -> pd.DataFrame:
    """SBP and MBP at each market TE: names held and within-segment TE per segment.

    Parameters
    ----------
    universe : Universe
        E.g. :func:`pyxl.core.mbp.universe.make_universe`.
    te_grid : sequence of float
        Market-TE limits (annual decimals).
    within_multiple : float or sequence of M floats
        MBP within-segment limit of segment m = multiple[m] * market TE.
    solver : str, optional
        cvxpy solver name (default Clarabel).
    progress : callable, optional
        ``progress(message, fraction)``.

    Raises
    ------
    InputError
        When ``within_multiple`` has neither 1 nor M values.

    Returns
    -------
    pandas.DataFrame
        One row per (portfolio, market TE limit) with columns ``portfolio``
        (SBP/MBP), ``te_limit``, ``market_te``, ``segment_te``, ``names`` and,
        per segment m, ``names_m``, ``within_te_m``, ``weight_m``, and
        ``within_limit_m`` (MBP), plus ``active_alpha`` and ``seconds``.
    """
    data: MBPData = make_data(universe.bench_w, universe.segment, universe.exposures,
                              universe.factor_cov, universe.spec_var)
    M = data.n_segments
    mult = np.atleast_1d(np.asarray(within_multiple, dtype=float))
    if mult.size not in (1, M):
        raise InputError("within_multiple", f"has {mult.size} values, expected 1 or {M}",
                         "give one multiple, or one per segment")
    mult = np.broadcast_to(mult, (M,))
    te_grid = [float(t) for t in te_grid]
    sbp_lim = Limits(te_total=te_grid[0], segment_neutral=False)
    mbp_lim = Limits(te_total=te_grid[0], te_within=tuple(mult * te_grid[0]),
                     segment_neutral=True)
    problems = {"SBP": MBPProblem(data, universe.alpha, sbp_lim),
                "MBP": MBPProblem(data, universe.alpha, mbp_lim)}
    rows = []
    total = 2 * len(te_grid)
    done = 0
    for kind, pb in problems.items():
        for te in te_grid:
            if kind == "SBP":
                lim = Limits(te_total=te, segment_neutral=False)
            else:
                lim = Limits(te_total=te, te_within=tuple(mult * te), segment_neutral=True)
            res = pb.solve(lim, solver=solver)
            dc = res.decomposition
            row = {"portfolio": kind, "te_limit": te, "market_te": dc.market_te,
                   "segment_te": dc.segment_te, "names": int(dc.names_held.sum()),
                   "active_alpha": res.active_alpha, "seconds": res.solve_seconds}
            for m in range(M):
                row[f"names_{m + 1}"] = int(dc.names_held[m])
                row[f"within_te_{m + 1}"] = float(dc.within_te[m])
                row[f"weight_{m + 1}"] = float(dc.seg_weight[m])
                row[f"within_limit_{m + 1}"] = float(mult[m] * te) if kind == "MBP" else np.nan
            rows.append(row)
            done += 1
            if progress is not None:
                progress(f"{kind} at market TE {te:.2%}", done / total)
    return pd.DataFrame(rows)
