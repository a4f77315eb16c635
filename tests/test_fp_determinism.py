"""Same inputs, same bits: no compiled loop may give a result that depends on where arrays
happen to lie in memory.

LLVM vectorises a loop that stores into one array while reading others only behind a
run-time overlap check (``vector.memcheck``; ``vector.scevcheck`` for strides), and runs
the scalar loop when the check fails.  The check compares addresses, so which loop runs
depends on the allocator.  Under ``fastmath`` (``reassoc``) the vector and the scalar loop
may sum in different orders, or even evaluate one product in different orders: the MNVH
engine, run twice on the same book in one process, gave a kappa differing in its last bit
now and then.  So every vector loop behind such a check must do strict IEEE arithmetic
(vector and scalar code then agree lane by lane), and reductions under ``reassoc`` live in
loops that only read (vectorised without any check, in an order fixed by the trip count).

The test compiles every kernel (``pyxl warmup``, plus the MNVH engine with every
feature on and the scenario kernels at N = 12) in a fresh process with an empty numba
cache (a function loaded from the cache has no LLVM IR to inspect) and reads the
optimised IR of every compiled function: it fails if a vector loop behind a run-time check carries a
fast-math flag on any floating-point instruction.  It also checks that it saw what it is
about (vectorised loops behind checks, and reassociated vector sums), so it cannot pass
vacuously.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

# floating-point instructions and the fast-math flags LLVM prints after the opcode
_FLAGS = r"((?: (?:reassoc|nnan|ninf|nsz|arcp|contract|afn|fast))*)"
_FP_OP = re.compile(
    r"= (?:fadd|fsub|fmul|fdiv|frem|fneg)" + _FLAGS + r" (?:<\d+ x )?(?:double|float)")
_FP_CALL = re.compile(
    r"call" + _FLAGS + r" (?:<\d+ x )?(?:double|float) "
    r"@llvm\.(?:fma|fmuladd|vector\.reduce\.fadd|vector\.reduce\.fmul)")


def _blocks(fn: str) -> dict[str, str]:
    parts = re.split(r"\n(?=[\w.$\"-]+:)", fn)
    return {p.split(":", 1)[0].strip('"'): p for p in parts[1:]}


def _successors(block: str) -> list[str]:
    term = [ln for ln in block.strip().split("\n") if ln.strip().startswith(("br ", "switch "))]
    return [m.strip('"') for m in re.findall(r"label %([\w.$\"-]+)", term[-1])] if term else []


def checked_vector_loops(ir: str) -> list[tuple[str, str, list[str]]]:
    """Every vector loop body reached from a run-time check, with the fast-math flags of
    its floating-point instructions: ``(function, check block, flags)``."""
    out = []
    for fn in re.split(r"\n(?=define )", ir):
        m = re.match(r"define [^@]*@\"?([^\"(]+)", fn)
        if not m:
            continue
        blocks = _blocks(fn)
        for label in blocks:
            if not label.startswith(("vector.memcheck", "vector.scevcheck")):
                continue
            seen: set[str] = set()
            todo = _successors(blocks[label])
            while todo:
                b = todo.pop()
                if b in seen or b not in blocks or not b.startswith(
                        ("vector.", "vec.epilog", "middle.block")):
                    continue
                seen.add(b)
                todo.extend(_successors(blocks[b]))
            flags = []
            for b in seen:
                if "vector.body" in b:
                    text = blocks[b]
                    flags += [f.strip() for f in _FP_OP.findall(text) + _FP_CALL.findall(text)]
            out.append((m.group(1), label, flags))
    return out


_COMPILE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from pyxl.cli import run_warmup
    from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest, run_grid
    from pyxl.core.mnvh.rule import mnvh_step
    from pyxl.core.scenarios.recolor import KERNELS, sym_sqrt

    run_warmup()  # every kernel, as `pyxl warmup` compiles them
    rng = np.random.default_rng(7)
    P = 50.0 * np.cumprod(1.0 + 0.03 * rng.standard_normal((40, 20)), axis=0)
    w = rng.normal(0.05, 0.2, 20)
    w /= w.sum()  # weights sum to 1 (run_backtest refuses others)
    fees = FeeModel(fee_rate=5e-4, fixed_fee=1.0, impact_coef=0.3, borrow_rate=0.02)
    kw = dict(adv=np.full(20, 1e5), hedge_prices=100.0 * np.cumprod(
        1.0 + 0.01 * rng.standard_normal(40)), asset_betas=np.linspace(0.5, 1.5, 20))
    for lot in ("fifo", "average"):
        run_backtest(P, w, MNVHConfig(lot_method=lot, lot_size=100.0, max_gross=1.5,
                                      max_position=0.2, min_cash=1e5, cash0=1e6,
                                      fees=fees), **kw).lot_table()
    run_grid(P, w, [0.5, 0.9], [10.0, 50.0], MNVHConfig(fees=FeeModel(fixed_fee=1.0)),
             threads=1)
    mnvh_step(np.ones(20), P[0], P[1], np.full(20, 0.05), 0.9, 1e6)
    X = rng.standard_normal((2, 30, 12)) * 0.01
    C = np.cov(X.reshape(-1, 12), rowvar=False) + 1e-4 * np.eye(12)
    for name, kern in KERNELS.items():
        root = np.linalg.cholesky(C) if name == "cholesky" else sym_sqrt(C)
        kern(X, np.zeros(12), C, np.zeros(12), root, 0.94, 1e-10, 1)
    out, seen = {}, set()
    for modname, mod in sorted(sys.modules.items()):
        if not modname.startswith("pyxl.core"):
            continue
        for name, obj in vars(mod).items():
            if id(obj) in seen or not hasattr(obj, "inspect_llvm"):
                continue
            seen.add(id(obj))
            for sig, ir in obj.inspect_llvm().items():
                out[f"{obj.py_func.__module__}.{name}{sig}"] = ir
    json.dump(out, sys.stdout)
""")


@pytest.fixture(scope="module")
def mnvh_ir(tmp_path_factory) -> dict[str, str]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path_factory.mktemp("numba-cache")))
    run = subprocess.run([sys.executable, "-c", _COMPILE], capture_output=True, text=True,
                         env=env, cwd=tmp_path_factory.mktemp("cwd"), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_checked_vector_loops_do_strict_arithmetic(mnvh_ir):
    bad = []
    n_checked = 0
    for key, ir in mnvh_ir.items():
        for fn, label, flags in checked_vector_loops(ir):
            n_checked += 1
            fast = sorted({f for f in flags if f})
            if fast:
                bad.append((key.split("(")[0], re.sub(r"B\d+v\d+B.*", "", fn)[-40:], label, fast))
    assert n_checked > 10, "no vector loop behind a run-time check: the test saw nothing"
    assert not bad, bad


def test_the_sums_are_still_vectorised(mnvh_ir):
    # the split keeps the per-asset sums in vector lanes (reassoc, in loops that only read)
    simulate = "".join(ir for key, ir in mnvh_ir.items() if key.startswith(
        "pyxl.core.mnvh.kernel.simulate"))
    assert simulate, sorted(mnvh_ir)[:5]
    assert len(re.findall(r"fadd reassoc <\d+ x double>", simulate)) >= 20


def test_the_checker_sees_a_reassociated_loop_behind_a_check():
    # the pattern the engine had: a vector loop behind a memcheck summing with reassoc
    ir = textwrap.dedent("""
        define void @f(ptr %a) {
        entry:
          br label %vector.memcheck
        vector.memcheck:
          %c = icmp ult i64 0, 64
          br i1 %c, label %scalar, label %vector.ph
        vector.ph:
          br label %vector.body
        vector.body:
          %s = fadd reassoc <4 x double> %x, %y
          %t = fmul <4 x double> %x, %y
          br i1 %d, label %middle.block, label %vector.body
        middle.block:
          br label %scalar
        scalar:
          ret void
        }
    """)
    [(fn, label, flags)] = checked_vector_loops(ir)
    assert (fn, label) == ("f", "vector.memcheck")
    assert sorted(flags) == ["", "reassoc"]
