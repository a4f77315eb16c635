"""CLI sub-commands, one module per engine; each exposes ``register(subparsers)``."""

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
