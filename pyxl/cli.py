"""The ``pyxl`` command line: ``pyxl demo``, ``pyxl warmup`` and each engine's commands."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pyxl import __version__
from pyxl.commands import COMMAND_MODULES, DEMO_MODULES, WARMUP_MODULES
from pyxl.errors import InputError
from pyxl.numba_cache import clear_stale
from pyxl.progress import Progress

__all__ = ["main", "build_parser", "run_demo", "run_warmup"]


def run_demo(outdir: Path, only: Sequence[str] | None = None) -> list[Path]:
    """Run every engine's demo on the bundled real data; return the files written."""
    clear_stale()
    outdir.mkdir(parents=True, exist_ok=True)
    progress = Progress()
    written: list[Path] = []
    for name in DEMO_MODULES:
        short = name.rsplit(".", 1)[-1]
        if only and short not in only:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        run = getattr(module, "run_demo", None)
        if run is None:
            continue
        progress.start(short)
        written.extend(run(outdir, progress))
    return written


def run_warmup() -> dict[str, float]:
    """Compile (or load from cache) every numba kernel; seconds per module.

    A cache left behind by other versions of the core's sources is cleared first
    (:func:`pyxl.numba_cache.clear_stale`).
    """
    clear_stale()
    timings: dict[str, float] = {}
    for name in WARMUP_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        t0 = time.perf_counter()
        module = importlib.import_module(name)
        warm = getattr(module, "warmup", None)
        if warm is not None:
            warm()
            timings[name] = time.perf_counter() - t0
    return timings


def _cmd_demo(args: argparse.Namespace) -> int:
    outdir = Path(args.out).resolve()
    files = run_demo(outdir, args.only)
    print(f"\nPyXL demo finished: {len(files)} files in {outdir}")
    for f in files:
        print(f"  {f.relative_to(outdir) if f.is_relative_to(outdir) else f}")
    return 0


def _cmd_warmup(args: argparse.Namespace) -> int:
    for name, secs in run_warmup().items():
        print(f"{name:28s} {secs:8.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every engine's sub-commands registered."""
    parser = argparse.ArgumentParser(
        prog="pyxl", description="PyXL: quantitative portfolio engines for Excel."
    )
    parser.add_argument("--version", action="version", version=f"pyxl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run every engine on the bundled real data")
    p.add_argument("-o", "--out", default="pyxl-out", help="output folder (default ./pyxl-out)")
    p.add_argument(
        "--only", nargs="*", default=None,
        help="run only these sections (mnvh scenarios kelly mbp excel)",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("warmup", help="pre-compile the numba kernels into the on-disk cache")
    p.set_defaults(func=_cmd_warmup)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyxl`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"pyxl: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as err:
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        print(f"pyxl: file{where}: {err.strerror or err}; check the path", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
