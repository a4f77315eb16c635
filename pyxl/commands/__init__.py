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

#: First-cell texts of a header row above a date or label column (as ``=MNVH_BACKTEST`` reads
#: a price table's header).
DATE_HEADERS = frozenset({"", "date", "dates", "time", "datetime", "timestamp", "day", "week",
                          "month", "year", "period"})
#: Smallest whole number read as a numeric ticker code (Tokyo ``7203``, Seoul ``005930``)
#: rather than a number: no return, weight, mean or variance is 1,000 (100,000 %).
CODE_MIN = 1000


def is_code_row(values) -> bool:
    """True when every cell of a CSV's first row is a whole number >= :data:`CODE_MIN`:
    numeric ticker codes in a header row, which a CSV cannot mark as text."""
    import math

    try:
        nums = [float(str(v).strip()) for v in values]
    except ValueError:
        return False
    return bool(nums) and all(math.isfinite(x) and x == int(x) and abs(x) >= CODE_MIN
                              for x in nums)
