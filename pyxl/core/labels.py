"""Label alignment of pandas inputs to the core engines (one rule for every engine).

The engines compute on numpy arrays.  A caller passing pandas objects expects pandas
semantics: a weight Series labelled by ticker meets the price column of that ticker,
whatever the order.  Taken by position instead, a Series in another order silently
pairs every weight with another asset's prices.  :func:`target_order` decides, per
axis, whether to keep the order, reorder to the reference labels, or refuse.
"""

from __future__ import annotations

import pandas as pd

from pyxl.errors import InputError

__all__ = ["target_order", "square_in_order"]


def _shown(axis: pd.Index) -> str:
    return ", ".join(map(str, axis[:3])) + (", ..." if len(axis) > 3 else "")


def target_order(axis: pd.Index, targets: list[tuple[pd.Index, str]],
                 name: str) -> pd.Index | None:
    """The labels ``axis`` must be reordered to, or None to keep it as it is.

    Parameters
    ----------
    axis : pandas.Index
        The labels of one axis of an input (a Series' index, a DataFrame's columns).
    targets : list of (pandas.Index, str)
        Reference labels this axis may carry, each with what it is ("price columns").
    name : str
        The input's argument name, for the error.

    Returns
    -------
    pandas.Index or None
        None when ``axis`` is a default 0..n-1 index (by position) or already equals a
        target; else the target holding the same labels in its own order.

    Raises
    ------
    InputError
        When the labels are none of the targets (a typo in a ticker, shifted dates).
    """
    if isinstance(axis, pd.RangeIndex) and axis.start == 0 and axis.step == 1:
        return None
    for target, _ in targets:
        if axis.equals(target):
            return None
        if axis.is_unique and len(axis) == len(target) and set(axis) == set(target):
            return target
    what = " or ".join(w for _, w in targets)
    raise InputError(name, f"is labelled {_shown(axis)}, not by the {what}",
                     f"label it by the {what} (or pass plain numbers, in their order)")


def square_in_order(frame: pd.DataFrame, targets: list[tuple[pd.Index, str]],
                    name: str) -> pd.DataFrame:
    """A square DataFrame (a covariance) with both axes in the order of ``targets``
    (:func:`target_order` per axis)."""
    rows = target_order(frame.index, targets, name)
    cols = target_order(frame.columns, targets, name)
    return frame.reindex(index=frame.index if rows is None else rows,
                         columns=frame.columns if cols is None else cols)
