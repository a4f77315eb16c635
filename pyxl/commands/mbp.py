"""CLI sub-commands for the multiple-benchmark optimiser.

``pyxl mbp table1``    the seed Table 1 study (SBP vs MBP) on the synthetic universe.
``pyxl mbp universe``  write the synthetic universe as CSV inputs for ``optimize``.
``pyxl mbp optimize``  optimise from CSV inputs and print the TE report.

CSV inputs of ``optimize``: an assets file with columns ``alpha``, ``bench_w``,
``segment``, ``spec_var`` (annual decimals; labels 1..M), an optional text
column ``name``, and every other column a factor exposure; a factor-covariance
file, K x K, with a header row of the same factor names (optionally a first
column of names too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.commands import options_named
from pyxl.commands.mnvh import file_errors
from pyxl.errors import InfeasibleError, InputError, one_line
from pyxl.numparse import CSV_OUT, read_csv, to_numbers

REQUIRED = ("alpha", "bench_w", "segment", "spec_var")
#: The core's argument names as ``optimize``'s options.
_FLAGS = {"te_total": "--te-total", "te_segments": "--te-segments",
          "te_segment": "--te-segment", "max_weight": "--max-weight",
          "max_active": "--max-active"}


def _floats(text: str | None, name: str) -> list[float | None] | None:
    if text is None:
        return None
    out: list[float | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "":
            out.append(None)
            continue
        try:
            value = float(part)
        except ValueError:
            raise InputError(name, f"{part!r} is not a number",
                             "give comma-separated decimals") from None
        if not np.isfinite(value):  # 'nan' parsed, and silently dropped a within-segment limit
            raise InputError(name, f"{part!r} is not a finite number",
                             "give comma-separated decimals; leave an item empty for no limit")
        out.append(value)
    return out


def _cmd_table1(args: argparse.Namespace) -> int:
    from pyxl.core.mbp.study import table1_study
    from pyxl.core.mbp.universe import make_universe
    from pyxl.progress import Progress
    from pyxl.reports.mbp import plot_table1, side_by_side

    te = _floats(args.te, "--te") or []
    if not te or any(t is None or t <= 0 for t in te):
        raise InputError("--te", "needs positive market TE limits", "e.g. 0.0025,0.01,0.05")
    mult = _floats(args.within_multiple, "--within-multiple")
    if not mult or any(m is None or m <= 0 for m in mult):
        raise InputError("--within-multiple", "needs positive multiples", "e.g. 2 or 1,2,3")
    uni = make_universe(n=args.n, seed=args.seed)
    n_seg = int(uni.segment.max())
    if len(mult) not in (1, n_seg):
        raise InputError("--within-multiple", f"has {len(mult)} values, the universe has "
                         f"{n_seg} segments", f"give one multiple or {n_seg}")
    prog = Progress()
    prog.start("mbp table1")
    df = table1_study(uni, te, within_multiple=mult if len(mult) > 1 else mult[0],
                      solver=args.solver, progress=prog)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nSynthetic TSE-like universe: {uni.n} names, seed {args.seed}; cells are "
              "within-segment TE (names held); U = market TE (names held).")
        print(f"MBP: segment neutral, within-segment limit = {args.within_multiple} x market TE.\n")
        print(side_by_side(df).to_string())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "table1_study.csv", index=False, float_format="%.8g", **CSV_OUT)
        side_by_side(df).to_csv(out / "table1_side_by_side.csv", **CSV_OUT)
        plot_table1(df, out / "table1.png")
        print(f"\nwritten to {out}")
    return 0


def _cmd_universe(args: argparse.Namespace) -> int:
    from pyxl.core.mbp.universe import make_universe

    uni = make_universe(n=args.n, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    assets = pd.DataFrame({"name": [f"S{i + 1:04d}" for i in range(uni.n)],
                           "alpha": uni.alpha, "bench_w": uni.bench_w,
                           "segment": uni.segment, "spec_var": uni.spec_var})
    expo = pd.DataFrame(uni.exposures, columns=list(uni.factor_names))
    pd.concat([assets, expo], axis=1).to_csv(out / "assets.csv", index=False,
                                             float_format="%.17g", **CSV_OUT)
    pd.DataFrame(uni.factor_cov, columns=list(uni.factor_names)).to_csv(
        out / "factor_cov.csv", index=False, float_format="%.17g", **CSV_OUT)
    print(f"wrote {out / 'assets.csv'} and {out / 'factor_cov.csv'}")
    return 0


def load_csv_inputs(assets_path: str, cov_path: str) -> tuple[pd.DataFrame, np.ndarray,
                                                              np.ndarray, list[str]]:
    """Read the assets and factor-covariance CSVs; returns (assets, B, F, factor names)."""
    frames = []
    # names are labels: read as text, so TSE codes stay 7203 (not 7203.0 once one name is
    # blank) and a code such as 0700 keeps its leading zero
    for path, flag, kw in ((assets_path, "assets", {"dtype": {"name": str}}),
                           (cov_path, "factor_cov", {})):
        try:
            frames.append(read_csv(path, name=flag, **kw))
        except InputError:
            raise
        except (OSError, ValueError) as err:  # ValueError: pandas' EmptyDataError, ParserError
            raise InputError(flag, f"{path}: {one_line(err)}",
                             "check the file path and that it is a CSV file") from None
    assets, cov = frames
    missing = [c for c in REQUIRED if c not in assets.columns]
    if missing:
        raise InputError("assets", f"missing column(s) {', '.join(missing)}",
                         f"add columns {', '.join(REQUIRED)}")
    factors = [c for c in assets.columns if c not in REQUIRED and c != "name"]
    if not factors:
        raise InputError("assets", "has no exposure columns", "add one column per factor")
    if cov.columns.size == len(factors) + 1 and not pd.api.types.is_numeric_dtype(cov.iloc[:, 0]):
        cov = cov.iloc[:, 1:]
    unknown = [c for c in factors if c not in set(map(str, cov.columns))]
    if unknown and len(unknown) < len(factors):
        # a label column headed 銘柄 or コード (not 'name') is read as a factor exposure:
        # name it, instead of calling its names "not a number" or asking factor_cov for it
        shown = ", ".join(repr(c) for c in unknown[:3])
        raise InputError("assets", f"column(s) {shown} not in factor_cov's header",
                         "head the column of names or TSE codes 'name', or add the factor "
                         "to factor_cov")
    for frame, cols, name in ((assets, [*REQUIRED, *factors], "assets"),
                              (cov, list(cov.columns), "factor_cov")):
        for col in cols:
            values = to_numbers(frame[col])
            bad = values.isna() & frame[col].notna()
            if bad.any():
                k = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(name, f"column {col!r}, data row {k + 1}: "
                                 f"{frame[col].iloc[k]!r} is not a number", "enter numbers only")
            if values.isna().any():  # a blank cell
                k = int(np.flatnonzero(values.isna().to_numpy())[0])
                raise InputError(name, f"column {col!r}, data row {k + 1} is blank",
                                 "fill it in")
    if list(cov.columns) != factors:
        raise InputError("factor_cov", "header does not match the exposure columns",
                         f"use the factor names in order: {', '.join(factors[:4])}...")
    B = assets[factors].to_numpy(dtype=float)  # any layout: make_data makes it row-major
    F = cov.to_numpy(dtype=float)
    return assets, B, F, factors


def _cmd_optimize(args: argparse.Namespace) -> int:
    from pyxl.core.mbp.model import make_data
    from pyxl.core.mbp.optimize import Limits, optimize
    from pyxl.reports.mbp import format_decomposition

    assets, B, F, _ = load_csv_inputs(args.assets, args.factor_cov)
    data = make_data(assets["bench_w"].to_numpy(float), assets["segment"].to_numpy(float),
                     B, F, assets["spec_var"].to_numpy(float))
    within = _floats(args.te_segments, "--te-segments")
    # a TE of 100 % or more is a percent typed as a decimal (2 for 2 %): refuse it, as
    # =MBP_OPTIMIZE does, rather than silently lifting the limit
    for flag, vals in (("--te-total", [args.te_total]), ("--te-segment", [args.te_segment]),
                       ("--te-segments", within or [])):
        big = [v for v in vals if v is not None and v >= 1.0]
        if big:
            raise InputError(flag, f"{big[0]:g} is 100 % or more",
                             "enter an annual decimal such as 0.01 for 1 %")
    if args.max_weight is not None and args.max_weight > 1.0:
        raise InputError("--max-weight", f"{args.max_weight:g} is more than 1",
                         "enter a decimal such as 0.05 for 5 %")
    lim = Limits(te_total=args.te_total, te_segment=args.te_segment,
                 te_within=tuple(within) if within is not None else None,
                 segment_neutral=not args.no_neutral, max_weight=args.max_weight,
                 max_active=args.max_active)
    # name the CLI option (--te-segments), not the core's argument; an infeasible limit is
    # named as in the docs (te_total: ... cannot be met)
    with options_named(_FLAGS, keep=(InfeasibleError,)):
        res = optimize(data, assets["alpha"].to_numpy(float), lim, solver=args.solver)
    print(f"status {res.status} ({res.solver}, {res.solve_seconds:.3f} s); expected active "
          f"return {res.active_alpha:.4%} a year")
    print("\nlimits (value recomputed from the weights; shadow price = d alpha / d limit):")
    for li in res.limits:
        print(f"  {li.label:28s} limit {li.limit:9.4%}  value {li.value:9.4%}  "
              f"{'BINDING' if li.binding else 'slack  '}  shadow {li.shadow_price:.4f}")
    print("\ntracking-error decomposition (seed eq. 2; TE and weights in %, squares in "
          "decimal^2 a year):")
    print("\n".join(format_decomposition(res.decomposition.rows())))
    if args.out:
        names = assets["name"] if "name" in assets.columns else pd.RangeIndex(1, data.n + 1)
        pd.DataFrame({"name": names, "weight": res.weights}).to_csv(
            args.out, index=False, **CSV_OUT)
        print(f"\nweights written to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``pyxl mbp table1 | universe | optimize``."""
    p = sub.add_parser("mbp", help="multiple-benchmark optimiser (SBP/MBP, TE decomposition)")
    msub = p.add_subparsers(dest="mbp_command", required=True)

    t = msub.add_parser("table1", help="seed Table 1 study: SBP vs MBP on the synthetic universe")
    t.add_argument("--n", type=int, default=1700, help="names in the universe (default 1700)")
    t.add_argument("--seed", type=int, default=2024, help="universe seed (default 2024)")
    t.add_argument("--te", default="0.0025,0.005,0.01,0.02,0.03,0.04,0.05",
                   help="market TE limits, annual decimals, comma-separated")
    t.add_argument("--within-multiple", default="2",
                   help="MBP within-segment limit = this x market TE (one, or one per segment)")
    t.add_argument("--solver", default=None, help="cvxpy solver (default CLARABEL)")
    t.add_argument("-o", "--out", default=None, help="folder for CSV + PNG output")
    t.set_defaults(func=file_errors(_cmd_table1))

    u = msub.add_parser("universe", help="write the synthetic universe as CSV inputs")
    u.add_argument("--n", type=int, default=1700)
    u.add_argument("--seed", type=int, default=2024)
    u.add_argument("-o", "--out", default="mbp-universe", help="output folder")
    u.set_defaults(func=file_errors(_cmd_universe))

    o = msub.add_parser("optimize", help="optimise from CSV inputs and print the TE report")
    o.add_argument("assets", help="CSV: alpha, bench_w, segment, spec_var, [name], exposures...")
    o.add_argument("factor_cov", help="CSV: K x K factor covariance with factor-name header")
    o.add_argument("--te-total", type=float, required=True,
                   help="market TE limit, annual decimal")
    o.add_argument("--te-segments", default=None,
                   help="within-segment limits per label 1..M, comma-separated, empty = none")
    o.add_argument("--te-segment", type=float, default=None,
                   help="segment (allocation) TE limit; only without neutrality")
    o.add_argument("--no-neutral", action="store_true", help="drop segment neutrality (eq. 6)")
    o.add_argument("--max-weight", type=float, default=None)
    o.add_argument("--max-active", type=float, default=None)
    o.add_argument("--solver", default=None, help="cvxpy solver (default CLARABEL)")
    o.add_argument("-o", "--out", default=None, help="CSV file for the weights")
    o.set_defaults(func=file_errors(_cmd_optimize))


if __name__ == "__main__":  # pragma: no cover
    from pyxl.cli import main

    sys.exit(main(["mbp", *sys.argv[1:]]))
