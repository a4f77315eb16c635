"""Transaction-cost and financing model of the Ledger-SPT cash account (seed 000, sec. 4 and 8).

Per asset and per trade of ``x`` shares at mid price ``p`` (currency units):

* commission      ``fee_rate * |x| * p + fixed_fee * [x != 0]``            -> *fees*
* spread          ``half_spread * |x| * p``                                -> *slippage*
* market impact   ``impact_coef * vol * (|x| / adv) * |x| * p``             -> *slippage*

``vol`` is the asset's per-period return volatility (decimal) and ``adv`` its
average traded volume per period in shares, both known when the trade is
decided; ``|x| / adv`` is the participation rate.  The seed's empirical cost
"participation x spread x vol" is read as a spread term plus a
participation x volatility impact term, the usual linear-impact law (the literal
triple product is dimensionally ambiguous).  ``impact_coef`` is dimensionless.

Financing per period (``periods_per_year`` periods a year), credited or charged
to cash at the start of each bar for the period just ended:

* ``cash_rate / P`` on positive cash, ``debit_rate / P`` on negative cash,
* ``borrow_rate / P`` on the short notional ``sum_i max(-q_i, 0) p_i``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from pyxl.errors import InputError

__all__ = ["FeeModel"]


@dataclass(frozen=True)
class FeeModel:
    """Costs of trading and holding; every field defaults to 0 (frictionless).

    Fields take Python or numpy numbers (``np.int64(500)`` from a yen column is 500.0)
    and are stored as plain ``float`` (``periods_per_year``: ``int``; ``252.0`` is 252);
    ``True``/``False`` are refused.

    Parameters
    ----------
    fee_rate : float
        Proportional commission, fraction of traded notional (0.0005 = 5 bp).
    fixed_fee : float
        Currency charged per non-zero trade (per asset, per bar).
    half_spread : float
        Fraction of the mid price paid on each trade (slippage), 0.0002 = 2 bp.
    impact_coef : float
        Dimensionless coefficient ``k`` of the impact price fraction
        ``k * vol * participation`` (see the module docstring).
    borrow_rate : float
        Annual borrow fee on the short notional, decimal.
    cash_rate : float
        Annual interest earned on positive cash, decimal.
    debit_rate : float or None
        Annual interest paid on negative cash; ``None`` means ``cash_rate``.
    periods_per_year : int
        Bars per year used to turn annual rates into per-period rates (252 = daily).
    """

    fee_rate: float = 0.0
    fixed_fee: float = 0.0
    half_spread: float = 0.0
    impact_coef: float = 0.0
    borrow_rate: float = 0.0
    cash_rate: float = 0.0
    debit_rate: float | None = None
    periods_per_year: int = 252

    def __post_init__(self) -> None:
        # numpy scalars (np.int64 from an integer yen column, np.float32) are numbers like
        # any other: take them as plain floats/ints so every later check and the kernel see
        # one type; bools (TRUE typed into a fee cell) are refused as not a number
        for name in ("fee_rate", "fixed_fee", "half_spread", "impact_coef", "borrow_rate",
                     "cash_rate", "debit_rate"):
            v = getattr(self, name)
            if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
                object.__setattr__(self, name, float(v))
        for name in ("fee_rate", "fixed_fee", "half_spread", "impact_coef", "borrow_rate"):
            v = getattr(self, name)
            if not (isinstance(v, float) and math.isfinite(v) and v >= 0):
                raise InputError(name, f"must be a finite number >= 0, got {v!r}", "fix the fee")
        if self.fee_rate + self.half_spread >= 1:
            # a sale would not raise cash, so neither kappa nor forced deleveraging could work
            raise InputError("fee_rate", f"plus half_spread is {self.fee_rate + self.half_spread:g}"
                             ", a cost of 100 % of the traded notional or more",
                             "enter decimals (0.0005 = 5 bp)")
        for name in ("cash_rate", "debit_rate"):
            v = getattr(self, name)
            if v is None and name == "debit_rate":
                continue
            if not (isinstance(v, float) and math.isfinite(v) and v > -1):
                raise InputError(name, f"must be a finite annual rate > -1, got {v!r}",
                                 "enter a decimal rate such as 0.02")
        ppy = self.periods_per_year
        if isinstance(ppy, numbers.Real) and not isinstance(ppy, (bool, np.bool_)) and (
                isinstance(ppy, numbers.Integral)
                or (math.isfinite(ppy) and float(ppy).is_integer())):
            object.__setattr__(self, "periods_per_year", int(ppy))  # 252.0 from a float column
        ppy = self.periods_per_year
        if not (isinstance(ppy, int) and not isinstance(ppy, bool) and ppy > 0):
            raise InputError("periods_per_year", f"must be a positive integer, got {ppy!r}",
                             "use 252 for daily bars")

    @property
    def linear_rate(self) -> float:
        """Cost per unit of traded notional that is linear in the trade (fee + half spread)."""
        return float(self.fee_rate + self.half_spread)

    def per_period(self) -> tuple[float, float, float]:
        """(cash, debit, borrow) rates per period."""
        debit = self.cash_rate if self.debit_rate is None else self.debit_rate
        P = float(self.periods_per_year)
        return self.cash_rate / P, debit / P, self.borrow_rate / P

    @property
    def is_linear(self) -> bool:
        """True when trading costs are linear in the trade size (no impact term)."""
        return self.impact_coef == 0.0
