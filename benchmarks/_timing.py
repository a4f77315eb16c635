"""The timing loop every benchmark script shares (imported as ``_timing``: the scripts run
as ``python benchmarks/bench_*.py``, which puts this folder first on ``sys.path``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_of"]


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Run ``fn`` ``repeat`` times; return the best wall time (s, ``perf_counter``), the
    best process CPU time (s, ``process_time``) and the last result."""
    wall = cpu = math.inf
    out = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out
