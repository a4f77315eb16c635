"""Scenario engine (seed 002): block bootstrap, EWMA recolour, drift delta, diagnostics.

Public entry points: :func:`generate` with a :class:`ScenarioSpec`, the
building blocks in :mod:`.bootstrap`, :mod:`.targets`, :mod:`.recolor`,
:mod:`.drift`, and :func:`warmup` (compiles the numba kernels).
"""

from __future__ import annotations

import numpy as np

from pyxl.core.scenarios.bootstrap import METHODS, auto_block_length, bootstrap_indices
from pyxl.core.scenarios.drift import drift_delta
from pyxl.core.scenarios.engine import (
    BLOCK_PATHS,
    RECOLOR_METHODS,
    ScenarioSet,
    ScenarioSpec,
    generate,
    group_rng,
    validate_inputs,
)
from pyxl.core.scenarios.targets import TARGET_METHODS, rt_period_targets, to_annual, to_period

__all__ = [
    "BLOCK_PATHS",
    "METHODS",
    "RECOLOR_METHODS",
    "TARGET_METHODS",
    "ScenarioSet",
    "ScenarioSpec",
    "auto_block_length",
    "bootstrap_indices",
    "drift_delta",
    "generate",
    "group_rng",
    "rt_period_targets",
    "to_annual",
    "to_period",
    "validate_inputs",
    "warmup",
]


def warmup() -> None:
    """Compile (or load from numba's cache) every recolour kernel on a tiny input."""
    from pyxl.core.scenarios.recolor import KERNELS, sym_sqrt

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 5, 3)) * 0.01
    S = np.cov(X.reshape(-1, 3), rowvar=False) + 1e-4 * np.eye(3)
    mu = np.zeros(3)
    for name, kern in KERNELS.items():
        root = np.linalg.cholesky(S) if name == "cholesky" else sym_sqrt(S)
        kern(X, mu, S, mu, root, 0.94, 1e-10, 1)
