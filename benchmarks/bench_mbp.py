"""Benchmark of the MBP optimiser (issue 5): factor vs dense form, scale, DPP frontier.

Run ``python benchmarks/bench_mbp.py`` (add ``--quick`` to time the dense form
at a smaller N, stated in the output).  Prints a table of absolute times and
ratios measured in the same run and writes ``benchmarks/results/mbp.json``.

Timings (wall clock, Clarabel):

* factor vs dense: SBP at 1 % market TE; the dense form uses the N x N
  covariance (``quad_form``), the factor form one cone per limit.  Both timed
  from problem construction to solution (what a fresh solve costs).
* N = 1,700 and N = 5,000, 37 factors: MBP (segment neutral, market TE 1 %,
  within-segment limits 2 %): fresh (build + compile + solve) and re-solve
  with new Parameter values (compiled problem reused).
* 20-point market-TE frontier (0.25 %..5 %), time per point, in one run:
  fresh = 20 x ``optimize`` (build + compile + solve each, what a one-off
  formula costs); Parameters = one compiled problem re-solved with new
  Parameter values, each re-solve a full Clarabel solve (``screened=False``);
  product = the same compiled problem with the working-set re-solve that
  ``frontier``, ``MBPProblem.solve`` and the Table 1 study use by default
  (``pyxl.core.mbp.screen``: solve the names the previous point holds or nearly
  holds, certify optimality for all names by the duals, else add names or
  solve the whole problem).  All three are serial, one process, same Clarabel
  settings (defaults).  Each frontier reports its largest |objective diff|
  against the fresh solves and, for the product path, the largest unscaled
  primal/dual residual and duality gap of the certified solutions next to
  those of full Clarabel solves of the same points.
* ``--rounds R`` repeats the frontier comparison R times alternating the
  order of the three variants; the JSON keeps every ratio and the best time
  of each variant (process CPU time as well as wall clock).
* ``--no-polish`` times every solve without the active-face polish
  (``MBPProblem.solve(..., polished=False)``: the solver's weights), to measure
  what the polish costs against a default run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cvxpy as cp
import numpy as np
from _timing import best_of

from pyxl.core.mbp import Limits, MBPProblem, make_data, make_universe, screen

RESULTS = Path(__file__).resolve().parent / "results" / "mbp.json"


def _data(n: int, seed: int = 2024):
    u = make_universe(n=n, seed=seed)
    return u, make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


def optimize(d, alpha, lim: Limits, polished: bool = True):
    """What :func:`pyxl.core.mbp.optimize` does (build, compile, solve), with the polish
    switchable."""
    return MBPProblem(d, alpha, lim).solve(lim, polished=polished)


def dense_sbp(d, alpha, te: float) -> float:
    """SBP with the N x N covariance (the baseline the factor form avoids)."""
    Sigma = d.dense_cov()
    w = cp.Variable(d.n)
    a = w - d.bench_w
    prob = cp.Problem(cp.Maximize(alpha @ w),
                      [cp.sum(w) == 1, w >= 0,
                       cp.quad_form(a, cp.psd_wrap(Sigma)) <= te**2])
    prob.solve(solver="CLARABEL")
    return float(alpha @ w.value)


def _frontier_residuals(d, alpha, at, tes) -> dict:
    """Largest unscaled residuals along the frontier: working-set solutions vs full solves.

    For each point the compiled problem's Clarabel data is taken from cvxpy;
    the working-set solution (x, z) of the product path and a full Clarabel
    solve of the same data are measured with :func:`pyxl.core.mbp.screen.residuals`.
    """
    import clarabel
    import scipy.sparse as sp
    from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import dims_to_solver_cones

    worst = {"product": dict.fromkeys(("primal", "dual", "gap"), 0.0),
             "full": dict.fromkeys(("primal", "dual", "gap"), 0.0)}
    orig = screen.solve_reduced
    seen: list = []

    def spy(data, st, keep, settings=None):
        sol = orig(data, st, keep, settings)
        if sol is not None:
            seen.append((data, sol))
        return sol

    screen.solve_reduced = spy
    try:
        pb = MBPProblem(d, alpha, at(tes[0]))
        for t in tes:
            pb.solve(at(t))
    finally:
        screen.solve_reduced = orig
    st = clarabel.DefaultSettings()
    st.verbose = False
    for data, sol in seen:
        A = sp.csc_matrix(data["A"])
        n = A.shape[1]
        full = clarabel.DefaultSolver(sp.csc_matrix((n, n)), data["c"], A, data["b"],
                                      dims_to_solver_cones(data["dims"]), st).solve()
        for key, (x, z) in (("product", (sol.x, sol.z)),
                            ("full", (np.asarray(full.x), np.asarray(full.z)))):
            r = screen.residuals(data, x, z)
            for k in r:
                worst[key][k] = max(worst[key][k], r[k])
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="dense baseline at N=600 instead of 1,700 (the full one takes ~1 min)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3,
                    help="frontier comparisons, alternating the order of the variants")
    ap.add_argument("--no-polish", action="store_true",
                    help="solve without the active-face polish (the solver's weights)")
    args = ap.parse_args(argv)
    pol = not args.no_polish
    res: dict = {"machine": platform.platform(), "python": platform.python_version(),
                 "cvxpy": cp.__version__, "solver": "CLARABEL", "quick": args.quick,
                 "polished": pol}
    rows: list[tuple[str, float, str]] = []

    # 1. factor vs dense ----------------------------------------------------------------------
    nd = 600 if args.quick else 1700
    u, d = _data(nd)
    lim = Limits(te_total=0.01, segment_neutral=False)
    t_fac, _, r_fac = best_of(lambda: optimize(d, u.alpha, lim, pol), args.repeat)
    t0 = time.perf_counter()
    dense_val = dense_sbp(d, u.alpha, 0.01)
    t_dense = time.perf_counter() - t0
    agree = abs(dense_val - float(u.alpha @ r_fac.weights))
    res["factor_vs_dense"] = {"n": nd, "factor_s": t_fac, "dense_s": t_dense,
                              "ratio": t_dense / t_fac, "objective_abs_diff": agree}
    rows += [(f"SBP factor form, N={nd} (fresh)", t_fac, ""),
             (f"SBP dense N x N form, N={nd} (fresh)", t_dense,
              f"factor {t_dense / t_fac:.0f}x faster (target >= 100x); |obj diff| {agree:.1e}")]

    # 2. scale: N = 1,700 and 5,000, 37 factors, MBP --------------------------------------------
    for n in (1700, 5000):
        u, d = _data(n)
        lim = Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02))
        t_fresh, _, _ = best_of(lambda d=d, u=u, lim=lim: optimize(d, u.alpha, lim, pol),
                                 args.repeat)
        pb = MBPProblem(d, u.alpha, lim)
        pb.solve(lim, polished=pol)
        t_re, _, r = best_of(lambda pb=pb, lim=lim: pb.solve(lim, screened=False, polished=pol),
                             args.repeat)
        solver_s = float(pb.problem.solver_stats.solve_time or np.nan)
        target = 0.3 if n == 1700 else 1.0
        res[f"mbp_n{n}"] = {"n": n, "k": d.k, "fresh_s": t_fresh, "resolve_s": t_re,
                            "solver_only_s": solver_s, "target_s": target,
                            "names_held": int(r.decomposition.names_held.sum())}
        rows += [(f"MBP N={n}, K={d.k}: fresh (build+compile+solve)", t_fresh,
                  f"target <= {target} s"),
                 (f"MBP N={n}, K={d.k}: re-solve (DPP, full Clarabel)", t_re,
                  f"Clarabel alone {solver_s:.3f} s")]

    # 3. frontier: MBP (market + within limits), SBP (market TE only), Table 1 MBP ------------
    u, d = _data(1700)
    tes = np.linspace(0.0025, 0.05, 20)
    kinds = {
        "MBP": lambda t: Limits(te_total=float(t), te_within=(0.02, 0.02, 0.02)),
        "SBP": lambda t: Limits(te_total=float(t), segment_neutral=False),
        "table1": lambda t: Limits(te_total=float(t), te_within=(2 * t,) * 3),
    }
    for kind, at in kinds.items():

        def fresh_frontier(at=at):
            return [optimize(d, u.alpha, at(t), pol) for t in tes]

        def param_frontier(at=at, screened=False):
            pb = MBPProblem(d, u.alpha, at(tes[0]))
            return [pb.solve(at(t), screened=screened, polished=pol) for t in tes], []

        def product_frontier(at=at):
            pb = MBPProblem(d, u.alpha, at(tes[0]))
            out, how = [], []
            for t in tes:
                out.append(pb.solve(at(t), polished=pol))
                how.append(pb.last_method)
            return out, how

        variants = {"fresh": fresh_frontier, "param": param_frontier,
                    "product": product_frontier}
        wall = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        ratios: list[float] = []
        vals: dict = {}
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(variants)[::-1]
            t_run = {}
            for name in order:
                t0, c0 = time.perf_counter(), time.process_time()
                vals[name] = variants[name]()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                t_run[name] = wall[name][-1]
            ratios.append(t_run["fresh"] / t_run["product"])
        fresh_obj = np.array([x.objective for x in vals["fresh"]])
        par_obj = np.array([x.objective for x in vals["param"][0]])
        prod_obj = np.array([x.objective for x in vals["product"][0]])
        how = vals["product"][1]
        n_ws = sum(h.startswith("working set") for h in how)
        held_diff = max(abs(int(x.decomposition.names_held.sum())
                            - int(y.decomposition.names_held.sum()))
                        for x, y in zip(vals["product"][0], vals["fresh"], strict=True))
        resid = _frontier_residuals(d, u.alpha, at, tes)
        bw = {k: min(v) / len(tes) for k, v in wall.items()}
        bc = {k: min(v) / len(tes) for k, v in cpu.items()}
        res[f"frontier_{kind.lower()}"] = {
            "points": len(tes), "n": d.n, "rounds": args.rounds,
            "fresh_per_point_s": bw["fresh"], "param_per_point_s": bw["param"],
            "product_per_point_s": bw["product"],
            "fresh_per_point_cpu_s": bc["fresh"], "param_per_point_cpu_s": bc["param"],
            "product_per_point_cpu_s": bc["product"],
            "ratio_product_vs_fresh": bw["fresh"] / bw["product"],
            "ratio_product_vs_fresh_cpu": bc["fresh"] / bc["product"],
            "ratio_param_vs_fresh": bw["fresh"] / bw["param"],
            "ratio_product_vs_fresh_each_round": ratios,
            "points_by_working_set": n_ws,
            "methods": how,
            "objective_max_abs_diff_product": float(np.max(np.abs(prod_obj - fresh_obj))),
            "objective_max_abs_diff_param": float(np.max(np.abs(par_obj - fresh_obj))),
            "names_held_max_abs_diff_product": held_diff,
            "residuals": resid,
        }
        rows += [(f"20-pt {kind} frontier, fresh solves (per point)", bw["fresh"], ""),
                 (f"20-pt {kind} frontier, Parameters, full re-solves", bw["param"],
                  f"{bw['fresh'] / bw['param']:.2f}x; |obj diff| "
                  f"{np.max(np.abs(par_obj - fresh_obj)):.1e}"),
                 (f"20-pt {kind} frontier, product path (working set)", bw["product"],
                  f"{bw['fresh'] / bw['product']:.2f}x (CPU {bc['fresh'] / bc['product']:.2f}x, "
                  f"rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 2x); "
                  f"{n_ws}/20 by working set; |obj diff| "
                  f"{np.max(np.abs(prod_obj - fresh_obj)):.1e}; names held differ by <= "
                  f"{held_diff}"),
                 ("  max residual primal / dual / gap: working set", np.nan,
                  " / ".join(f"{resid['product'][k]:.1e}" for k in ("primal", "dual", "gap"))
                  + "   full Clarabel: "
                  + " / ".join(f"{resid['full'][k]:.1e}" for k in ("primal", "dual", "gap")))]

    # where a fresh solve's time goes (compile vs solve), N = 1,700 MBP
    lim = Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02))
    t0 = time.perf_counter()
    pb = MBPProblem(d, u.alpha, lim)
    t1 = time.perf_counter()
    pb.solve(lim, polished=pol)
    t2 = time.perf_counter()
    pb.solve(lim, screened=False, polished=pol)
    t3 = time.perf_counter()
    res["fresh_breakdown_mbp_n1700"] = {"build_s": t1 - t0, "first_solve_s": t2 - t1,
                                        "resolve_s": t3 - t2,
                                        "compile_s_est": (t2 - t1) - (t3 - t2)}
    rows.append(("  breakdown: build / compile (est.) / solve", t2 - t0,
                 f"{t1 - t0:.3f} / {(t2 - t1) - (t3 - t2):.3f} / {t3 - t2:.3f} s"))

    print(f"\nMBP benchmark ({res['machine']}, cvxpy {cp.__version__}, Clarabel)"
          + ("  [--quick: dense baseline at N=600]" if args.quick else "")
          + ("" if pol else "  [--no-polish]"))
    print(f"{'case':52s} {'seconds':>10s}  note")
    for name, secs, note in rows:
        print(f"{name:52s} {'' if np.isnan(secs) else f'{secs:10.4f}':>10s}  {note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
