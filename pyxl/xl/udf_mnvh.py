"""Excel formulas of the MNVH engine and its Ledger-SPT cash account (seed 000).

* ``MNVH_STEP``: one step of eq. 1, the quantity update rule.
* ``LEDGER_KAPPA``: the self-financing scale of a proposed trade (eq. 2 read
  through the cash account).

Both convert their cells with :mod:`pyxl.xl.convert` and call the same core
functions the backtest engine uses (:func:`pyxl.core.mnvh.rule.mnvh_target`,
:func:`pyxl.core.ledger.kappa.kappa_interval`).
"""

from __future__ import annotations

import numpy as np
import xlwings as xw

from pyxl.core.ledger.kappa import largest_kappa
from pyxl.core.mnvh.rule import mnvh_step
from pyxl.errors import InputError
from pyxl.xl.convert import (
    excel_formula,
    is_missing,
    to_choice,
    to_float,
    to_vector,
    vector_like,
    xl_arg,
)

__all__ = ["MNVH_STEP", "LEDGER_KAPPA"]


def _check_lengths(vectors: dict[str, np.ndarray]) -> int:
    """The number of assets; a vector whose length differs from all the others is named.

    ``q`` fixes the number of assets unless it is the odd one out: with ``q`` 5 long and
    ``p_prev``, ``p_now`` and ``w`` all 4 long, the range to fix is ``q``.
    """
    names = list(vectors)
    sizes = {k: v.size for k, v in vectors.items()}
    first = names[0]
    others = {sizes[k] for k in names[1:]}
    if len(others) == 1 and sizes[first] not in others:
        n = others.pop()
        rest = ", ".join(names[1:-1]) + f" and {names[-1]}"
        raise InputError(first, f"has {sizes[first]} values, {rest} have {n}",
                         "select one cell per asset")
    n = sizes[first]
    for k in names[1:]:
        if sizes[k] != n:
            raise InputError(k, f"has {sizes[k]} values, {first} has {n}",
                             "select one cell per asset")
    return n


@xw.func(category="PyXL")
@xl_arg("q", ndim=2, doc="Current positions q_t in shares, a row or column (one per asset).")
@xl_arg("p_prev", ndim=2, doc="Prices p_t at the previous bar, > 0, same length as q.")
@xl_arg("p_now", ndim=2, doc="Prices p_t+1 at the current bar, > 0, same length as q.")
@xl_arg("w", ndim=2, doc="Target notional weights w (sum 1, negatives allowed), same length.")
@xl_arg("lam", doc="Inventory decay lambda in [0, 1] (typically 0.8-0.98).")
@xl_arg("beta", doc="Trading intensity beta >= 0: currency (absolute) or multiple of nav.")
@xl_arg("beta_mode", doc='"absolute" (default, eq. 1 as written) or "nav" (beta times nav).')
@xl_arg("nav", doc='Portfolio NAV in currency, needed when beta_mode is "nav".')
@excel_formula
def MNVH_STEP(q, p_prev, p_now, w, lam, beta, beta_mode="absolute", nav=None):
    """MNVH eq. 1: q_t+1 = lam*q + beta*(w/p_prev)*(R - r), r = p_now/p_prev - 1, R = sum(w*r)."""
    qv = to_vector(q, "q")
    pp = to_vector(p_prev, "p_prev", positive=True)
    pn = to_vector(p_now, "p_now", positive=True)
    wv = to_vector(w, "w")
    _check_lengths({"q": qv, "p_prev": pp, "p_now": pn, "w": wv})
    if abs(wv.sum() - 1.0) > 1e-6:  # seed 000: target weights sum to 1 (as MNVH_BACKTEST)
        raise InputError("w", f"sum to {wv.sum():.6g}, expected 1", "rescale them to sum to 1")
    lam_f = to_float(lam, "lam", lo=0.0, hi=1.0)
    beta_f = to_float(beta, "beta", lo=0.0)
    mode = to_choice(beta_mode, "beta_mode", ("absolute", "nav"), default="absolute")
    # nav is checked whenever given, so that text or an error there is never passed over
    nav_f = None if is_missing(nav) else to_float(nav, "nav", lo=0.0, lo_open=True)
    if mode == "nav":
        if nav_f is None:
            raise InputError("nav", 'is blank but beta_mode is "nav"', "enter the NAV")
        beta_f *= nav_f
    return vector_like(mnvh_step(qv, pp, pn, wv, lam_f, beta_f), q)


@xw.func(category="PyXL")
@xl_arg("p", ndim=2, doc="Prices at which the trade executes, > 0, a row or column.")
@xl_arg("dq", ndim=2, doc="Proposed trade in shares (+ buy, - sell), same length as p.")
@xl_arg("cash", doc="Cash before the trade, currency.")
@xl_arg("fee_rate", doc="Proportional fee, fraction of traded notional (0.0005 = 5 bp), default 0.")
@xl_arg("fixed_fee", doc="Fixed fee per non-zero trade, currency, default 0.")
@xl_arg("min_cash", doc="Cash floor after trade and fees, currency, default 0.")
@excel_formula
def LEDGER_KAPPA(p, dq, cash, fee_rate=0.0, fixed_fee=0.0, min_cash=0.0):
    """Largest kappa in [0,1] with cash - kappa*sum(p*dq) - fees >= min_cash; 1 if dq is all 0."""
    pv = to_vector(p, "p", positive=True)
    dqv = to_vector(dq, "dq")
    if dqv.size != pv.size:
        raise InputError("dq", f"has {dqv.size} values, p has {pv.size}",
                         "select one trade per price")
    return largest_kappa(
        pv, dqv, to_float(cash, "cash"),
        # a fee of 100 % of the notional or more is a percent or bp typed as a number
        to_float(fee_rate, "fee_rate", default=0.0, lo=0.0, hi=1.0, hi_open=True,
                 fix="enter a decimal fraction of the notional (0.0005 = 5 bp)"),
        to_float(fixed_fee, "fixed_fee", default=0.0, lo=0.0),
        to_float(min_cash, "min_cash", default=0.0),
    )
