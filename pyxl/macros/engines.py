"""What each template's Run button computes.

Every number comes from the PyXL formulas themselves (:mod:`pyxl.udfs`), the
same functions the cells call, fed with the template's named input ranges:
a macro never re-implements the maths, so a button run and the live formulas
cannot disagree.  A formula's arguments are bound by name: parameter ``lam``
of a formula run by template ``mnvh`` reads the defined name ``mnvh_lam``
(the layout contract in :mod:`pyxl.templates.spec` names inputs that way).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from pyxl.macros.book import WorkbookIO
from pyxl.macros.runner import Block, MacroError, Report
from pyxl.xl.convert import ERROR_PREFIX

__all__ = ["formula", "read", "bind", "call", "COMPUTE", "mnvh", "scenarios", "mbp", "kelly"]

ProgressFn = Callable[[str, "float | None"], None]


def formula(name: str) -> Callable[..., Any]:
    """The PyXL formula ``name`` as a Python function."""
    import pyxl.udfs as udfs

    func = getattr(udfs, name, None)
    if func is None:
        raise MacroError(f"formula {name} is not available in this PyXL installation; "
                         "update PyXL (pip install -U pyxl)")
    return func


def read(io: WorkbookIO, name: str) -> Any:
    """A named input in Excel's shape: a scalar for one cell, else a list of rows."""
    if not io.has_name(name):
        raise MacroError(f"{name}: defined name missing from this workbook; "
                         "restore it (Formulas > Name Manager) or start from a fresh template")
    value = io.read_name(name)
    if isinstance(value, list) and len(value) == 1 and len(value[0]) == 1:
        return value[0][0]
    return value


def bind(io: WorkbookIO, key: str, func: Callable[..., Any], **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``func`` read from the ``{key}_{parameter}`` names.

    Parameters absent from the workbook are left to their defaults; those in
    ``overrides`` take the given value (a string starting with ``@`` names a
    defined name to read).
    """
    kwargs: dict[str, Any] = {}
    for pname in inspect.signature(func).parameters:
        if pname in overrides:
            value = overrides[pname]
            if isinstance(value, str) and value.startswith("@"):
                value = read(io, value[1:])
            kwargs[pname] = value
        elif io.has_name(f"{key}_{pname}"):
            kwargs[pname] = read(io, f"{key}_{pname}")
    return kwargs


def _rows(result: Any) -> list[list[Any]]:
    if isinstance(result, np.ndarray):
        if result.ndim == 0:
            return [[result.item()]]
        if result.ndim == 1:
            return [[v] for v in result.tolist()]
        return result.tolist()
    if isinstance(result, (list, tuple)):
        if result and all(isinstance(r, (list, tuple, np.ndarray)) for r in result):
            return [list(r) for r in result]
        return [[v] for v in result]
    return [[result]]


def call(name: str, /, **kwargs: Any) -> list[list[Any]]:
    """Call formula ``name``; its ``#PyXL!`` error line becomes a :class:`MacroError`."""
    result = formula(name)(**kwargs)
    rows = _rows(result)
    first = rows[0][0] if rows and rows[0] else None
    if isinstance(first, str) and first.startswith(ERROR_PREFIX):
        raise MacroError(f"{name}: {first[len(ERROR_PREFIX):]}")
    return rows


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list):
        return [str(value)]
    return [str(v) for row in value for v in row if v is not None]


# ---------------------------------------------------------------------------
# One compute function per template: (io, progress) -> Report
# ---------------------------------------------------------------------------


def mnvh(io: WorkbookIO, progress: ProgressFn) -> Report:
    """MNVH + Ledger-SPT backtest on the Prices sheet with the Inputs parameters."""
    func = formula("MNVH_BACKTEST")
    kwargs = bind(io, "mnvh", func, prices="@mnvh_price_table")
    progress("running the MNVH backtest", 0.2)
    metrics = call("MNVH_BACKTEST", **kwargs)
    return Report("Out_Backtest", "MNVH + Ledger-SPT backtest (full engine run)", [
        Block("Metrics", [["Metric", "Value"], *metrics]),
    ])


def scenarios(io: WorkbookIO, progress: ProgressFn) -> Report:
    """Block bootstrap + EWMA recolour + drift delta on the History sheet."""
    func = formula("MBB_RECOLOR")
    kwargs = bind(io, "scn", func, output="summary")
    progress("generating scenarios", 0.2)
    summary = call("MBB_RECOLOR", **kwargs)
    return Report("Out_Scenarios", "Scenario generation (full run)", [
        Block("Summary", summary),
    ])


def mbp(io: WorkbookIO, progress: ProgressFn) -> Report:
    """MBP weights, their decomposition and the SBP-vs-MBP TE frontier."""
    from pyxl.templates.spec import MBP_FRONTIER_TE

    opt = formula("MBP_OPTIMIZE")
    rep = formula("MBP_REPORT")
    kwargs = bind(io, "mbp", opt)
    progress("optimising", 0.1)
    weights = call("MBP_OPTIMIZE", **kwargs)
    rkw = bind(io, "mbp", rep, weights=weights)
    report = call("MBP_REPORT", **rkw)
    names = _labels(read(io, "mbp_names"))
    bench = _rows(read(io, "mbp_bench_w"))
    wtable = [["Name", "Benchmark weight", "Weight"]]
    for i, name in enumerate(names):
        wtable.append([name, bench[i][0] if i < len(bench) else None,
                       weights[i][0] if i < len(weights) else None])

    frontier_cols: list[tuple[str, list[list[Any]]]] = []
    n = len(MBP_FRONTIER_TE)
    for k, te in enumerate(MBP_FRONTIER_TE):
        for label, neutral, seg in (("SBP", False, None), ("MBP", True, kwargs.get("te_segments"))):
            progress(f"frontier {label} at TE {te:.2%}", 0.2 + 0.7 * (k + 0.5) / n)
            kw = dict(kwargs, te_total=te, segment_neutral=neutral, te_segments=seg)
            w = call("MBP_OPTIMIZE", **kw)
            r = call("MBP_REPORT", **bind(io, "mbp", rep, weights=w))
            frontier_cols.append((f"{label} TE {te:.2%}", r))
    labels = [row[0] for row in frontier_cols[0][1]]
    frontier = [["", *[c for c, _ in frontier_cols]]]
    for i, lab in enumerate(labels):
        frontier.append([lab, *[r[i][1] if i < len(r) and len(r[i]) > 1 else None
                                for _, r in frontier_cols]])
    return Report("Out_MBP", "Multiple-benchmark optimisation (full run)", [
        Block("Decomposition of the optimal portfolio", report),
        Block("Tracking-error frontier: single (SBP) vs multiple benchmarks (MBP)", frontier),
        Block("Weights", wtable),
    ])


def kelly(io: WorkbookIO, progress: ProgressFn) -> Report:
    """Kelly leverage, growth and horizon for every asset, and a growth curve."""
    names = _labels(read(io, "kelly_names"))
    mus = [r[0] for r in _rows(read(io, "kelly_mu"))]
    sigmas = [r[0] for r in _rows(read(io, "kelly_sigma"))]
    rf = read(io, "kelly_rf")
    fraction = read(io, "kelly_fraction")
    confidence = read(io, "kelly_confidence")
    vs = read(io, "kelly_vs_leverage")
    table = [["Asset", "mu", "sigma", "Kelly leverage", "Growth at leverage",
              "Years to outperform"]]
    for i, name in enumerate(names):
        progress(f"asset {name}", i / max(len(names), 1))
        mu, sigma = mus[i], sigmas[i]
        lev = call("KELLY_LEVERAGE", mu=mu, sigma=sigma, rf=rf, fraction=fraction)[0][0]
        growth = call("KELLY_GROWTH", n=lev, mu=mu, sigma=sigma, rf=rf)[0][0]
        horizon = call("KELLY_HORIZON", mu=mu, sigma=sigma, rf=rf, confidence=confidence,
                       vs_leverage=vs, leverage=lev)[0][0]
        table.append([name, mu, sigma, lev, growth, horizon])
    chosen = read(io, "kelly_asset") if io.has_name("kelly_asset") else names[0]
    i = names.index(chosen) if chosen in names else 0
    full = call("KELLY_LEVERAGE", mu=mus[i], sigma=sigmas[i], rf=rf, fraction=1.0)[0][0]
    top = max(2.0 * float(full), 1.0)
    curve = [["Leverage", f"Growth ({names[i]})"]]
    for k in range(41):
        lev_k = top * k / 40
        curve.append([lev_k, call("KELLY_GROWTH", n=lev_k, mu=mus[i], sigma=sigmas[i],
                                  rf=rf)[0][0]])
    return Report("Out_Kelly", "Kelly leverage report (full run)", [
        Block("Kelly table", table),
        Block(f"Growth vs leverage: {names[i]}", curve, chart="scatter",
              chart_title=f"Expected growth vs leverage ({names[i]})",
              x_title="Leverage n", y_title="Growth per year"),
    ])


#: Compute function by template key.
COMPUTE: dict[str, Callable[[WorkbookIO, ProgressFn], Report]] = {
    "mnvh": mnvh,
    "scenarios": scenarios,
    "mbp": mbp,
    "kelly": kelly,
}
