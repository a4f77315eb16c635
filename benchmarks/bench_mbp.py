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
* 20-point market-TE frontier (0.25 %..5 %): one compiled problem with
  Parameters versus 20 fresh problems; time per point.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cvxpy as cp
import numpy as np

from pyxl.core.mbp import Limits, MBPProblem, make_data, make_universe, optimize

RESULTS = Path(__file__).resolve().parent / "results" / "mbp.json"


def _data(n: int, seed: int = 2024):
    u = make_universe(n=n, seed=seed)
    return u, make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="dense baseline at N=600 instead of 1,700 (the full one takes ~1 min)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    res: dict = {"machine": platform.platform(), "python": platform.python_version(),
                 "cvxpy": cp.__version__, "solver": "CLARABEL", "quick": args.quick}
    rows: list[tuple[str, float, str]] = []

    # 1. factor vs dense ----------------------------------------------------------------------
    nd = 600 if args.quick else 1700
    u, d = _data(nd)
    lim = Limits(te_total=0.01, segment_neutral=False)
    t_fac, r_fac = _best(lambda: optimize(d, u.alpha, lim), args.repeat)
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
        t_fresh, _ = _best(lambda d=d, u=u, lim=lim: optimize(d, u.alpha, lim), args.repeat)
        pb = MBPProblem(d, u.alpha, lim)
        pb.solve(lim)
        t_re, r = _best(lambda pb=pb, lim=lim: pb.solve(lim), args.repeat)
        solver_s = float(pb.problem.solver_stats.solve_time or np.nan)
        target = 0.3 if n == 1700 else 1.0
        res[f"mbp_n{n}"] = {"n": n, "k": d.k, "fresh_s": t_fresh, "resolve_s": t_re,
                            "solver_only_s": solver_s, "target_s": target,
                            "names_held": int(r.decomposition.names_held.sum())}
        rows += [(f"MBP N={n}, K={d.k}: fresh (build+compile+solve)", t_fresh,
                  f"target <= {target} s"),
                 (f"MBP N={n}, K={d.k}: re-solve (DPP)", t_re,
                  f"Clarabel alone {solver_s:.3f} s")]

    # 3. frontier: MBP (market + within limits) and SBP (market TE only) ----------------------
    u, d = _data(1700)
    tes = np.linspace(0.0025, 0.05, 20)
    for kind, tmpl in (("MBP", Limits(te_total=float(tes[0]), te_within=(0.02, 0.02, 0.02))),
                       ("SBP", Limits(te_total=float(tes[0]), segment_neutral=False))):

        def at(t, tmpl=tmpl):
            return Limits(te_total=float(t), te_within=tmpl.te_within,
                          segment_neutral=tmpl.segment_neutral)

        def param_frontier(tmpl=tmpl, at=at):
            pb = MBPProblem(d, u.alpha, tmpl)
            return [pb.solve(at(t)).objective for t in tes]

        def fresh_frontier(at=at):
            return [optimize(d, u.alpha, at(t)).objective for t in tes]

        t_par, v_par = _best(param_frontier, 1)
        t_fr, v_fr = _best(fresh_frontier, 1)
        diff = float(np.max(np.abs(np.asarray(v_par) - np.asarray(v_fr))))
        res[f"frontier_{kind.lower()}"] = {
            "points": len(tes), "n": d.n, "param_s": t_par, "fresh_s": t_fr,
            "param_per_point_s": t_par / len(tes), "fresh_per_point_s": t_fr / len(tes),
            "ratio": t_fr / t_par, "objective_max_abs_diff": diff}
        rows += [(f"20-pt {kind} frontier, Parameters (per point)", t_par / len(tes), ""),
                 (f"20-pt {kind} frontier, fresh solves (per point)", t_fr / len(tes),
                  f"Parameters {t_fr / t_par:.2f}x faster (target >= 2x); "
                  f"|obj diff| {diff:.1e}")]

    # where a fresh solve's time goes (compile vs solve), N = 1,700 MBP
    lim = Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02))
    t0 = time.perf_counter()
    pb = MBPProblem(d, u.alpha, lim)
    t1 = time.perf_counter()
    pb.solve(lim)
    t2 = time.perf_counter()
    pb.solve(lim)
    t3 = time.perf_counter()
    res["fresh_breakdown_mbp_n1700"] = {"build_s": t1 - t0, "first_solve_s": t2 - t1,
                                        "resolve_s": t3 - t2,
                                        "compile_s_est": (t2 - t1) - (t3 - t2)}
    rows.append(("  breakdown: build / compile (est.) / solve", t2 - t0,
                 f"{t1 - t0:.3f} / {(t2 - t1) - (t3 - t2):.3f} / {t3 - t2:.3f} s"))

    print(f"\nMBP benchmark ({res['machine']}, cvxpy {cp.__version__}, Clarabel)"
          + ("  [--quick: dense baseline at N=600]" if args.quick else ""))
    print(f"{'case':52s} {'seconds':>10s}  note")
    for name, secs, note in rows:
        print(f"{name:52s} {secs:10.4f}  {note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2))
    print(f"\nwritten {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
