"""MNVH + Ledger-SPT benchmark: the numba engine vs a numpy per-step loop and pure Python.

Run ``python benchmarks/bench_mnvh.py`` (``--quick`` for a smaller grid).  Problem:
T = 2520 bars x N = 200 assets (seeded random walks), equal weights, beta = 35
(NAV mode), fees on (5 bp commission, a fixed fee per trade, 2 bp half spread,
borrow and cash interest) and a cash floor of 99 % of the starting cash, in two
books (``CASES``): a fixed fee of 1 per trade, where the book sits on its floor and
kappa = 0 on about three bars in four (little trading), and a fixed fee of 0.1,
where every asset trades on every bar and 0 < kappa < 1 on about three bars in
four (the heavy case for the ledger).  Measured in one run, for each book:

* the full engine (cash account, kappa, PnL decomposition, per-asset positions
  and trades stored, then the lot columns and the lot table read, which books the
  lots) with FIFO lots and with moving-average cost; the engine without reading
  the lot columns; the kernel alone and each lot booking alone;
* a numpy per-step loop of the same semantics (moving-average cost), checked
  against the engine's NAV path;
* the pure-Python reference (:mod:`pyxl.core.mnvh.reference`), checked likewise;
* a 1,000-point (lambda, beta) grid (the heavy book) with :func:`pyxl.core.mnvh.run_grid` on 1 and 2
  threads (results compared bit for bit);
* numba compile time (empty cache) and cached-load time, in fresh processes.

Prints a table (ns per asset-step, wall seconds, ratios) and writes
``benchmarks/results/mnvh.json``.  Timings are the best of a few runs of wall time
(``perf_counter``) plus, for the single-threaded runs, process CPU time, which is
less disturbed by other jobs on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from _timing import best_of

from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest, run_grid
from pyxl.core.mnvh import kernel as K
from pyxl.core.mnvh.engine import prepare_inputs
from pyxl.core.mnvh.reference import reference_backtest

T, N = 2520, 200
FEES = FeeModel(fee_rate=5e-4, fixed_fee=1.0, half_spread=2e-4, borrow_rate=0.02,
                cash_rate=0.02, debit_rate=0.04)
CFG = dict(lam=0.9, beta=35.0, cash0=1e6, min_cash=9.9e5, fees=FEES)
#: The two books measured.  With a fixed fee of 1 per trade the book sits on its cash
#: floor and most bars cannot trade at all (kappa = 0): little lot work per bar.  With
#: a fixed fee of 0.1 the same book trades every asset on every bar and kappa binds
#: (0 < kappa < 1) on most bars: the heavier, more typical case for the ledger.
CASES = [
    ("cash-floor-bound", "fixed fee 1 per trade", CFG),
    ("trades-every-bar", "fixed fee 0.1 per trade",
     dict(CFG, fees=dataclasses.replace(FEES, fixed_fee=0.1))),
]


def problem(seed: int = 20251123):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    P = 50.0 * np.exp(np.cumsum(0.015 * rng.standard_normal((T, N)), axis=0))
    return P, np.full(N, 1.0 / N)


def numpy_loop(P: np.ndarray, w: np.ndarray, cfg: MNVHConfig) -> np.ndarray:
    """Same semantics as the engine (NAV mode, no caps, moving-average lots), numpy per step."""
    fm = cfg.fees
    cash_per, debit_per, borrow_per = fm.per_period()
    lin = fm.fee_rate + fm.half_spread
    Tn, Nn = P.shape
    q = np.zeros(Nn)
    avg = np.zeros(Nn)
    cash = cfg.cash0
    nav = np.empty(Tn)
    nav[0] = cash
    realised = np.zeros(Tn)
    unreal = np.zeros(Tn)
    for s in range(1, Tn):
        pp, ps = P[s - 1], P[s]
        fin = cash * (cash_per if cash >= 0 else debit_per) + borrow_per * (np.minimum(q, 0) @ pp)
        cash += fin
        val = q @ ps
        g0 = np.abs(q * ps).sum()
        nav_pre = cash + val
        slack = cash - cfg.min_cash
        if 0.0 > slack > -1e-12 * (abs(cash) + g0 + abs(cfg.min_cash) + 1.0):
            slack = 0.0
        r = ps / pp - 1.0
        tgt = cfg.lam * q + cfg.beta * nav_pre * (w / pp) * (w @ r - r)
        dq = tgt - q
        v = ps * dq
        nnz = np.count_nonzero(dq)
        c0 = slack - fm.fixed_fee * nnz
        D = v.sum() + lin * np.abs(v).sum()
        if nnz == 0:
            kap = 1.0
        elif D > 0:
            kap = min(1.0, c0 / D) if c0 > 0 else 0.0
            while 0.0 < kap < 1.0 and c0 - kap * D < 0:
                kap = np.nextafter(kap, 0.0)
        elif D < 0:
            kap = 1.0 if c0 - D >= 0 else 0.0
        else:
            kap = 1.0 if c0 >= 0 else 0.0
        if kap > 0.0 and nnz > 0:
            x = kap * dq
            xv = x * ps
            turn = np.abs(xv).sum()
            costs = lin * turn + fm.fixed_fee * np.count_nonzero(x)
            cash -= xv.sum() + costs
            adding = (q == 0) | ((q > 0) == (x > 0))
            partial = np.abs(x) < np.abs(q)
            closing = np.abs(x) == np.abs(q)
            realised[s] = np.where(adding, 0.0, np.where(partial, -x, q) * (ps - avg)).sum()
            den = np.abs(q) + np.abs(x)
            wavg = (np.abs(q) * avg + np.abs(x) * ps) / np.where(den > 0, den, 1.0)
            avg = np.where(adding, wavg, np.where(partial, avg, np.where(closing, 0.0, ps)))
            q = np.where(~adding & closing, 0.0, q + x)
        nav[s] = cash + q @ ps
        unreal[s] = q @ ps - (q * avg).sum()
    return nav


def kernel_only(P: np.ndarray, w: np.ndarray, cfg: MNVHConfig, repeat: int):
    """The engine's kernel with every output preallocated (steady-state compute, no allocation)."""
    Pm, W, bs, ab, _, kimp, use_impact = prepare_inputs(P, w, cfg)[1:]
    Tn, M = Pm.shape
    q_out, tr_out = np.empty((Tn, M)), np.empty((Tn, M))
    steps = [np.empty(Tn) for _ in range(11)]
    ev = [np.zeros(6 * Tn + 16, dtype=np.int64), np.zeros(6 * Tn + 16, dtype=np.int64),
          np.zeros(6 * Tn + 16)]
    cash_per, debit_per, borrow_per = cfg.fees.per_period()
    lot_avg = cfg.lot_method == "average"  # FIFO lots are booked after the run
    avg, real, unreal = np.zeros(M), np.zeros(Tn), np.zeros(Tn)

    def once():
        avg[:] = 0.0
        K.simulate(Pm, W, M, cfg.lam, cfg.beta, True, bs, ab, False, cfg.cash0, cfg.min_cash,
                   math.inf, math.inf, math.inf, 0, cfg.fees.fee_rate, cfg.fees.half_spread,
                   cfg.fees.fixed_fee, kimp, use_impact, cash_per, debit_per, borrow_per,
                   True, q_out, tr_out, *steps, *ev, lot_avg, avg, real, unreal,
                   False, np.zeros(M))
        return steps[2].copy()

    return best_of(once, repeat)


def replay_only(res, repeat: int):
    """What a first read of the FIFO columns costs: the result's own booking (the
    stored trades through ``fifo_replay``, then the lot table), run again."""
    return best_of(res.book_lots, repeat)


def with_lots(P, w, cfg):
    """run_backtest, then read the lot columns and the lot table (booked on first read)."""
    res = run_backtest(P, w, cfg)
    res.realised, res.unrealised, res.lots  # noqa: B018 - the reads book the lots
    return res


def compile_times() -> dict[str, float]:
    """Seconds for import + warmup() in a fresh process: empty numba cache, then cached."""
    code = ("import time; t=time.perf_counter(); import pyxl.core.mnvh as m; m.warmup(); "
            "print(time.perf_counter()-t)")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        for label in ("compile_s", "cached_load_s"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True)
            out[label] = float(res.stdout.strip().splitlines()[-1])
    return out


def single_thread(P: np.ndarray, w: np.ndarray, kw: dict, desc: str, repeat: int,
                  quick: bool) -> dict:
    """Every single-threaded row for one configuration; prints the table, returns it."""
    steps = (T - 1) * N
    cfg_fifo = MNVHConfig(lot_method="fifo", **kw)
    cfg_avg = MNVHConfig(lot_method="average", **kw)
    with_lots(P, w, cfg_fifo)
    with_lots(P, w, cfg_avg)
    rows = []
    wall, cpu, fifo = best_of(lambda: with_lots(P, w, cfg_fifo), repeat)
    rows.append(("engine + FIFO lots (full ledger)", wall, cpu))
    wall, cpu, avg = best_of(lambda: with_lots(P, w, cfg_avg), repeat)
    rows.append(("engine + moving-average lots (full ledger)", wall, cpu))
    wall, cpu, bare = best_of(lambda: run_backtest(P, w, cfg_fifo), repeat)
    rows.append(("engine, lot columns not read", wall, cpu))
    k = avg.kappa[1:]
    activity = {"kappa_zero": float(np.mean(k == 0.0)),
                "kappa_between_0_and_1": float(np.mean((k > 0.0) & (k < 1.0))),
                "kappa_one": float(np.mean(k == 1.0)),
                "asset_steps_with_a_trade": float(np.mean(fifo.trades[1:] != 0.0))}
    assert fifo.identity_residual() < 1e-9 and avg.identity_residual() < 1e-9
    np.testing.assert_allclose(fifo.nav, avg.nav, rtol=1e-9)
    np.testing.assert_array_equal(bare.nav, fifo.nav)

    wall, cpu, nav_k = kernel_only(P, w, cfg_fifo, repeat)
    np.testing.assert_array_equal(nav_k, fifo.nav)
    rows.append(("engine kernel only, outputs preallocated", wall, cpu))
    wall, cpu, nav_k = kernel_only(P, w, cfg_avg, repeat)
    np.testing.assert_array_equal(nav_k, avg.nav)
    rows.append(("kernel only, with moving-average lots", wall, cpu))
    wall, cpu, booked = replay_only(fifo, repeat)
    np.testing.assert_array_equal(booked[0], fifo.realised)
    rows.append(("FIFO lots booked on first read, alone", wall, cpu))

    # whole board lots of 1 share (positions here are about 100 shares): the lot rule
    # rounds every scaled trade and searches the scale down when rounding breaks the
    # floor, which on these floor-bound books is most bars that trade
    cfg_lots = MNVHConfig(lot_method="average", lot_size=1.0, **kw)
    with_lots(P, w, cfg_lots)
    wall, cpu, whole = best_of(lambda: with_lots(P, w, cfg_lots), repeat)
    assert whole.identity_residual() < 1e-9
    assert np.array_equal(whole.q, np.rint(whole.q))
    assert np.all(whole.cash[1:] >= cfg_lots.min_cash - 1e-6 * cfg_lots.cash0)
    rows.append(("engine + moving-average lots, whole lots of 1", wall, cpu))

    wall, cpu, nav_np = best_of(lambda: numpy_loop(P, w, cfg_avg), 2 if quick else 3)
    np.testing.assert_allclose(nav_np, avg.nav, rtol=1e-9)
    rows.append(("numpy per-step loop (average lots)", wall, cpu))

    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference_backtest(P, w, cfg_fifo)
    rows.append(("pure-Python reference (FIFO lots)", time.perf_counter() - t0,
                 time.process_time() - c0))
    np.testing.assert_allclose(ref.nav, fifo.nav, rtol=1e-9)
    scale = max(1.0, float(np.abs(ref.nav).max()))
    np.testing.assert_allclose(ref.realised, fifo.realised, rtol=1e-9, atol=1e-9 * scale)

    engine_cpu = {r[0]: r[2] for r in rows}
    base = engine_cpu["engine + FIFO lots (full ledger)"]
    base_avg = engine_cpu["engine + moving-average lots (full ledger)"]
    print(f"\nMNVH + Ledger-SPT, T={T} x N={N}, {desc}: kappa = 0 on "
          f"{activity['kappa_zero']:.0%} of bars, in (0, 1) on "
          f"{activity['kappa_between_0_and_1']:.0%}, 1 on {activity['kappa_one']:.0%}; "
          f"{activity['asset_steps_with_a_trade']:.0%} of asset-steps trade")
    print(f"{'implementation':47s} {'wall s':>9s} {'cpu s':>9s} {'ns/asset-step':>14s} "
          f"{'x FIFO engine':>14s} {'x avg engine':>13s}")
    table = []
    for name, wall, cpu in rows:
        ns = cpu / steps * 1e9
        r1 = cpu / base
        r2 = cpu / base_avg
        print(f"{name:47s} {wall:9.4f} {cpu:9.4f} {ns:14.2f} {r1:14.1f} {r2:13.1f}")
        table.append({"name": name, "wall_s": wall, "cpu_s": cpu, "ns_per_asset_step": ns,
                      "ratio_to_fifo_engine": r1, "ratio_to_average_engine": r2})
    return {"description": desc,
            "config": {k: (v.__dict__ if k == "fees" else v) for k, v in kw.items()},
            "activity": activity, "single_thread": table}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100-point grid, fewer repeats")
    args = ap.parse_args(argv)
    repeat = 3 if args.quick else 7
    P, w = problem()
    steps = (T - 1) * N
    results: dict = {"T": T, "N": N, "asset_steps": steps}

    print("compiling in fresh processes ...", flush=True)
    results["numba"] = compile_times()

    results["cases"] = {}
    for case, desc, kw in CASES:
        results["cases"][case] = single_thread(P, w, kw, desc, repeat, args.quick)

    n_l, n_b = (10, 10) if args.quick else (20, 50)
    lams = np.linspace(0.80, 0.98, n_l)
    betas = np.linspace(5.0, 100.0, n_b)
    cfg_grid = MNVHConfig(**CASES[1][2])  # the heavier book
    run_grid(P[:50], w, lams[:2], betas[:1], cfg_grid)
    before = numba.get_num_threads()
    grid = {}
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        numba.set_num_threads(threads)
        t0 = time.perf_counter()
        g = run_grid(P, w, lams, betas, cfg_grid)
        grid[threads] = (time.perf_counter() - t0, g)
    numba.set_num_threads(before)
    same = all(np.array_equal(grid[1][1].nav, g.nav) for _, g in grid.values())
    results["grid"] = {"points": int(lams.size * betas.size), "case": CASES[1][0],
                       "seconds_by_threads": {str(k): v[0] for k, v in grid.items()},
                       "identical_across_threads": bool(same),
                       "ns_per_asset_step_per_point_1_thread":
                           grid[1][0] / (lams.size * betas.size * steps) * 1e9}
    print(f"\n{lams.size * betas.size}-point (lambda, beta) grid, each point a full backtest "
          "(no per-asset outputs or lots):")
    for k, (secs, _) in grid.items():
        print(f"  {k} thread(s): {secs:7.2f} s")
    print(f"  results identical across thread counts: {same}")
    nb = results["numba"]
    print(f"\nnumba: compile (empty cache) {nb['compile_s']:.1f} s, "
          f"cached load {nb['cached_load_s']:.2f} s (import + warmup, fresh process)")
    results["machine"] = {"python": platform.python_version(), "numba": numba.__version__,
                          "numpy": np.__version__, "cpus": os.cpu_count(),
                          "processor": platform.processor() or platform.machine(),
                          "load_average": os.getloadavg()}
    out = Path(__file__).parent / "results" / "mnvh.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
