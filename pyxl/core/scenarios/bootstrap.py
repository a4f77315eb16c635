"""Block bootstrap of a T x N history into paths (seed 002, step 1).

Whole rows are resampled, so the cross-asset dependence of each period is
kept.  Three schemes, all vectorised numpy index arithmetic:

``moving`` (the seed's)
    blocks of length L start uniformly in {0, ..., T - L}; a path is the
    concatenation of ceil(H / L) blocks cut to H rows.
``circular``
    starts uniformly in {0, ..., T - 1}, rows wrap around (index mod T).
``stationary`` (Politis-Romano)
    each row starts a new block with probability 1 / L (and row 0 always
    does), otherwise continues the previous block (mod T): geometric block
    lengths with mean L.

Block length 0 means automatic: the Politis-White (2004, with the Patton,
Politis and White 2009 correction) rule from :func:`arch.bootstrap.optimal_block_length`,
averaged over the N assets, rounded up and clipped to [1, T]; L = 1 when the
history is too short for the estimator (T < 8 rows; undefined lags are ignored).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from pyxl.errors import InputError

__all__ = ["METHODS", "auto_block_length", "bootstrap_indices"]

METHODS = ("moving", "circular", "stationary")


def auto_block_length(history: np.ndarray, method: str = "moving") -> int:
    """Politis-White block length for a T x N history (mean over assets, rounded up).

    The ``stationary`` column of arch's estimate is used for the stationary
    bootstrap, the ``circular`` column for the moving and circular ones.
    """
    from arch.bootstrap import optimal_block_length

    T = history.shape[0]
    if T < 4:
        return 1
    try:
        # Short histories: arch's lag window (about sqrt(T) + 5 lags) is longer than the
        # sample, so it divides by empty sums (T <= 10) or raises ValueError (T < 8).
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            table = optimal_block_length(np.asarray(history, dtype=float))
    except ValueError:
        return 1
    col = "stationary" if method == "stationary" else "circular"
    vals = np.asarray(table[col], dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 1
    return int(min(max(math.ceil(float(vals.mean())), 1), T))


def bootstrap_indices(
    rng: np.random.Generator, n_paths: int, horizon: int, T: int, block: int, method: str
) -> np.ndarray:
    """Row indices into the history, shape (n_paths, horizon), int64.

    Parameters
    ----------
    rng : numpy Generator (its draws fully determine the result).
    n_paths, horizon : number of paths and rows per path.
    T : history length; block : block length L (1 <= L <= T).
    method : ``moving``, ``circular`` or ``stationary``.
    """
    if method not in METHODS:
        raise InputError("method", f"{method!r} is not one of {', '.join(METHODS)}", "pick one")
    if not 1 <= block <= T:
        raise InputError("block", f"must be between 1 and {T} (history length), got {block}",
                         "choose a shorter block or 0 for automatic")
    if method == "stationary":
        new = rng.random((n_paths, horizon)) < 1.0 / block
        new[:, 0] = True
        starts = rng.integers(0, T, size=(n_paths, horizon))
        pos = np.arange(horizon)
        last = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
        first = np.take_along_axis(starts, last, axis=1)
        return (first + (pos - last)) % T
    n_blocks = -(-horizon // block)
    hi = T - block + 1 if method == "moving" else T
    starts = rng.integers(0, hi, size=(n_paths, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)).reshape(n_paths, n_blocks * block)[:, :horizon]
    if method == "circular":
        idx %= T
    return idx
