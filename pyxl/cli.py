"""The ``pyxl`` command line: ``pyxl demo``, ``pyxl warmup`` and each engine's commands."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pyxl import __version__
from pyxl.commands import COMMAND_MODULES, DEMO_MODULES, WARMUP_MODULES
from pyxl.errors import InputError, one_line
from pyxl.numba_cache import clear_stale
from pyxl.progress import Progress

__all__ = ["main", "build_parser", "run_demo", "run_warmup", "DEMO_SECTIONS"]


#: Section names of ``pyxl demo --only``, in run order.
DEMO_SECTIONS = tuple(name.rsplit(".", 1)[-1] for name in DEMO_MODULES)

#: Prefix of the hidden staging folder the demo writes into before publishing.
STAGE_PREFIX = ".pyxl-demo-partial-"


def _blocked(err: OSError, path: Path) -> InputError:
    """The one-line error for an output folder that cannot be made or written."""
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        blocker = next((a for a in (path, *path.parents) if a.exists() and not a.is_dir()), path)
        return InputError("--out", f"{blocker} is a file, not a folder",
                          "move that file away or choose another folder with -o")
    return InputError("--out", f"cannot write into {path} ({err.strerror or err})",
                      "make it writable or choose another folder with -o")


def _publish(stage: Path, outdir: Path, files: Sequence[Path]) -> list[Path]:
    """Move the demo's finished files from ``stage`` into ``outdir``; return their new paths.

    Every destination is checked before anything moves, so a file or folder in
    the way leaves ``outdir`` as it was; the moves themselves are renames on one
    file system (``os.replace``) and cannot leave a half-written file.
    """
    moves: list[tuple[Path, Path]] = []
    for f in files:
        try:
            moves.append((f, outdir / f.relative_to(stage)))
        except ValueError:  # written elsewhere on purpose: leave it there
            moves.append((f, f))
    folders = {outdir}
    for src, dest in moves:
        if src == dest:
            continue
        if dest.is_dir():
            raise InputError("--out", f"{dest} is a folder where the demo writes a file",
                             "move that folder away or choose another folder with -o")
        for parent in dest.relative_to(outdir).parents:
            folder = outdir / parent
            if folder.exists() and not folder.is_dir():
                raise _blocked(FileExistsError(), folder)
            folders.add(folder)
    for folder in sorted(folders):
        try:
            folder.mkdir(exist_ok=True)
        except OSError as err:
            raise _blocked(err, folder) from None
    for src, dest in moves:
        if src != dest:
            try:
                os.replace(src, dest)
            except OSError as err:
                raise _blocked(err, dest.parent) from None
    return [dest for _, dest in moves]


def run_demo(outdir: Path, only: Sequence[str] | None = None,
             progress: Progress | None = None) -> list[Path]:
    """Run every engine's demo on the bundled real data; return the files written.

    The sections write into a hidden staging folder inside ``outdir``; only when
    all of them have finished are their files moved into place (each by an
    atomic rename).  An error or Ctrl-C therefore leaves the files of an
    earlier run untouched and no half-written file behind.

    Parameters
    ----------
    outdir : Path
        Output folder (created; ``./pyxl-out`` from the command line).
    only : sequence of str, optional
        Section names out of :data:`DEMO_SECTIONS`; all sections when omitted.
    progress : Progress, optional
        Progress display (a bar on stderr by default).

    Raises
    ------
    InputError
        An unknown section name, or an output folder that cannot be written.
    """
    unknown = [s for s in (only or ()) if s not in DEMO_SECTIONS]
    if unknown:
        raise InputError("--only", f"unknown section {unknown[0]!r}",
                         "choose from " + " ".join(DEMO_SECTIONS))
    clear_stale()
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=outdir))
    except OSError as err:
        raise _blocked(err, outdir) from None
    progress = progress or Progress()
    written: list[Path] = []
    try:
        with progress.guard_stdout():
            for name, short in zip(DEMO_MODULES, DEMO_SECTIONS, strict=True):
                if only and short not in only:
                    continue
                if importlib.util.find_spec(name) is None:
                    continue
                module = importlib.import_module(name)
                run = getattr(module, "run_demo", None)
                if run is None:
                    continue
                progress.start(short)
                written.extend(run(stage, progress))
        with _sigint_deferred():
            return _publish(stage, outdir, written)
    finally:
        progress.break_line()
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs (main thread only), then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


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
        "--only", nargs="+", default=None, choices=DEMO_SECTIONS, metavar="SECTION",
        help="run only these sections (" + " ".join(DEMO_SECTIONS) + ")",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("warmup", help="pre-compile the numba kernels into the on-disk cache")
    p.set_defaults(func=_cmd_warmup)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _unreadable_workbook(err: Exception) -> bool:
    """True for the errors zipfile and openpyxl raise on a file that is not an .xlsx."""
    if isinstance(err, zipfile.BadZipFile):
        return True
    mod = sys.modules.get("openpyxl.utils.exceptions")
    return mod is not None and isinstance(err, mod.InvalidFileException)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyxl`` console script.

    Returns the exit code: 0 on success, 2 with one ``pyxl: ...`` line on stderr
    for bad input or an unusable path, 130 after Ctrl-C, 1 with one line for an
    unexpected error (set ``PYXL_DEBUG=1`` to see its traceback).
    """
    args = None
    try:
        # building the parser imports every engine (seconds): Ctrl-C may land here too
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"pyxl: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyxl: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            what = "a file stands where a folder is needed; move it away or choose another path"
        elif isinstance(err, IsADirectoryError):
            what = "is a folder, a file is needed; choose a file path"
        else:
            what = f"{err.strerror or one_line(err)}; check the path"
        print(f"pyxl: file{where}: {what}", file=sys.stderr)
        return 2
    except Exception as err:
        if os.environ.get("PYXL_DEBUG"):
            raise
        if _unreadable_workbook(err):
            book = getattr(args, "book", None) or getattr(args, "input", None) or "workbook"
            print(f"pyxl: {book}: cannot be read as an .xlsx workbook ({one_line(err)}); "
                  "save it from Excel as .xlsx", file=sys.stderr)
            return 2
        print(f"pyxl: unexpected {type(err).__name__}: {one_line(err)}; this is a bug, "
              "please report it (PYXL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
