"""Kelly leverage toolkit (seed 003): closed form, growth, horizon, multi-asset, scenarios, drift.

Pure numerics: no Excel, no file I/O.  See ``docs/kelly.md`` for the units
(annual decimals; arithmetic ``mu``, log growth) and the derivations.
"""

from __future__ import annotations

from pyxl.core.kelly.closed_form import (
    DISTRIBUTIONS,
    FractionRow,
    fractional_table,
    growth_approx,
    growth_exact,
    growth_scenarios,
    horizon_years,
    kelly_leverage,
    log_wealth_gap,
    prob_outperform,
    ruin_probability,
    ruin_probability_finite,
    time_to_double,
)
from pyxl.core.kelly.drift import DriftResult, rebalance_mask, simulate_leverage, warmup
from pyxl.core.kelly.portfolio import (
    check_covariance,
    kelly_scenario,
    kelly_weights,
    scenario_growth,
)

__all__ = [
    "DISTRIBUTIONS",
    "DriftResult",
    "FractionRow",
    "check_covariance",
    "fractional_table",
    "growth_approx",
    "growth_exact",
    "growth_scenarios",
    "horizon_years",
    "kelly_leverage",
    "kelly_scenario",
    "kelly_weights",
    "log_wealth_gap",
    "prob_outperform",
    "rebalance_mask",
    "ruin_probability",
    "ruin_probability_finite",
    "scenario_growth",
    "simulate_leverage",
    "time_to_double",
    "warmup",
]
