"""A bounded in-memory cache for heavy formulas.

Excel recalculates often (every edit, every F9, every open).  A heavy formula
wrapped in :func:`memoize` answers identical inputs from memory.  The key is a
SHA-1 over the *converted* arguments (arrays by dtype, shape and bytes), so two
ranges holding the same numbers share an entry whatever cells they came from.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

__all__ = ["memoize", "fingerprint", "clear_all"]

F = TypeVar("F", bound=Callable[..., Any])
_REGISTRY: list[OrderedDict] = []


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            # the buffer of an object array holds pointers, not values: feed each item
            h.update(b"O")
            h.update(str(obj.shape).encode())
            for item in obj.ravel(order="C"):
                _feed(h, item)
            return
        h.update(b"A")
        h.update(str(obj.dtype).encode())
        h.update(str(obj.shape).encode())
        h.update(np.ascontiguousarray(obj).reshape(-1).view(np.uint8))  # no copy
    elif hasattr(obj, "to_numpy") and hasattr(obj, "index") and not isinstance(obj, type):
        # pandas: repr() rounds to 6 digits and elides long frames, so feed the values
        h.update(b"P")
        h.update(type(obj).__name__.encode())
        _feed(h, np.asarray(obj.to_numpy()))
        _feed(h, np.asarray(obj.index.to_numpy()))
        if hasattr(obj, "columns"):
            _feed(h, np.asarray(obj.columns.to_numpy()))
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(b"C")
        h.update(type(obj).__qualname__.encode())
        _feed(h, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    elif isinstance(obj, (list, tuple)):
        h.update(b"L" if isinstance(obj, list) else b"T")
        h.update(str(len(obj)).encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, dict):
        h.update(b"D")
        h.update(str(len(obj)).encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    else:
        h.update(b"S")
        h.update(repr((type(obj).__name__, obj)).encode())


def fingerprint(*args: Any, **kwargs: Any) -> str:
    """Stable hex digest of arguments (arrays by content)."""
    h = hashlib.sha1()
    _feed(h, args)
    _feed(h, kwargs)
    return h.hexdigest()


def memoize(maxsize: int = 32) -> Callable[[F], F]:
    """Least-recently-used cache of at most ``maxsize`` results per function.

    Results are returned as stored; callers must treat them as read-only
    (numpy results are frozen with ``flags.writeable = False``).
    """

    def deco(func: F) -> F:
        store: OrderedDict[str, Any] = OrderedDict()
        lock = threading.Lock()
        _REGISTRY.append(store)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = fingerprint(func.__qualname__, args, kwargs)
            with lock:
                if key in store:
                    store.move_to_end(key)
                    return store[key]
            result = func(*args, **kwargs)
            if isinstance(result, np.ndarray):
                result.flags.writeable = False
            with lock:
                store[key] = result
                store.move_to_end(key)
                while len(store) > maxsize:
                    store.popitem(last=False)
            return result

        wrapper.cache = store  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


def clear_all() -> None:
    """Empty every formula cache (used by tests and the ribbon's Recalculate)."""
    for store in _REGISTRY:
        store.clear()
