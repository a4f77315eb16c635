"""Excel formulas for the multiple-benchmark optimiser (seed 004).

Units: every TE, variance and alpha is annual and decimal (0.01 = 1 % a year);
``spec_var`` holds variances (0.09 = 30 % vol squared), ``factor_cov`` the
annual factor covariance.  Segment labels are whole numbers 1..M.

``=MBP_OPTIMIZE(..., output="handle")`` returns a ``pyxl:mbp#...`` handle (see
:mod:`pyxl.xl.handles`) that ``=MBP_REPORT`` accepts in place of ``weights``:
the optimisation is computed once and the report needs no other argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xlwings as xw

from pyxl.core.mbp.decompose import decompose
from pyxl.core.mbp.model import MBPData, make_data
from pyxl.core.mbp.optimize import Limits, optimize
from pyxl.errors import InputError
from pyxl.xl import handles
from pyxl.xl.cache import memoize
from pyxl.xl.convert import (
    excel_formula,
    is_missing,
    table,
    to_bool,
    to_choice,
    to_float,
    to_matrix,
    to_vector,
    vector_like,
    xl_arg,
)

__all__ = ["MBP_OPTIMIZE", "MBP_REPORT"]

_KIND = "mbp"
_OUTPUTS = ("weights", "handle")
_PROBLEM_ARGS = ("bench_w", "segment", "exposures", "factor_cov", "spec_var")


@dataclass(frozen=True)
class MBPHandle:
    """What a ``pyxl:mbp#`` handle keeps: the optimal weights and their problem.

    ``inputs`` holds the converted ``bench_w, segment, exposures, factor_cov,
    spec_var`` arrays, so that =MBP_REPORT can check ranges given next to the handle.
    """

    weights: np.ndarray
    data: MBPData
    inputs: tuple[np.ndarray, ...]


def _inputs(bench_w: Any, segment: Any, exposures: Any, factor_cov: Any, spec_var: Any
            ) -> tuple[np.ndarray, ...]:
    wT = to_vector(bench_w, "bench_w", nonnegative=True)
    n = wT.size
    seg = to_vector(segment, "segment")
    s_raw = to_vector(spec_var, "spec_var", nonnegative=True)
    if seg.size != n and seg.size == s_raw.size:
        # segment and spec_var agree: bench_w is the range with the wrong length
        raise InputError("bench_w", f"has {n} values, segment and spec_var have {seg.size}",
                         "one benchmark weight per asset")
    if seg.size != n:
        raise InputError("segment", f"has {seg.size} values, expected {n}",
                         "match the number of assets")
    if np.any(seg > n):  # labels 1..M with M <= n (a 1e300 label overflowed the core's int cast)
        raise InputError("segment", f"label {seg[np.argmax(seg > n)]:g} is more than the "
                         f"number of assets ({n})", "label segments 1..M")
    B = to_matrix(exposures, "exposures")
    if B.shape[0] != n and B.shape[1] == n and n > 1:
        raise InputError("exposures", f"is {B.shape[0]}x{B.shape[1]}",
                         "one row per asset, one column per factor")
    if B.shape[0] != n:
        raise InputError("exposures", f"has {B.shape[0]} rows, expected {n}",
                         "one row per asset")
    k = B.shape[1]
    F = to_matrix(factor_cov, "factor_cov")
    if F.shape != (k, k):  # either range may be the wrong one: the line names both
        raise InputError("factor_cov", f"is {F.shape[0]}x{F.shape[1]}, expected {k}x{k}",
                         f"one row and column per factor (exposures has {k} columns)")
    s = to_vector(spec_var, "spec_var", length=n, nonnegative=True)
    return wT, seg, B, F, s


@memoize(maxsize=16)
def _data(wT: np.ndarray, seg: np.ndarray, B: np.ndarray, F: np.ndarray,
          s: np.ndarray) -> MBPData:
    return make_data(wT, seg, B, F, s)


@memoize(maxsize=32)
def _solve(alpha: np.ndarray, wT: np.ndarray, seg: np.ndarray, B: np.ndarray, F: np.ndarray,
           s: np.ndarray, te_total: float, te_within: tuple, neutral: bool,
           max_weight: float) -> np.ndarray:
    data = _data(wT, seg, B, F, s)
    lim = Limits(te_total=te_total, te_within=te_within or None, segment_neutral=neutral,
                 max_weight=None if max_weight >= 1 else max_weight)
    return optimize(data, alpha, lim).weights


@xw.func(category="PyXL")
@xl_arg("alpha", ndim=2, doc="Expected annual active return per asset, decimal (0.02 = 2 %).")
@xl_arg("bench_w", ndim=2, doc="Benchmark weights (>= 0, sum 1), one per asset.")
@xl_arg("segment", ndim=2, doc="Segment label per asset: whole numbers 1..M.")
@xl_arg("exposures", ndim=2, doc="Factor exposures B: one row per asset, one column per factor.")
@xl_arg("factor_cov", ndim=2, doc="Annual factor covariance F (K x K, symmetric PSD).")
@xl_arg("spec_var", ndim=2, doc="Annual specific variance per asset (vol squared, 0.09 = 30 %).")
@xl_arg("te_total", doc="Market TE limit, annual decimal (0.01 = 1 %).")
@xl_arg("te_segments", ndim=2,
        doc="Optional within-segment TE limits, one per label 1..M; blank = no limit.")
@xl_arg("segment_neutral", doc="TRUE (default): hold each segment at its benchmark weight.")
@xl_arg("max_weight", doc="Optional maximum weight per asset (default 1 = none).")
@xl_arg("output", doc='"weights" (default): the weight column; "handle": a pyxl:mbp# text that '
        "MBP_REPORT accepts in place of weights.")
@excel_formula
def MBP_OPTIMIZE(alpha, bench_w, segment, exposures, factor_cov, spec_var, te_total,
                 te_segments=None, segment_neutral=True, max_weight=1, output="weights"):
    """Long-only, fully invested weights maximising alpha under market and within-segment TE limits."""  # noqa: E501
    kind = to_choice(output, "output", _OUTPUTS, default="weights")
    wT, seg, B, F, s = _inputs(bench_w, segment, exposures, factor_cov, spec_var)
    a = to_vector(alpha, "alpha", length=wT.size)
    te = to_float(te_total, "te_total", lo=0.0, lo_open=True)
    if te >= 1.0:
        raise InputError("te_total", f"{te:g} is 100 % or more",
                         "enter an annual decimal such as 0.01 for 1 %")
    M = _data(wT, seg, B, F, s).n_segments  # validates the inputs first
    within: tuple = ()
    if not is_missing(te_segments):
        lims = to_vector(te_segments, "te_segments", allow_blank=True)
        if lims.size != M:
            raise InputError("te_segments", f"has {lims.size} limits, expected {M}",
                             "one limit (or a blank) per segment label 1..M")
        within = tuple(None if not np.isfinite(v) else float(v) for v in lims)
        big = [j for j, v in enumerate(within) if v is not None and v >= 1.0]
        if big:  # 2 typed for 2 % would silently lift the limit (same rule as te_total)
            raise InputError("te_segments", f"item {big[0] + 1} is {within[big[0]]:g}, 100 % or "
                             "more", "enter an annual decimal such as 0.02 for 2 %")
    neutral = to_bool(segment_neutral, "segment_neutral", default=True)
    mw = to_float(max_weight, "max_weight", default=1.0, lo=0.0, lo_open=True)
    if mw > 1.0:  # 5 typed for 5 % would silently remove the cap
        raise InputError("max_weight", f"{mw:g} is more than 1",
                         "enter a decimal such as 0.05 for 5 %, or 1 for no cap")
    w = _solve(a, wT, seg, B, F, s, te, within, neutral, mw)
    if kind == "handle":
        obj = MBPHandle(weights=w, data=_data(wT, seg, B, F, s), inputs=(wT, seg, B, F, s))
        return handles.put(obj, _KIND, a, wT, seg, B, F, s, te, within, neutral, mw)
    return vector_like(w, bench_w)


def _check_same(given: dict[str, Any], stored: MBPHandle) -> None:
    """Ranges given next to a handle must hold the handle's own problem."""
    conv = {
        "bench_w": lambda v: to_vector(v, "bench_w", nonnegative=True),
        "segment": lambda v: to_vector(v, "segment"),
        "exposures": lambda v: to_matrix(v, "exposures"),
        "factor_cov": lambda v: to_matrix(v, "factor_cov"),
        "spec_var": lambda v: to_vector(v, "spec_var", nonnegative=True),
    }
    for name, ref in zip(_PROBLEM_ARGS, stored.inputs, strict=True):
        value = given[name]
        if is_missing(value):
            continue
        arr = conv[name](value)
        if arr.shape != ref.shape or not np.array_equal(arr, ref):
            raise InputError(name, f"differs from the {name} of the pyxl:mbp# handle given "
                             "as weights", "leave it blank or point to the range the handle "
                             "was made from")


@xw.func(category="PyXL")
@xl_arg("weights", ndim=2, doc="Portfolio weights per asset (e.g. MBP_OPTIMIZE's output) or a "
        "pyxl:mbp# handle from MBP_OPTIMIZE(..., \"handle\").")
@xl_arg("bench_w", ndim=2, doc="Benchmark weights (>= 0, sum 1), one per asset; may be blank "
        "with a handle.")
@xl_arg("segment", ndim=2, doc="Segment label per asset: whole numbers 1..M.")
@xl_arg("exposures", ndim=2, doc="Factor exposures B: one row per asset, one column per factor.")
@xl_arg("factor_cov", ndim=2, doc="Annual factor covariance F (K x K, symmetric PSD).")
@xl_arg("spec_var", ndim=2, doc="Annual specific variance per asset (vol squared).")
@excel_formula
def MBP_REPORT(weights, bench_w=None, segment=None, exposures=None, factor_cov=None,
               spec_var=None):
    """TE decomposition: market, segment and within-segment TE, names held, Delta_1, 2 Delta_2, check."""  # noqa: E501
    if is_missing(weights):
        raise InputError("weights", "is blank", "enter the weights or a pyxl:mbp# handle")
    text = handles.cell_text(weights)
    given = dict(zip(_PROBLEM_ARGS, (bench_w, segment, exposures, factor_cov, spec_var),
                     strict=True))
    if text is not None:
        stored: MBPHandle = handles.get(text, _KIND, "weights")
        _check_same(given, stored)
        data, w = stored.data, stored.weights
    else:
        for name, value in given.items():
            if is_missing(value):
                raise InputError(name, "is missing", "enter the range, or give a pyxl:mbp# "
                                 "handle in weights")
        wT, seg, B, F, s = _inputs(bench_w, segment, exposures, factor_cov, spec_var)
        data = _data(wT, seg, B, F, s)
        w = to_vector(weights, "weights", length=wT.size)
        total = float(w.sum())
        if abs(total - 100.0) <= 1.0:  # the benchmark's sum to 1 is enforced (model.py)
            raise InputError("weights", f"sum to {total:.6g}: percents typed for decimals "
                             "(the benchmark weights sum to 1)",
                             "enter decimals (5 % as 0.05), e.g. divide the range by 100")
    rows = decompose(data, w).rows()
    return table([r[0] for r in rows], [r[1] for r in rows])
