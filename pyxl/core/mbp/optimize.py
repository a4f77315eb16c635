"""Single- and multiple-benchmark portfolio optimisation (SBP / MBP) in factor form.

Problem (all annual decimals; ``a = w - w^T``, ``G = Fh B'`` with ``Fh' Fh = F``)::

    maximise    alpha' w  -  c * 0.5 * ||w - h||_1                 (c: turnover penalty)
    subject to  || [G a ; sqrt(s) * a] ||_2                <= te_total     market TE
                || [Fh B'Y z ; sqrt(S) * z] ||_2           <= te_segment   segment TE (eq. 4)
                || [G v_m ; sqrt(s) * v_m] ||_2            <= te_m * W_m   within TE (eq. 5)
                W_m = sum_{i in G_m} w_i,   z = W - W^T,   v_m = w_{G_m} - W_m y**_m
                W = W^T                                     segment neutral (eq. 6), default
                sum w = 1, w >= 0                           fully invested, long-only (default)
                w <= max_weight,  |w - w^T| <= max_active,  0.5 ||w - h||_1 <= max_turnover

``Y`` holds the within-segment benchmark weights y**_m as columns and
``S_m = sum_i (y**_mi)^2 s_i``.  The within-segment limit is seed eq. (5)
``TE(y*_m - y**_m) <= te_m`` multiplied by ``W_m >= 0``: with segment neutrality
W_m is the constant W^T_m (seed eq. 6); without it ``||L v_m|| <= te_m W_m`` is
the perspective of the normalised constraint and still a second-order cone,
so the problem stays convex (this goes beyond the seed, which fixes W_m).

Every tracking-error limit is one second-order cone in factor form; the N x N
covariance is never formed.  Limits and the turnover cap are cvxpy Parameters
(DPP), so a frontier re-solves without recompiling.  An SBP is the same
problem with only ``te_total`` (and no segment neutrality).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from pyxl.core.labels import as_vector
from pyxl.core.lazy_cvxpy import STATUS_INFEASIBLE, STATUS_OPTIMAL, cp
from pyxl.core.mbp import polish, screen
from pyxl.core.mbp.decompose import Decomposition, decompose
from pyxl.core.mbp.model import MBPData, in_asset_order
from pyxl.errors import InfeasibleError, InputError

__all__ = [
    "Limits",
    "LimitInfo",
    "MBPResult",
    "MBPProblem",
    "optimize",
    "frontier",
    "diagnose",
    "DEFAULT_SOLVER",
    "FALLBACK_SOLVER",
]

DEFAULT_SOLVER = "CLARABEL"
FALLBACK_SOLVER = "SCS"
#: A limit counts as binding when the achieved value is within this relative distance.
BINDING_RTOL = 1e-4
#: Cone rows are written in percent (x100) so the solver's absolute tolerances
#: (~1e-8) are small against TE limits of 0.1 %-5 %; within-segment cones are
#: also divided by the segment's benchmark weight.
_SCALE = 100.0
#: Smallest objective scale the solver sees: max|alpha| (or the turnover penalty) below
#: this (1 % a year) is scaled up to it; above 1 it is scaled down to 1 (see MBPProblem).
_ALPHA_LO = 1e-2
_OK = STATUS_OPTIMAL
_INFEASIBLE = STATUS_INFEASIBLE
#: A returned portfolio must meet every limit to these tolerances, recomputed from its
#: weights: a TE or turnover limit to 1e-6 relative (the margin within which the
#: diagnosis calls a limit met; Clarabel's answers hold to about 1e-8), a weight bound,
#: the budget and segment neutrality to 1e-6 of the portfolio.  A solver can end
#: "optimal_inaccurate" (or, at a limit just below its smallest feasible value,
#: "optimal") at a point that breaks them: such an answer is refused, not returned.
LIMIT_RTOL = 1e-6
WEIGHT_ATOL = 1e-6


@dataclass(frozen=True)
class Limits:
    """Constraints of one optimisation (annual decimals; None = no limit).

    Attributes
    ----------
    te_total : market TE limit (SBP limit), e.g. 0.01 = 1 % a year.
    te_segment : segment (allocation) TE limit, seed eq. (4); irrelevant when neutral.
    te_within : per-segment within-segment TE limits, seed eq. (5); element m for
        segment label m+1; None or NaN for no limit.
    segment_neutral : hold each segment at its benchmark weight (seed eq. 6).
    long_only, fully_invested : w >= 0 and sum w = 1.
    max_weight : upper bound on each weight (None or >= 1: none).
    max_active : bound on |w_i - w^T_i|.
    holdings : current weights h (needed for the turnover limit or penalty).
    max_turnover : one-way turnover limit 0.5 * sum |w - h|.
    turnover_penalty : cost per unit of one-way turnover, in alpha units.
    """

    te_total: float | None = None
    te_segment: float | None = None
    te_within: tuple[float | None, ...] | None = None
    segment_neutral: bool = True
    long_only: bool = True
    fully_invested: bool = True
    max_weight: float | None = None
    max_active: float | None = None
    holdings: np.ndarray | None = field(default=None, repr=False)
    max_turnover: float | None = None
    turnover_penalty: float = 0.0

    def within(self, m: int) -> float | None:
        """Within-segment limit of segment index m (0-based), None when absent."""
        if self.te_within is None or m >= len(self.te_within):
            return None
        v = self.te_within[m]
        return None if v is None or not np.isfinite(v) else float(v)

    def structure(self, n_segments: int) -> tuple:
        """Which limits exist: two Limits with equal structure share one compiled problem."""
        return (
            self.te_total is not None,
            self.te_segment is not None and not self.segment_neutral,
            tuple(self.within(m) is not None for m in range(n_segments)),
            self.segment_neutral, self.long_only, self.fully_invested,
            self.max_weight, self.max_active,
            None if self.holdings is None else np.asarray(self.holdings, float).tobytes(),
            self.max_turnover is not None, float(self.turnover_penalty),
        )


@dataclass(frozen=True)
class LimitInfo:
    """One tracking-error or turnover limit after a solve.

    ``value`` is recomputed with numpy from the returned weights (not the
    solver's numbers); ``shadow_price`` is d(optimal alpha)/d(limit), from the
    cone's dual value, in alpha units per unit of the limit.
    """

    name: str
    label: str
    limit: float
    value: float
    binding: bool
    shadow_price: float


@dataclass(frozen=True)
class MBPResult:
    """Optimal weights and what they achieve.

    ``weights`` is an array in the order of ``bench_w``, or a Series named ``weight``
    indexed by its labels when ``bench_w`` was a labelled Series (:func:`make_data`).
    """

    weights: np.ndarray | Any
    status: str
    solver: str
    active_alpha: float
    objective: float
    limits: tuple[LimitInfo, ...]
    decomposition: Decomposition
    solve_seconds: float

    def binding(self) -> list[LimitInfo]:
        """The limits that bind."""
        return [lim for lim in self.limits if lim.binding]


def _check_limits(data: MBPData, lim: Limits) -> None:
    M = data.n_segments
    for name, v in (("te_total", lim.te_total), ("te_segment", lim.te_segment)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise InputError(name, f"must be > 0, got {v:g}", "enter an annual TE such as 0.01")
    if lim.te_within is not None:
        if len(lim.te_within) != M:
            raise InputError("te_segments", f"has {len(lim.te_within)} limits, expected {M}",
                             "one limit (or a blank) per segment label 1..M")
        for m in range(M):
            v = lim.within(m)
            if v is not None and v <= 0:
                raise InputError("te_segments", f"item {m + 1} must be > 0, got {v:g}",
                                 "enter an annual TE or leave it blank")
    if lim.max_weight is not None and not lim.max_weight > 0:
        raise InputError("max_weight", f"must be > 0, got {lim.max_weight:g}",
                         "enter a weight such as 0.05")
    if lim.max_active is not None and not lim.max_active > 0:
        raise InputError("max_active", f"must be > 0, got {lim.max_active:g}",
                         "enter a weight such as 0.02")
    if lim.max_turnover is not None or lim.turnover_penalty:
        if lim.holdings is None:
            raise InputError("holdings", "are needed for a turnover limit or penalty",
                             "enter the current weights")
    held = as_vector(lim.holdings)
    if held is not None and _in_data_order(held, data, "holdings") is not held:
        raise InputError("holdings", "are labelled in another order than bench_w",
                         "reorder them (holdings.reindex(bench_w.index)) or pass plain numbers")
    if lim.holdings is not None and np.asarray(lim.holdings).size != data.n:
        raise InputError("holdings", f"has {np.asarray(lim.holdings).size} values, "
                         f"expected {data.n}", "one weight per asset")
    if lim.max_turnover is not None and not lim.max_turnover >= 0:
        raise InputError("max_turnover", f"must be >= 0, got {lim.max_turnover:g}",
                         "enter a one-way turnover such as 0.1")
    if lim.turnover_penalty < 0:
        raise InputError("turnover_penalty", "must be >= 0", "enter a cost >= 0")
    if (lim.te_total is None and lim.te_segment is None and lim.te_within is None
            and not lim.long_only and lim.max_active is None):
        raise InputError("te_total", "no risk limit given", "enter a market TE limit")


def _in_data_order(x, data: MBPData, name: str):
    """A labelled Series ``x`` (or one-column DataFrame) in the order of ``data``'s asset
    labels (a labelled ``bench_w``); anything else as it is
    (:func:`pyxl.core.mbp.model.in_asset_order`)."""
    return in_asset_order(x, data, name)


@functools.lru_cache(maxsize=1)
def _installed() -> tuple[str, ...]:
    """cvxpy's installed solvers (the lookup imports modules: ~6 ms, so cached)."""
    return tuple(cp.installed_solvers())


def _solver_name(solver: str | None) -> str:
    name = (solver or DEFAULT_SOLVER).strip().upper()
    if name not in _installed():
        raise InputError("solver", f"{name} is not installed",
                         f"use one of {', '.join(_installed())}")
    return name


class MBPProblem:
    """A compiled-once MBP/SBP problem whose limits are cvxpy Parameters.

    Parameters
    ----------
    data : MBPData
        Benchmark, segments and risk model.
    alpha : (N,) array
        Expected annual active return of each asset.
    template : Limits
        Fixes which limits exist (their values may change between solves).
    """

    def __init__(self, data: MBPData, alpha: np.ndarray, template: Limits) -> None:
        alpha = _in_data_order(alpha, data, "alpha")
        alpha = np.asarray(alpha, dtype=float).ravel()
        if alpha.size != data.n:
            raise InputError("alpha", f"has {alpha.size} values, expected {data.n}",
                             "one alpha per asset")
        if not np.all(np.isfinite(alpha)):
            raise InputError("alpha", "contains NaN or infinite values", "enter finite numbers")
        _check_limits(data, template)
        self.data, self.alpha, self.template = data, alpha, template
        #: The solver sees alpha / s (and the turnover penalty c / s), with s chosen so
        #: that the larger of max|alpha| and c lands in [_ALPHA_LO, 1]: s = max(1, big)
        #: for big >= _ALPHA_LO, else big / _ALPHA_LO.  The optimal weights do not change
        #: under a positive scaling of the objective, but the solvers' absolute tolerances
        #: (~1e-8) do not scale with it: alphas of 1e9 gave weights that broke the budget
        #: (1e20 failed), and alphas of 1e-9 (a score times 1e-6) sank below the
        #: tolerances and moved weights by 6 % (before small alphas were scaled up).
        #: Objective and shadow prices are scaled back, so no size of alpha is refused.
        big = max(float(np.max(np.abs(alpha))) if alpha.size else 0.0,
                  abs(float(template.turnover_penalty or 0.0)))
        if big >= _ALPHA_LO:
            self._alpha_scale = max(1.0, big)
        else:
            self._alpha_scale = big / _ALPHA_LO if big > 0.0 else 1.0
        self._structure = template.structure(data.n_segments)
        self._build(template)
        #: previous solution (weights, duals of w >= 0) for the working-set re-solve
        self._prev: tuple[np.ndarray, np.ndarray | None] | None = None
        self._screen_struct: Any = None
        #: how the last solve went: "full" or "working set (k names, r rounds)"
        self.last_method = ""
        #: the last solve's polish (:class:`pyxl.core.mbp.polish.Polished`), None when the
        #: solver's answer was kept; and the seconds the polish took
        self.last_polish: polish.Polished | None = None
        self.polish_seconds = 0.0

    # -- construction ---------------------------------------------------------------
    def _build(self, lim: Limits) -> None:
        d = self.data
        N, M = d.n, d.n_segments
        w = cp.Variable(N, name="w")
        W = cp.Variable(M, name="W")
        S = sp.csr_matrix((np.ones(N), (d.segment, np.arange(N))), shape=(M, N))
        cons: list[Any] = [S @ w == W]
        self._cons: dict[str, Any] = {}
        self._params: dict[str, cp.Parameter] = {}
        self._scale: dict[str, float] = {}
        if lim.fully_invested:
            cons.append(cp.sum(w) == 1)
        self._nonneg = None
        #: the weight bounds with their side ("lo" / "hi"): their duals seed the polish
        self._bound_cons: list[tuple[Any, str]] = []
        if lim.long_only:
            self._nonneg = w >= 0
            cons.append(self._nonneg)
            self._bound_cons.append((self._nonneg, "lo"))
        if lim.max_weight is not None and lim.max_weight < 1:
            cons.append(w <= lim.max_weight)
            self._bound_cons.append((cons[-1], "hi"))
        if lim.max_active is not None:
            cons += [w - d.bench_w <= lim.max_active, d.bench_w - w <= lim.max_active]
            self._bound_cons += [(cons[-2], "hi"), (cons[-1], "lo")]
        if lim.segment_neutral:
            cons.append(W == d.seg_bench)
        # factor exposures of each segment's holdings, e_m = B_m' w_m, as variables:
        # B is used sparse (industry dummies: ~5 non-zeros a row instead of K) and
        # only the K x K root Fh enters the cones, which therefore stay small
        Bt = sp.csr_matrix(d.exposures.T)
        Bt.eliminate_zeros()
        e = []
        for m in range(M):
            em = cp.Variable(d.k, name=f"e_{m + 1}")
            idx = d.members[m]
            cons.append(em == Bt[:, idx] @ w[idx])
            e.append(em)
        Fh = d.Fh
        f = [Fh @ em for em in e]
        # with segment neutrality and within-segment limits, v_m = a on G_m, so the
        # specific part is shared: q_m >= 100 * ||sqrt(s) a|| over segment m enters the
        # market cone and the within cone as one scalar, and the long specific
        # vectors appear once instead of twice (fewer cone rows, faster solves)
        q = []
        share = lim.segment_neutral and any(lim.within(m) is not None for m in range(M))
        for m in range(M if share else 0):
            idx = d.members[m]
            qm = cp.Variable(nonneg=True, name=f"q_{m + 1}")
            ss = d.sqrt_s[idx]
            cons.append(cp.SOC(qm, _SCALE * (cp.multiply(ss, w[idx]) - ss * d.bench_w[idx])))
            q.append(qm)
        if lim.te_total is not None:
            p = cp.Parameter(nonneg=True, name="te_total")
            if share:
                spec = q
            else:
                spec = [_SCALE * (cp.multiply(d.sqrt_s, w) - d.sqrt_s * d.bench_w)]
            market = cp.hstack([_SCALE * (Fh @ (sum(e) - d.exposures.T @ d.bench_w)), *spec])
            c = cp.SOC(_SCALE * p, market)
            self._scale["te_total"] = _SCALE
            self._params["te_total"], self._cons["te_total"] = p, c
            cons.append(c)
        if lim.te_segment is not None and not lim.segment_neutral:
            Y = np.zeros((N, M))
            Y[np.arange(N), d.segment] = d.y_bench
            S_spec = np.bincount(d.segment, weights=d.y_bench**2 * d.spec_var, minlength=M)
            seg_root = np.vstack([d.G @ Y, np.diag(np.sqrt(S_spec))])
            p = cp.Parameter(nonneg=True, name="te_segment")
            c = cp.SOC(_SCALE * p, _SCALE * seg_root @ (W - d.seg_bench))
            self._scale["te_segment"] = _SCALE
            self._params["te_segment"], self._cons["te_segment"] = p, c
            cons.append(c)
        for m in range(M):
            if lim.within(m) is None:
                continue
            idx = d.members[m]
            Gm = d.G[:, idx]
            g = Gm @ d.y_bench[idx]
            ss = d.sqrt_s[idx]
            p = cp.Parameter(nonneg=True, name=f"te_within_{m + 1}")
            sc = _SCALE / d.seg_bench[m]  # normalise by the segment's size: same accuracy
            if lim.segment_neutral:  # W_m = W^T_m, so v_m = a on G_m: reuse q_m
                expr = cp.hstack([sc * (f[m] - g * W[m]), q[m] / d.seg_bench[m]])
            else:
                expr = sc * cp.hstack([f[m] - g * W[m], cp.multiply(ss, w[idx])
                                       - (ss * d.y_bench[idx]) * W[m]])
            c = cp.SOC(p * (sc * W[m]), expr)
            self._scale[f"te_within_{m}"] = sc
            self._params[f"te_within_{m}"], self._cons[f"te_within_{m}"] = p, c
            cons.append(c)
        obj = (self.alpha / self._alpha_scale) @ w
        if lim.holdings is not None and (lim.max_turnover is not None or lim.turnover_penalty):
            h = np.asarray(lim.holdings, dtype=float).ravel()
            turn = 0.5 * cp.norm1(w - h)
            if lim.max_turnover is not None:
                p = cp.Parameter(nonneg=True, name="max_turnover")
                c = turn <= p
                self._params["max_turnover"], self._cons["max_turnover"] = p, c
                cons.append(c)
            if lim.turnover_penalty:
                obj = obj - (lim.turnover_penalty / self._alpha_scale) * turn
        limit_ids = {id(c) for c in self._cons.values()}
        self._w, self._W = w, W
        self._linear = [c for c in cons if id(c) not in limit_ids]  # incl. definitional cones
        self.problem = cp.Problem(cp.Maximize(obj), cons)

    def _set(self, lim: Limits) -> None:
        if lim.structure(self.data.n_segments) != self._structure:
            raise ValueError("limits differ in structure from the compiled problem")
        _check_limits(self.data, lim)
        for key, p in self._params.items():
            if key == "te_total":
                p.value = lim.te_total
            elif key == "te_segment":
                p.value = lim.te_segment
            elif key == "max_turnover":
                p.value = lim.max_turnover
            else:
                p.value = lim.within(int(key.rsplit("_", 1)[1]))

    # -- solving --------------------------------------------------------------------
    def _run_screened(self) -> str | None:
        """Working-set Clarabel solve seeded by the previous solution (see :mod:`.screen`).

        Returns the status, or None when the full problem must be solved instead.
        """
        if self._prev is None or self._nonneg is None:
            return None
        data, chain, inv = self.problem.get_problem_data(cp.CLARABEL, solver_opts={})
        if self._screen_struct is None:
            offsets = next((i.var_offsets for i in inv if getattr(i, "var_offsets", None)
                            and self._w.id in i.var_offsets), None)
            if offsets is None:
                self._screen_struct = False
                return None
            wcols = offsets[self._w.id] + np.arange(self.data.n)
            dims = data["dims"]
            self._screen_struct = screen.analyse(sp.csc_matrix(data["A"]), data["b"],
                                                 dims.zero, dims.nonneg, wcols) or False
        if self._screen_struct is False:
            return None
        w_prev, dual_prev = self._prev
        keep = screen.working_set(w_prev, dual_prev, self._screen_struct.forced)
        sol = screen.solve_reduced(data, self._screen_struct, keep)
        if sol is None:
            return None
        self.problem.unpack_results(sol, chain, inv)
        self.last_method = f"working set ({sol.kept} names, {sol.rounds} rounds)"
        return self.problem.status

    def _run(self, solver: str | None, screened: bool = True) -> tuple[str, str]:
        """Solve with ``solver`` (default Clarabel, SCS fallback); return (status, solver).

        A re-solve with Clarabel first tries the working-set solve seeded by the
        previous solution; it is certified optimal for the full problem or
        replaced by a full solve.
        """
        name = _solver_name(solver)
        self.last_method = "full"
        if screened and name == DEFAULT_SOLVER:
            status = self._run_screened()
            if status == cp.OPTIMAL:
                return status, name
            self.last_method = "full"
        tried = [name] if solver else [name, FALLBACK_SOLVER]
        status, used = "solver_error", name
        for s in tried:
            if s not in _installed():
                continue
            used = s
            try:
                self.problem.solve(solver=s)
                status = self.problem.status
            except cp.error.SolverError:
                status = "solver_error"
            if status in (cp.OPTIMAL,) or status in _INFEASIBLE:
                break
        return status, used

    def solve(self, limits: Limits | None = None, solver: str | None = None,
              diagnose_infeasible: bool = True, screened: bool = True,
              polished: bool = True) -> MBPResult:
        """Solve for the given limit values (same structure as the template).

        A re-solve (a frontier, the Table 1 study) with Clarabel solves only the
        names the previous solution holds or nearly holds, and proves the result
        optimal for the whole problem (:mod:`pyxl.core.mbp.screen`); ``screened``
        False always solves the whole problem.  The (certified) answer is then
        polished on its active face (:mod:`pyxl.core.mbp.polish`: weights exact to
        ~1e-15, a name not held exactly 0.0), unless ``polished`` is False or the
        polish is refused (:attr:`last_polish` None: the solver's weights are kept).

        Raises
        ------
        InfeasibleError
            When the limits cannot be met together; the message names the limit
            that cannot be met and its smallest feasible value.
        """
        lim = limits or self.template
        self._set(lim)
        t0 = time.perf_counter()
        status, used = self._run(solver, screened)
        secs = time.perf_counter() - t0
        if status not in _OK or self._w.value is None:
            self._prev = None
        if status in _INFEASIBLE:
            if diagnose_infeasible:
                raise diagnose(self.data, self.alpha, lim, solver=solver)
            raise InfeasibleError("limits", "cannot be met together", "loosen them")
        if status not in _OK or self._w.value is None:
            raise InputError("solver", f"{used} failed ({status})",
                             "try another solver or rescale the inputs")
        w = np.asarray(self._w.value, dtype=float).copy()
        if lim.long_only:
            w = np.clip(w, 0.0, None)
        if self._nonneg is not None:
            dv = self._nonneg.dual_value
            self._prev = (w, None if dv is None else np.asarray(dv, dtype=float).ravel())
        objective = None
        self.last_polish = None
        if polished:
            t1 = time.perf_counter()
            pol = self._polish(lim, w)
            self.polish_seconds = time.perf_counter() - t1
            if pol is not None:
                self.last_polish = pol
                w = pol.weights
                objective = float(self.alpha @ w)
            secs += self.polish_seconds
        result = self._result(lim, w, status, used, secs, objective)
        breach = _breach(self.data, lim, w, result.limits)
        if breach is not None:
            self._prev = None
            raise self._unmet(lim, breach, status, used, solver, diagnose_infeasible)
        return result

    def _unmet(self, lim: Limits, breach: tuple[str, str, float, float], status: str,
               used: str, solver: str | None, diagnose_infeasible: bool) -> InfeasibleError:
        """The error for an answer that breaks a limit (see ``LIMIT_RTOL``).

        The diagnosis names the limit and its smallest feasible value when the limits
        are infeasible; otherwise the limit sits within the solver's accuracy of that
        value, and the broken limit is named with the value the answer reached.
        """
        if diagnose_infeasible:
            err = diagnose(self.data, self.alpha, lim, solver=solver)
            if getattr(err, "smallest", None) is not None:
                return err
        name, label, limit, value = breach
        fmt = ".6%" if "TE" in label else ".6g"
        return InfeasibleError(
            name, f"{label} {limit:{fmt}} is at the edge of what the other limits allow: "
            f"{used} ended {status} at {value:{fmt}}", "loosen it a little (1e-4 relative)")

    def _polish(self, lim: Limits, w: np.ndarray) -> polish.Polished | None:
        """Newton on the solver's active face (:mod:`pyxl.core.mbp.polish`), or None.

        None (keep the solver's ``w``) for a turnover limit or penalty, which
        :mod:`.polish` does not handle, and whenever the polished point fails a check.
        """
        if lim.max_turnover is not None or lim.turnover_penalty:
            return None
        d = self.data
        lo, hi = polish.bounds(d, lim.long_only, lim.max_weight, lim.max_active)
        big = float(np.max(np.abs(self.alpha)))
        duals = {"lo": np.zeros(d.n), "hi": np.zeros(d.n)}
        for con, side in self._bound_cons:
            dv = con.dual_value
            if dv is None:
                return None
            # cvxpy's duals are in units of the scaled objective alpha / _alpha_scale
            duals[side] = duals[side] + np.asarray(dv, float).ravel() * (
                self._alpha_scale / big if big > 0 else 1.0)
        kw = dict(te_total=lim.te_total,
                  te_segment=lim.te_segment if not lim.segment_neutral else None,
                  te_within=[lim.within(m) for m in range(d.n_segments)],
                  neutral=lim.segment_neutral, budget=lim.fully_invested, lo=lo, hi=hi,
                  dual_lo=duals["lo"] if lim.long_only or lim.max_active is not None else None,
                  dual_hi=duals["hi"])
        with polish.one_blas_thread():
            pol = polish.polish(d, self.alpha, w, **kw)
            if pol is None and polish.last_refusal == "newton failed":
                pol = polish.polish(d, self.alpha, w, **kw,
                                    active_rtol=polish.ACTIVE_RTOL_RETRY)
            return pol

    def _result(self, lim: Limits, w: np.ndarray, status: str, used: str,
                secs: float, objective: float | None = None) -> MBPResult:
        d = self.data
        dec = decompose(d, w)
        infos: list[LimitInfo] = []

        def dual(key: str) -> float:
            c = self._cons[key]
            dv = c.dual_value
            if dv is None:
                return float("nan")
            if isinstance(dv, list):
                dv = dv[0]
            return float(np.ravel(dv)[0]) * self._scale.get(key, 1.0) * self._alpha_scale

        def add(key: str, name: str, label: str, limit: float, value: float, scale: float = 1.0):
            infos.append(LimitInfo(name, label, limit, value,
                                   bool(value >= limit * (1 - BINDING_RTOL) - 1e-12),
                                   dual(key) * scale))

        if "te_total" in self._cons:
            add("te_total", "te_total", "Market TE", float(lim.te_total),
                d.te(w - d.bench_w))
        if "te_segment" in self._cons:
            add("te_segment", "te_segment", "Segment TE", float(lim.te_segment),
                d.segment_te(w))
        for m in range(d.n_segments):
            key = f"te_within_{m}"
            if key in self._cons:
                Wm = float(w[d.members[m]].sum())
                # from the decomposition: blank (NaN) for a segment the portfolio left
                add(key, f"te_segments item {m + 1}", f"Within-segment TE {m + 1}",
                    float(lim.within(m)), float(dec.within_te[m]), scale=Wm)
        if "max_turnover" in self._cons:
            h = np.asarray(lim.holdings, dtype=float).ravel()
            add("max_turnover", "max_turnover", "Turnover", float(lim.max_turnover),
                0.5 * float(np.abs(w - h).sum()))
        weights: Any = w
        if d.asset_labels is not None:  # labelled inputs, labelled weights
            import pandas as pd

            weights = pd.Series(w, index=d.asset_labels, name="weight")
        return MBPResult(
            weights=weights, status=status, solver=used,
            active_alpha=float(self.alpha @ (w - d.bench_w)),
            objective=(float(self.problem.value) * self._alpha_scale if objective is None
                       else objective), limits=tuple(infos),
            decomposition=dec, solve_seconds=secs,
        )

    # -- helpers for the diagnosis --------------------------------------------------
    def min_te(self, key: str, lim: Limits, solver: str | None = None,
               with_others: bool = True, others: tuple[str, ...] | None = None
               ) -> float | None:
        """Smallest value of limit ``key`` reachable under the other constraints.

        With ``with_others`` False only the linear constraints (budget, long-only,
        neutrality, max weights) are kept; ``others`` (limit keys such as
        ``"te_total"``, ``"te_within_0"``) keeps just those limits besides them.
        Returns None when the remaining constraints are infeasible on their own.
        """
        self._set(lim)
        keep = list(self._linear)
        if others is not None:
            keep += [c for k, c in self._cons.items() if k != key and k in others]
        elif with_others:
            keep += [c for k, c in self._cons.items() if k != key]
        c = self._cons[key]
        if key.startswith("te_within_"):
            if lim.segment_neutral:
                prob = cp.Problem(cp.Minimize(cp.norm(c.args[1]) / _SCALE), keep)
                return _solve_value(prob, solver)
            return _bisect_within(self, key, lim, keep, solver)
        if key == "max_turnover":
            h = np.asarray(lim.holdings, dtype=float).ravel()
            prob = cp.Problem(cp.Minimize(0.5 * cp.norm1(self._w - h)), keep)
        else:
            prob = cp.Problem(cp.Minimize(cp.norm(c.args[1]) / _SCALE), keep)
        return _solve_value(prob, solver)


def _breach(d: MBPData, lim: Limits, w: np.ndarray, limits: tuple[LimitInfo, ...]
            ) -> tuple[str, str, float, float] | None:
    """The limit ``w`` breaks most beyond ``LIMIT_RTOL`` / ``WEIGHT_ATOL``, or None.

    Returns ``(argument, label, limit, value)``.  The TE and turnover values are those of
    the result's ``limits`` (:class:`LimitInfo`, recomputed with numpy from the weights,
    not taken from the solver's variables); the bounds, budget and segment weights are
    recomputed here.
    """
    worst: tuple[float, tuple[str, str, float, float]] | None = None

    def check(excess: float, item: tuple[str, str, float, float]) -> None:
        nonlocal worst
        if excess > 1.0 and (worst is None or excess > worst[0]):
            worst = (excess, item)

    if not np.all(np.isfinite(w)):
        return ("solver", "the weights", 0.0, float("nan"))
    lo, hi = polish.bounds(d, lim.long_only, lim.max_weight, lim.max_active)
    below = lo - w
    above = w - hi
    if below.size:
        i = int(np.argmax(below))
        name = "max_active" if lim.max_active is not None and lo[i] > 0 else "long_only"
        check(below[i] / WEIGHT_ATOL, (name, "lower bound", float(lo[i]), float(w[i])))
        j = int(np.argmax(above))
        name = "max_weight" if lim.max_weight is not None and hi[j] == lim.max_weight \
            else "max_active"
        check(above[j] / WEIGHT_ATOL, (name, "upper bound", float(hi[j]), float(w[j])))
    if lim.fully_invested:
        check(abs(float(w.sum()) - 1.0) / WEIGHT_ATOL,
              ("fully_invested", "the budget", 1.0, float(w.sum())))
    if lim.segment_neutral:
        seg = d.seg_sums(w)
        gap = np.abs(seg - d.seg_bench)
        m = int(np.argmax(gap))
        check(gap[m] / WEIGHT_ATOL, ("segment_neutral", f"segment {m + 1} weight",
                                     float(d.seg_bench[m]), float(seg[m])))
    for info in limits:  # NaN: a within TE of a segment the portfolio left
        if np.isfinite(info.value):
            check((info.value - info.limit) / (LIMIT_RTOL * info.limit + 1e-15),
                  (info.name, f"{info.label} limit", info.limit, info.value))
    return None if worst is None else worst[1]


def _solve_value(prob: cp.Problem, solver: str | None) -> float | None:
    name = _solver_name(solver)
    try:
        prob.solve(solver=name)
    except cp.error.SolverError:
        prob.solve(solver=FALLBACK_SOLVER)
    if prob.status in _INFEASIBLE:
        return None
    return float(prob.value)


def _bisect_within(pb: MBPProblem, key: str, lim: Limits, keep: list,
                   solver: str | None) -> float | None:
    """Smallest within-segment TE limit (perspective form) by bisection on its Parameter."""
    p = pb._params[key]
    feas = cp.Problem(cp.Minimize(0), [*keep, pb._cons[key]])
    m = int(key.rsplit("_", 1)[1])
    lo, hi = 0.0, max(float(lim.within(m)), 1e-4)
    name = _solver_name(solver)

    def ok(val: float) -> bool:
        p.value = val
        # near the smallest feasible value Clarabel may stop at its reduced tolerances;
        # that status counts as feasible here, so cvxpy's console warning about it is noise
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            try:
                feas.solve(solver=name)
            except cp.error.SolverError:
                return False
        return feas.status in _OK

    while not ok(hi):
        lo, hi = hi, hi * 2.0
        if hi > 100.0:
            return None
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-5 * hi:
            break
    return hi


def _limit_keys(data: MBPData, lim: Limits) -> list[tuple[str, str, str, float]]:
    keys = []
    if lim.te_total is not None:
        keys.append(("te_total", "te_total", "market TE", lim.te_total))
    if lim.te_segment is not None and not lim.segment_neutral:
        keys.append(("te_segment", "te_segment", "segment TE", lim.te_segment))
    for m in range(data.n_segments):
        v = lim.within(m)
        if v is not None:
            keys.append((f"te_within_{m}", f"te_segments item {m + 1}",
                         f"segment {m + 1} within-segment TE", v))
    if lim.max_turnover is not None:
        keys.append(("max_turnover", "max_turnover", "turnover", lim.max_turnover))
    return keys


def _linear_diagnosis(data: MBPData, lim: Limits) -> InfeasibleError | None:
    """Name the linear constraint that makes the problem infeasible, if any."""
    n = data.n
    mw = lim.max_weight if lim.max_weight is not None and lim.max_weight < 1 else None
    if mw is not None and lim.fully_invested and mw * n < 1 - 1e-12:
        return InfeasibleError("max_weight", f"{mw:g} x {n} names < 1",
                               f"raise it to at least {1 / n:.4g}")
    if mw is not None and lim.segment_neutral:
        for m in range(data.n_segments):
            cnt = data.members[m].size
            if mw * cnt < data.seg_bench[m] - 1e-12:
                return InfeasibleError(
                    "max_weight", f"segment {m + 1} needs {data.seg_bench[m]:.4g} over {cnt} "
                    "names", f"raise it to at least {data.seg_bench[m] / cnt:.4g}")
    return None


def _pct_up(x: float) -> str:
    """``x`` as a percent with 4 decimals, rounded up: the smallest feasible value a
    message suggests must be feasible when typed back (1.25323 % shows as 1.2533 %)."""
    return f"{math.ceil(x * 1e6 - 1e-9) / 1e6:.4%}"


def diagnose(data: MBPData, alpha: np.ndarray, lim: Limits,
             solver: str | None = None) -> InfeasibleError:
    """Explain why ``lim`` is infeasible: the limit that cannot be met and its minimum.

    For each limit, the smallest value reachable under all the other
    constraints is computed (minimise that TE subject to the rest); the limit
    with the largest ratio minimum / limit is reported.  When the linear
    constraints (budget, max weight, neutrality) are infeasible on their own,
    that is reported instead.
    """
    lin = _linear_diagnosis(data, lim)
    if lin is not None:
        return lin
    pb = MBPProblem(data, alpha, lim)
    keys = _limit_keys(data, lim)
    # first: a limit that cannot be met even alone (only the weight constraints);
    # then: a limit that cannot be met given all the other limits
    for with_others, tail in ((False, "with the weight constraints"),
                              (True, "given the other limits")):
        worst: tuple[float, str, str, float, float] | None = None
        for key, name, label, limit in keys:
            best = pb.min_te(key, lim, solver, with_others=with_others)
            if best is None or best <= limit * (1 + 1e-6):
                continue
            ratio = best / limit
            if worst is None or ratio > worst[0]:
                worst = (ratio, name, label, limit, best)
        if worst is not None:
            _, name, label, limit, best = worst
            err = InfeasibleError(
                name, f"{label} limit {limit:.4%} cannot be met; smallest feasible "
                f"{_pct_up(best)} {tail}", "loosen this limit or the others")
            err.smallest = best  # type: ignore[attr-defined]
            return err
    # Three or more limits conflict: every limit can be met alone, and dropping any one
    # still leaves the others infeasible, so "given the other limits" has no answer.
    # Add the limits one at a time, the tightest alone first; the first that cannot be
    # met given those already added is named, with its smallest feasible value there.
    err = _incremental_diagnosis(pb, keys, lim, solver)
    if err is not None:
        return err
    weight = [n for n, on in (("max_weight", lim.max_weight is not None),
                              ("max_active", lim.max_active is not None),
                              ("the turnover limit", lim.max_turnover is not None)) if on]
    return InfeasibleError("limits", "cannot be met together",
                           f"loosen {' or '.join(weight) if weight else 'the TE limits'}")


def _incremental_diagnosis(pb: MBPProblem, keys: list[tuple[str, str, str, float]],
                           lim: Limits, solver: str | None) -> InfeasibleError | None:
    """Name the first limit that cannot be met given the limits added before it.

    Limits are added in decreasing order of (smallest feasible value alone) / limit,
    rounded to 6 decimals so that values within the solver's accuracy tie and keep the
    limits' order (market, segment, within 1..M): three within limits that can each be
    met alone have minima of 1e-14..1e-10, solver noise that cvxpy 1.5 and 1.9 ordered
    differently, so another segment was named.  Loosening the named limit to the value
    given makes the limits added so far feasible together; a further limit may then be
    named in turn.
    """
    alone = []
    for key, name, label, limit in keys:
        best = pb.min_te(key, lim, solver, with_others=False)
        ratio = (best if best is not None else np.inf) / limit
        alone.append((-round(ratio, 6), key, name, label, limit))
    added: list[tuple[str, str]] = []
    for _, key, name, label, limit in sorted(alone, key=lambda t: t[0]):
        best = pb.min_te(key, lim, solver, others=tuple(k for k, _ in added))
        if best is None:
            return None  # numerically inconsistent with the pass before: give up
        if best > limit * (1 + 1e-6):
            labs = [lab for _, lab in added]
            given = (f"given the {' and '.join(labs)} limit" if len(labs) < 2 else
                     f"given the {', '.join(labs[:-1])} and {labs[-1]} limits")
            err = InfeasibleError(
                name, f"{label} limit {limit:.4%} cannot be met; smallest feasible "
                f"{_pct_up(best)} {given if labs else 'with the weight constraints'}",
                "loosen this limit or those")
            err.smallest = best  # type: ignore[attr-defined]
            return err
        added.append((key, label))
    return None


def optimize(data: MBPData, alpha: np.ndarray, limits: Limits,
             solver: str | None = None) -> MBPResult:
    """Build and solve one SBP/MBP problem (see the module docstring).

    Parameters
    ----------
    data : MBPData
        From :func:`pyxl.core.mbp.model.make_data`.
    alpha : (N,) array
        Expected annual active returns (decimals).
    limits : Limits
        Tracking-error, weight and turnover limits.
    solver : str, optional
        Any installed cvxpy solver by name; default Clarabel with SCS as fallback.
    """
    return MBPProblem(data, alpha, limits).solve(limits, solver=solver)


def frontier(data: MBPData, alpha: np.ndarray, template: Limits, te_values,
             solver: str | None = None) -> list[MBPResult]:
    """Solve along market-TE limits ``te_values``, compiling the problem once (DPP)."""
    pb = MBPProblem(data, alpha, replace(template, te_total=float(te_values[0])))
    return [pb.solve(replace(template, te_total=float(t)), solver=solver) for t in te_values]
