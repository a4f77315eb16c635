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

__all__ = ["is_positional", "target_order", "in_order", "square_in_order", "as_vector",
           "date_order", "check_time_order", "align_to_prices", "on_dates"]


def is_positional(axis: pd.Index) -> bool:
    """Whether ``axis`` is pandas' default 0..n-1 index, which labels nothing (the rows
    or columns are taken by position)."""
    return isinstance(axis, pd.RangeIndex) and axis.start == 0 and axis.step == 1


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
    if is_positional(axis):
        return None
    for target, _ in targets:
        if axis.equals(target):
            return None
        if axis.is_unique and len(axis) == len(target) and set(axis) == set(target):
            return target
    what = " or ".join(w for _, w in targets)
    for target, w in targets:
        if len(axis) == len(target) and set(axis) == set(target):  # same labels, repeated
            dup = (axis if axis.has_duplicates else target)
            shown = _shown(dup[dup.duplicated()].unique())
            raise InputError(name, f"cannot be matched to the {w} by label: {shown} is "
                             "repeated", f"pass plain numbers, in the {w}' order")
    raise InputError(name, f"is labelled {_shown(axis)}, not by the {what}",
                     f"label it by the {what} (or pass plain numbers, in their order)")


def in_order(x, targets: list[tuple[pd.Index, str]], name: str):
    """A Series (or a DataFrame, by its rows) reindexed to the target its index labels match
    (:func:`target_order`), or ``x`` itself when it is positional or already in order."""
    order = target_order(x.index, targets, name)
    return x if order is None else x.reindex(order)


def square_in_order(frame: pd.DataFrame, targets: list[tuple[pd.Index, str]],
                    name: str) -> pd.DataFrame:
    """A square DataFrame (a covariance) with both axes in the order of ``targets``
    (:func:`target_order` per axis)."""
    rows = target_order(frame.index, targets, name)
    cols = target_order(frame.columns, targets, name)
    return frame.reindex(index=frame.index if rows is None else rows,
                         columns=frame.columns if cols is None else cols)


def as_vector(x):
    """A one-column or one-row DataFrame as a Series, so that its labels count.

    ``mu.to_frame()`` or ``df[["alpha"]]`` (one column, labelled rows) and ``mu.to_frame().T``
    (one row, labelled columns) were flattened by position by ``np.asarray(x).ravel()``,
    ignoring the tickers they carry.  Anything else is returned unchanged.

    Parameters
    ----------
    x : object
        An input that stands for one value per asset.

    Returns
    -------
    pandas.Series or object
        ``x``'s only column (indexed by its rows) or only row (indexed by its columns).
    """
    if isinstance(x, pd.DataFrame) and x.shape != (1, 1):  # one value: no order to keep
        if x.shape[1] == 1:
            return x.iloc[:, 0]
        if x.shape[0] == 1:
            return x.iloc[0]
    return x


def date_order(dates) -> str:
    """``"oldest first"``, ``"newest first"`` or ``"not in date order"`` for a run of dates.

    The one order rule of every reader that puts rows oldest first (the CLI readers,
    ``=MNVH_BACKTEST``, ``=MBB_RECOLOR``, the Run button, the Python API).

    Dates that never decrease (equal dates included) are oldest first; dates that never
    increase, and decrease somewhere, newest first (the order many downloads come in).
    """
    idx = pd.DatetimeIndex(dates)
    if idx.is_monotonic_increasing:
        return "oldest first"
    return "newest first" if idx.is_monotonic_decreasing else "not in date order"


def check_time_order(x, name: str) -> None:
    """Refuse a Series or DataFrame whose DatetimeIndex is not in increasing order.

    The engines read rows as bars in time order; a newest-first table (as some vendors
    export) would otherwise run backwards in time without a word.

    Parameters
    ----------
    x : object
        An input whose rows are bars (prices, returns).
    name : str
        The argument name, for the error.

    Raises
    ------
    InputError
        When ``x`` has a DatetimeIndex that is not monotonic increasing.
    """
    index = getattr(x, "index", None)
    if not isinstance(x, (pd.Series, pd.DataFrame)) or not isinstance(index, pd.DatetimeIndex):
        return
    order = date_order(index)
    if order != "oldest first":
        raise InputError(name, f"has its dates {order} (rows are bars, oldest first)",
                         f"sort them: {name}.sort_index()")


def align_to_prices(x, prices, name: str, assets: bool, dates: bool):
    """``x`` put in the order of the labels of ``prices`` when both are pandas objects.

    A Series (or a DataFrame's columns) labelled by the price columns is reordered to
    them, and one labelled by the price dates (a Series, or a DataFrame's index) to
    those; a default 0..n-1 index means "by position" and is left alone.  Before, a
    weight Series in another ticker order than the price columns was applied by
    position without a word.  Labels that are neither raise an :class:`InputError`.

    Parameters
    ----------
    x : array-like, Series or DataFrame
        An input of :func:`pyxl.core.mnvh.engine.prepare_inputs` or the research functions.
    prices : array-like or DataFrame
        The prices; nothing is aligned unless it is a DataFrame.
    name : str
        Argument name for the error message.
    assets, dates : bool
        Whether ``x`` may be labelled by asset (the price columns) and by date (the
        price index).
    """
    if not isinstance(prices, pd.DataFrame) or not isinstance(x, (pd.Series, pd.DataFrame)):
        return x

    cols = (prices.columns, "price columns")
    rows = (prices.index, "price dates")
    if isinstance(x, pd.Series):
        return in_order(x, ([cols] if assets else []) + ([rows] if dates else []), name)
    if assets:
        target = target_order(x.columns, [cols], name)
        x = x if target is None else x[target]
    return in_order(x, [rows], name) if dates else x


def on_dates(values: pd.Series, dates: pd.DatetimeIndex, name: str,
             shown: str = "") -> pd.Series:
    """A benchmark's prices taken on the price dates, as every adapter meets them.

    ``values`` (indexed by date) is reindexed to ``dates``: dates the prices lack are
    dropped (a longer index history is fine), and a price date ``values`` lacks is
    refused.  ``pyxl backtest --benchmark`` and ``=MNVH_BACKTEST`` with dated ranges
    use this one rule.

    Parameters
    ----------
    values : pandas.Series
        Benchmark prices indexed by date (no NaN).
    dates : pandas.DatetimeIndex
        The price dates.
    name : str
        The argument or option, for the error.
    shown : str, optional
        The file's name, for the error (``"index.csv"``).

    Raises
    ------
    InputError
        ``has no price on 2020-01-01, a date of the prices``.
    """
    out = values.reindex(dates)
    missing = out.index[out.isna().to_numpy()]
    if len(missing):
        lead = f"{shown} has" if shown else "has"
        raise InputError(name, f"{lead} no price on {missing[0].date()}, a date of the prices",
                         "cover every date of the prices")
    return out
