"""Bundled real market data (see ``SOURCE.md`` in this folder).

Loading happens here, outside :mod:`pyxl.core`, because it is I/O.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from pyxl.numparse import EXACT_CSV

__all__ = ["load_sp500_prices", "load_sp500_index"]


def _read(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath(name).open("rb") as fh:
        frame = pd.read_csv(fh, compression="gzip", index_col=0, parse_dates=True,
                            **EXACT_CSV)
    frame.index.name = "Date"
    return frame.astype(float)


def load_sp500_prices(start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Daily adjusted close prices of 20 S&P 500 stocks, 1990-01-02 to 2022-12-28.

    Parameters
    ----------
    start, end : str, optional
        ISO dates to slice the sample (inclusive).

    Returns
    -------
    pandas.DataFrame
        T x 20 prices in US dollars, indexed by date, columns are tickers.
    """
    return _read("sp500_dataset.csv.gz").loc[start:end]


def load_sp500_index(start: str | None = None, end: str | None = None) -> pd.Series:
    """Daily S&P 500 index level on the same dates as :func:`load_sp500_prices`."""
    return _read("sp500_index.csv.gz")["SP500"].loc[start:end]
