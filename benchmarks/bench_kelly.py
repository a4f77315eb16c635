"""Kelly benchmarks: exact scenario Kelly (PyXL: Newton / log-barrier + polish) vs scipy
(BFGS, SLSQP), a plain numpy Newton and cvxpy/Clarabel; the numba leverage-drift kernel vs
a pure-Python loop.

Run ``python benchmarks/bench_kelly.py``; prints a table (absolute seconds, ratio to the
PyXL implementation, attained growth so speed is never bought with a worse optimum) and
writes ``benchmarks/results/kelly.json``.  Timings are the best of ``REPEAT`` runs.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from _timing import best_of
from scipy.optimize import minimize

from pyxl.core import kelly as K

REPEAT = 3


def scipy_kelly(r: np.ndarray) -> np.ndarray:
    """Baseline: BFGS on -mean log(1 + R w) with analytic gradient (inf outside the domain)."""
    def f(w):
        x = 1.0 + r @ w
        if np.any(x <= 0):
            return math.inf, np.zeros_like(w)
        return -np.mean(np.log(x)), -(r / x[:, None]).mean(0)
    res = minimize(f, np.zeros(r.shape[1]), jac=True, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 10_000})
    return res.x


def newton_kelly(r: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Second baseline: damped Newton with a domain-keeping backtracking line search."""
    w = np.zeros(r.shape[1])
    for _ in range(100):
        x = 1.0 + r @ w
        g = (r / x[:, None]).mean(0)
        h = -(r / x[:, None]).T @ (r / x[:, None]) / r.shape[0]
        step = np.linalg.solve(h, -g)
        dec = -g @ step
        if dec / 2 < tol:
            break
        t = 1.0
        f0 = np.mean(np.log(x))
        while True:
            xn = 1.0 + r @ (w + t * step)
            if np.all(xn > 0) and np.mean(np.log(xn)) >= f0 + 0.25 * t * dec:
                break
            t *= 0.5
        w = w + t * step
    return w


def slsqp_kelly(r: np.ndarray, gross: float) -> np.ndarray:
    """Constrained baseline: SLSQP, long-only, sum(w) <= gross."""
    n = r.shape[1]
    res = minimize(lambda v: -np.mean(np.log(np.maximum(1 + r @ v, 1e-300))),
                   np.full(n, 1.0 / n), jac=lambda v: -(r / (1 + r @ v)[:, None]).mean(0),
                   bounds=[(0, None)] * n,
                   constraints=[{"type": "ineq", "fun": lambda v: gross - v.sum()}],
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 1000})
    return res.x


def clarabel_kelly(r: np.ndarray, gross: float, long_only: bool) -> np.ndarray:
    """Conic baseline: the same problem straight through cvxpy + Clarabel (default settings)."""
    import cvxpy as cp

    v = cp.Variable(r.shape[1])
    cons = [cp.norm1(v) <= gross] + ([v >= 0] if long_only else [])
    cp.Problem(cp.Maximize(cp.sum(cp.log(1 + r @ v)) / r.shape[0]), cons).solve(
        solver=cp.CLARABEL)
    return np.asarray(v.value)


def python_drift(r, rfp, target, mask):
    e, c = target, 1.0 - target
    for t in range(r.size):
        e *= 1.0 + r[t]
        c *= 1.0 + rfp
        if mask[t]:
            w = e + c
            c -= target * w - e
            e = target * w
    return e + c


def main() -> None:
    rows = []
    rng = np.random.default_rng(np.random.SeedSequence(2026))
    for t_len, n in ((1_000, 5), (10_000, 10), (10_000, 30)):
        mu = rng.uniform(0.0002, 0.0008, n)
        a = rng.normal(size=(n, n)) * 0.004
        r = rng.multivariate_normal(mu, a @ a.T + np.eye(n) * 1e-4, size=t_len)
        t_cvx, _, w_cvx = best_of(lambda r=r: K.kelly_scenario(r), REPEAT)
        t_sp, _, w_sp = best_of(lambda r=r: scipy_kelly(r), REPEAT)
        t_nt, _, w_nt = best_of(lambda r=r: newton_kelly(r), REPEAT)
        g = {k: K.scenario_growth(w, r) for k, w in
             (("pyxl", w_cvx), ("scipy", w_sp), ("newton", w_nt))}
        rows.append({"case": f"KELLY_SCENARIO {t_len}x{n}", "pyxl_s": t_cvx,
                     "scipy_bfgs_s": t_sp, "numpy_newton_s": t_nt,
                     "ratio_scipy": t_sp / t_cvx, "ratio_newton": t_nt / t_cvx,
                     "growth_gap_scipy": g["pyxl"] - g["scipy"],
                     "growth_gap_newton": g["pyxl"] - g["newton"],
                     "max_abs_w_diff_newton": float(np.max(np.abs(w_cvx - w_nt)))})
        # constrained: long-only, gross <= 1.5 (scipy's SLSQP as the baseline)
        t_c, _, w_c = best_of(lambda r=r: K.kelly_scenario(r, 0.0, 1.5, True), REPEAT)
        t_s, _, w_s = best_of(lambda r=r: slsqp_kelly(r, 1.5), REPEAT)
        t_k, _, w_k = best_of(lambda r=r: clarabel_kelly(r, 1.5, True), 1)
        rows.append({"case": f"KELLY_SCENARIO {t_len}x{n} long-only gross<=1.5",
                     "pyxl_s": t_c, "scipy_bfgs_s": t_s, "numpy_newton_s": math.nan,
                     "ratio_scipy": t_s / t_c, "ratio_newton": math.nan,
                     "clarabel_s": t_k, "ratio_clarabel": t_k / t_c,
                     "growth_gap_scipy": K.scenario_growth(w_c, r) - K.scenario_growth(w_s, r),
                     "growth_gap_clarabel": K.scenario_growth(w_c, r) - K.scenario_growth(w_k, r),
                     "growth_gap_newton": math.nan, "max_abs_w_diff_newton": math.nan})
        t_c, _, w_c = best_of(lambda r=r: K.kelly_scenario(r, 0.0, 1.5), REPEAT)
        t_k, _, w_k = best_of(lambda r=r: clarabel_kelly(r, 1.5, False), 1)
        rows.append({"case": f"KELLY_SCENARIO {t_len}x{n} long-short gross<=1.5",
                     "pyxl_s": t_c, "scipy_bfgs_s": math.nan, "numpy_newton_s": math.nan,
                     "ratio_scipy": math.nan, "ratio_newton": math.nan,
                     "clarabel_s": t_k, "ratio_clarabel": t_k / t_c,
                     "growth_gap_scipy": math.nan,
                     "growth_gap_clarabel": K.scenario_growth(w_c, r) - K.scenario_growth(w_k, r),
                     "growth_gap_newton": math.nan, "max_abs_w_diff_newton": math.nan})

    from pyxl.data import load_sp500_index
    p = load_sp500_index().to_numpy()
    r = p[1:] / p[:-1] - 1
    mask = K.rebalance_mask(r.size, 1)
    t0 = time.perf_counter()
    K.warmup()
    first = time.perf_counter() - t0
    t_nb, _, res = best_of(lambda: K.simulate_leverage(r, 2.0, mask, 0.025, 0.0), REPEAT)
    rfp = math.expm1(0.025 / 252)
    t_py, _, w_py = best_of(lambda: python_drift(r, rfp, 2.0, mask), REPEAT)
    assert abs(res.wealth[-1] - w_py) < 1e-9 * w_py
    rows.append({"case": f"leverage drift {r.size} days (numba)", "pyxl_s": t_nb,
                 "scipy_bfgs_s": math.nan, "numpy_newton_s": math.nan,
                 "python_loop_s": t_py, "ratio_python": t_py / t_nb,
                 "first_call_s (compile or cache load)": first})

    print(f"{'case':48s} {'pyxl s':>9} {'scipy s':>9} {'x':>6} {'newton s':>9} {'x':>6} "
          f"{'clarabel s':>10} {'x':>6} {'gap vs scipy':>13} {'gap vs clarabel':>15}")
    for row in rows:
        if "python_loop_s" in row:
            print(f"{row['case']:48s} {row['pyxl_s']:9.5f} python loop {row['python_loop_s']:.4f}"
                  f" s (x{row['ratio_python']:.0f}); first call "
                  f"{row['first_call_s (compile or cache load)']:.2f} s")
            continue
        print(f"{row['case']:48s} {row['pyxl_s']:9.4f} {row['scipy_bfgs_s']:9.4f} "
              f"{row['ratio_scipy']:6.2f} {row['numpy_newton_s']:9.4f} {row['ratio_newton']:6.2f} "
              f"{row.get('clarabel_s', math.nan):10.4f} {row.get('ratio_clarabel', math.nan):6.2f} "
              f"{row['growth_gap_scipy']:13.2e} {row.get('growth_gap_clarabel', math.nan):15.2e}")
    out = Path(__file__).parent / "results" / "kelly.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "repeat": REPEAT, "rows": rows}, indent=2, default=float))
    print(f"written {out}")


if __name__ == "__main__":
    main()
