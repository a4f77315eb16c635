"""Excel formula for the scenario engine (seed 002): =MBB_RECOLOR.

Converts cells with :mod:`pyxl.xl.convert` and calls :func:`pyxl.core.scenarios.generate`;
identical inputs are answered from a bounded in-memory cache (Excel recalculates
often) and a run can be kept behind a ``pyxl:scn#...`` handle.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import xlwings as xw

from pyxl.core import scenarios as core
from pyxl.core.scenarios.engine import check_column_order
from pyxl.errors import InputError
from pyxl.xl import handles
from pyxl.xl.cache import memoize
from pyxl.xl.convert import (
    _rows,
    drop_date_column,
    excel_formula,
    is_missing,
    oldest_first_rows,
    refuse_dates_across,
    to_choice,
    to_float,
    to_int,
    to_labelled_matrix,
    to_matrix,
    to_text,
    to_vector,
    trim_range,
    xl_arg,
)

__all__ = ["MBB_RECOLOR"]

#: Largest number of values (paths x periods x assets) a formula keeps in memory.
MAX_KEPT_VALUES = 20_000_000
#: Excel's row limit (for output "all").
EXCEL_ROWS = 1_048_576


@memoize(maxsize=4)
def _run(R, mu, C, W, tickers, rt_labels, block, n_paths, lam, periods, seed, ridge, method,
         horizon, burn_in, target, recolor):
    spec = core.ScenarioSpec(
        n_paths=n_paths, block=block, horizon=horizon, lam=lam, periods=periods, seed=seed,
        method=method, target=target, recolor=recolor, burn_in=burn_in, ridge=ridge,
    )
    H = horizon if horizon > 0 else R.shape[0]
    keep = n_paths * H * R.shape[1] <= MAX_KEPT_VALUES
    return core.generate(R, mu, C, spec, W, tickers=list(tickers),
                         rt_labels=list(rt_labels) if rt_labels else None, keep_paths=keep)


def _rt(value: Any, n: int, tickers: list[str] | None = None
        ) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """K x N weights; an optional first column of text labels and/or header row of tickers.

    Weights are matched to the assets by position.  When both ``returns`` and ``rt_weights``
    carry a header row with the same tickers in a different order, that would silently
    misassign the weights, so it is refused.
    """
    if is_missing(value):
        return None, ()
    rows = _rows(value)
    labels: tuple[str, ...] = ()
    if rows and all(isinstance(r[0], str) and r[0].strip() for r in rows[1:] or rows) and \
            len(rows[0]) == n + 1:
        # a header row of tickers: text, or numeric codes below a blank corner (a label
        # column needs text in every row it labels)
        has_head = all(isinstance(c, str) for c in rows[0][1:]) or is_missing(rows[0][0])
        body = rows[1:] if has_head else rows
        labels = tuple(str(r[0]).strip() for r in body)
        rows = [r[1:] for r in rows]
    W, head = to_labelled_matrix(rows, "rt_weights", shape=(None, n))
    check_column_order(tickers, head, "rt_weights")
    if labels and len(labels) != W.shape[0]:
        labels = ()
    return W, labels


def _output(value: Any) -> tuple[str, int]:
    text = to_text(value, "output", default="summary").lower().replace(" ", "")
    if text in ("summary", "all", "handle"):
        return text, 0
    m = re.fullmatch(r"(path|fan):(\d+)", text)
    if m is None:
        raise InputError("output", f"{text!r} is not summary, path:k, fan:k, all or handle",
                         'e.g. "path:1"')
    return m.group(1), int(m.group(2))


def _render(sset: core.ScenarioSet, kind: str, k: int, handle: str | None) -> Any:
    if kind == "handle":
        return handle
    if kind == "summary":
        return sset.summary_rows()
    if kind == "fan":
        K = len(sset.portfolio_labels)
        if not 1 <= k <= K:
            raise InputError("output", f"fan:{k} is out of range, there are {K} portfolios",
                             f"use fan:1 .. fan:{K}")
        return [["period", "p5", "p25", "p50", "p75", "p95"], *sset.fan_rows(k - 1)]
    if sset.paths is None:
        size = sset.spec.n_paths * sset.horizon * len(sset.tickers)
        raise InputError("output", f"paths are not kept in memory for a run this large "
                         f"({size:,} values, limit {MAX_KEPT_VALUES:,})",
                         "use fewer paths, output summary, or the pyxl scenarios CLI")
    n, H, N = sset.paths.shape
    if kind == "path":
        if not 1 <= k <= n:
            raise InputError("output", f"path:{k} is out of range 1..{n}", "pick a path number")
        return sset.paths[k - 1].tolist()
    if n * H > EXCEL_ROWS:
        raise InputError("output", f"'all' needs {n * H} rows, Excel has {EXCEL_ROWS}",
                         "use fewer paths or a shorter horizon")
    out = np.empty((n * H, N + 2))
    out[:, 0] = np.repeat(np.arange(1, n + 1), H)
    out[:, 1] = np.tile(np.arange(1, H + 1), n)
    out[:, 2:] = sset.paths.reshape(n * H, N)
    return out


@xw.func(category="PyXL")
@xl_arg("returns", ndim=2, doc="History of per-period simple returns, T x N (optional header row "
        "of tickers and date column), or a pyxl:scn# handle from output \"handle\".")
@xl_arg("mu_ann", ndim=2, doc="Annual target mean returns, a row or column of N decimals.")
@xl_arg("cov_ann", ndim=2, doc="Annual target covariance, N x N, symmetric PSD.")
@xl_arg("block", doc="Bootstrap block length in periods; 0 = automatic (Politis-White).")
@xl_arg("n_paths", doc="Number of scenario paths.")
@xl_arg("lam", doc="EWMA smoothing lambda in (0, 1), default 0.94.")
@xl_arg("periods", doc="Periods per year: 12 (default), 52 or 252.")
@xl_arg("seed", doc="Random seed (integer >= 0), default 0.")
@xl_arg("rt_weights", ndim=2, doc="Risk-tolerance portfolio weights, K x N (optional first "
        "column of names); blank = none (no drift delta).")
@xl_arg("ridge", doc="Ridge rho of the drift delta, default 0 (exact for K <= N).")
@xl_arg("output", doc='"summary" (default), "path:k", "fan:k" (RT portfolio k), "all" or '
        '"handle".')
@xl_arg("method", doc='Bootstrap: "moving" (default), "circular" or "stationary".')
@xl_arg("horizon", doc="Periods per path; 0 or blank = history length T.")
@xl_arg("burn_in", doc="Extra periods that only warm up the EWMA, default 0.")
@xl_arg("target", doc='Annual-to-period conversion: "arithmetic" (default), "geometric", "log", '
        '"lognormal".')
@xl_arg("recolor", doc='"symmetric" (default), "symmetric-eigh", "cholesky" or "none".')
@excel_formula
def MBB_RECOLOR(returns, mu_ann, cov_ann, block, n_paths, lam=0.94, periods=12, seed=0,
                rt_weights=None, ridge=0.0, output="summary", method="moving", horizon=0,
                burn_in=0, target="arithmetic", recolor="symmetric"):
    """Block-bootstrap scenarios recoloured by EWMA to annual targets with RT drift delta."""
    kind, k = _output(output)
    text = handles.cell_text(returns)
    if text is not None:
        return _render(handles.get(text, "scn", "returns"), kind, k, text)
    # a whole-column reference or a range drawn too large: blank rows and columns at the
    # end go before the date order is read (a trailing blank date cell made the order
    # check give up, so a table newest first was bootstrapped backwards in time)
    returns = trim_range(returns)
    refuse_dates_across(returns, "returns")
    returns = oldest_first_rows(returns, "returns")  # blocks copy consecutive rows
    R, tick = to_labelled_matrix(drop_date_column(returns, "returns"), "returns", min_rows=2)
    N = R.shape[1]
    mu = to_vector(mu_ann, "mu_ann")
    C = to_matrix(cov_ann, "cov_ann")
    if mu.size != N and C.shape == (mu.size, mu.size):
        # mu_ann and cov_ann agree: returns is the range with the wrong number of columns
        raise InputError("returns", f"has {N} columns, mu_ann and cov_ann have {mu.size} "
                         "assets", "one column per asset (periods down the rows)")
    if mu.size != N:
        raise InputError("mu_ann", f"has {mu.size} values, expected {N}",
                         "match the number of assets")
    if C.shape != (N, N):
        raise InputError("cov_ann", f"is {C.shape[0]}x{C.shape[1]}, expected {N}x{N}",
                         "resize the range")
    W, labels = _rt(rt_weights, N, tick)
    args = dict(
        # block <= T is checked by the engine, whose message names the history length
        block=to_int(block, "block", default=0, lo=0),
        n_paths=to_int(n_paths, "n_paths", lo=1, hi=10_000_000),
        lam=to_float(lam, "lam", default=0.94, lo=0.0, hi=1.0, lo_open=True, hi_open=True),
        periods=to_int(periods, "periods", default=12, lo=1, hi=100_000),
        seed=to_int(seed, "seed", default=0, lo=0),
        ridge=to_float(ridge, "ridge", default=0.0, lo=0.0),
        method=to_choice(method, "method", core.METHODS, default="moving"),
        horizon=to_int(horizon, "horizon", default=0, lo=0, hi=100_000),
        burn_in=to_int(burn_in, "burn_in", default=0, lo=0, hi=100_000),
        target=to_choice(target, "target", core.TARGET_METHODS, default="arithmetic"),
        recolor=to_choice(recolor, "recolor", core.RECOLOR_METHODS, default="symmetric"),
    )
    H = args["horizon"] or R.shape[0]
    if kind == "all" and args["n_paths"] * H > EXCEL_ROWS:
        raise InputError("output", f"'all' needs {args['n_paths'] * H} rows, Excel has "
                         f"{EXCEL_ROWS}", "use fewer paths or a shorter horizon")
    tickers = tuple(tick) if tick and len(tick) == N else tuple(f"asset{i + 1}" for i in range(N))
    sset = _run(R, mu, C, W, tickers, labels, **args)
    handle = None
    if kind == "handle":
        handle = handles.put(sset, "scn", R, mu, C, W, tickers, labels, args)
    return _render(sset, kind, k, handle)
