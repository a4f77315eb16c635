"""CLI sub-commands, one module per engine; each exposes ``register(subparsers)``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pyxl.errors import InputError

#: Modules whose ``register`` adds sub-commands, in the order ``pyxl --help`` lists them.
COMMAND_MODULES = (
    "pyxl.commands.mnvh",
    "pyxl.commands.scenarios",
    "pyxl.commands.kelly",
    "pyxl.commands.mbp",
    "pyxl.commands.excel",
    "pyxl.commands.addin",
)

#: Modules whose ``run_demo(outdir, progress)`` make up ``pyxl demo``, in order.
DEMO_MODULES = (
    "pyxl.reports.mnvh",
    "pyxl.reports.scenarios",
    "pyxl.reports.kelly",
    "pyxl.reports.mbp",
    "pyxl.reports.excel",
)

#: Modules whose ``warmup()`` pre-compiles numba kernels for ``pyxl warmup``.
WARMUP_MODULES = (
    "pyxl.core.mnvh",
    "pyxl.core.ledger",
    "pyxl.core.scenarios",
    "pyxl.core.kelly",
)


def output_path(out: str | None, default: Path, name: str) -> Path:
    """Where ``-o OUT`` writes a workbook: ``OUT`` itself, or ``OUT/name`` when ``OUT`` is a
    folder (an existing one, or a new one written with a trailing slash, ``-o out/``);
    ``default`` when ``-o`` is not given.  Missing parent folders are made."""
    path = Path(out) if out else default
    if path.is_dir() or (out and out.endswith(("/", os.sep))):
        path = path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def options_named(flags: dict[str, str],
                  keep: tuple[type[InputError], ...] = ()) -> Iterator[None]:
    """Re-raise a core :class:`InputError` under the CLI option the user typed.

    ``flags`` maps the core's argument names to options (``{"n_paths": "--paths"}``);
    an error about another argument, or one of a ``keep`` type, passes unchanged.
    """
    try:
        yield
    except InputError as err:
        flag = flags.get(err.arg)
        if flag is None or isinstance(err, keep):
            raise
        raise type(err)(flag, err.problem, err.fix) from None
