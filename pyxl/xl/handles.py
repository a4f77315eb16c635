"""Object handles: compute once, reuse from other cells.

A heavy formula can return a short text handle such as ``pyxl:scn#3f2a9c01``
instead of a large array; other formulas accept that text wherever they accept
the object (for example a scenario set where a returns range is expected).
Handles are content-addressed (the same inputs give the same handle, so a
recalculation does not mint a new one) and kept in a bounded store: at most
:data:`MAX_OBJECTS` objects holding at most :data:`MAX_BYTES` of arrays, least
recently used first out (the newest object always stays).  A handle that has
been evicted or comes from another session gives a clear message asking the
user to recalculate the cell that made it.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from pyxl.errors import InputError
from pyxl.xl.cache import fingerprint

__all__ = ["is_handle", "cell_text", "put", "get", "clear", "nbytes", "MAX_OBJECTS",
           "MAX_BYTES"]

#: Most objects kept (all handle kinds together).
MAX_OBJECTS = 64
#: Most bytes of arrays kept (about six of the largest scenario sets MBB_RECOLOR keeps
#: paths for, 20 million values of 8 bytes each); the newest object always stays.
MAX_BYTES = 1 << 30
_PATTERN = re.compile(r"^pyxl:([a-z]{2,8})#([0-9a-f]{8,40})$")
_store: OrderedDict[str, Any] = OrderedDict()
_sizes: dict[str, int] = {}
_lock = threading.Lock()
_serial = itertools.count()


def nbytes(obj: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes of the numpy arrays (and pandas objects) reachable from ``obj``.

    Follows lists, tuples, dicts, dataclass/attribute objects a few levels deep and
    counts each array buffer once (a view counts its base array).

    Parameters
    ----------
    obj : Any
        The object a handle keeps (scenario set, optimisation result, array ...).

    Returns
    -------
    int
        Bytes, the measure :data:`MAX_BYTES` bounds.
    """
    seen = set() if _seen is None else _seen
    if _depth > 6 or id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        base = obj
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not obj:
            if id(base) in seen:
                return 0
            seen.add(id(base))
        return int(base.nbytes)
    if hasattr(obj, "to_numpy") and hasattr(obj, "memory_usage"):  # pandas
        try:
            usage = obj.memory_usage(index=True)
            return int(getattr(usage, "sum", lambda: usage)())
        except (TypeError, ValueError):
            return 0
    if isinstance(obj, (str, bytes, int, float, bool, type(None))):
        return 0
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = list(obj)
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).values())
    else:
        items = [getattr(obj, a, None) for a in getattr(obj, "__slots__", ())]
    return sum(nbytes(v, seen, _depth + 1) for v in items)


def is_handle(value: Any) -> bool:
    """True when ``value`` is a handle text (``pyxl:<kind>#<hex>``)."""
    return isinstance(value, str) and _PATTERN.match(value.strip()) is not None


def cell_text(value: Any) -> str | None:
    """The handle text when ``value`` is a handle or a one-cell range holding one, else None.

    Excel passes a one-cell range as ``((text,),)`` (or ``(text,)``, or ``text``,
    depending on the converter); every formula that accepts a handle unwraps it here.
    """
    while isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value.strip() if is_handle(value) else None


def put(obj: Any, kind: str, *key_parts: Any) -> str:
    """Store ``obj`` and return its handle.

    Parameters
    ----------
    obj : Any
        The object to keep (a scenario set, an optimisation result ...).
    kind : str
        Short lowercase tag shown in the handle, e.g. ``"scn"`` or ``"mbp"``.
    *key_parts
        The inputs that determine ``obj``; the handle is their fingerprint, so
        identical inputs always give the same handle.
    """
    if not re.fullmatch(r"[a-z]{2,8}", kind):
        raise ValueError(f"bad handle kind {kind!r}")
    # without key parts: a fresh handle per call (an id() could come back for a
    # new object once the old one is gone, and a stale cell would read the new one)
    digest = fingerprint(kind, *key_parts)[:12] if key_parts else \
        fingerprint(kind, "serial", next(_serial), id(obj))[:12]
    handle = f"pyxl:{kind}#{digest}"
    size = nbytes(obj)
    with _lock:
        _store[handle] = obj
        _sizes[handle] = size
        _store.move_to_end(handle)
        # the newest object always stays, however large
        while len(_store) > 1 and (len(_store) > MAX_OBJECTS or sum(_sizes.values()) > MAX_BYTES):
            old, _ = _store.popitem(last=False)
            _sizes.pop(old, None)
    return handle


def get(value: Any, kind: str, name: str) -> Any:
    """The object behind handle ``value``.

    Raises
    ------
    InputError
        When ``value`` is not a handle of ``kind`` or is no longer in memory.
    """
    text = value.strip() if isinstance(value, str) else ""
    m = _PATTERN.match(text)
    if m is None:
        raise InputError(name, f"{str(value)[:30]!r} is not a PyXL handle", "point to its cell")
    if m.group(1) != kind:
        raise InputError(
            name, f"handle is a {m.group(1)!r}, expected {kind!r}", "use the right cell"
        )
    with _lock:
        if text not in _store:
            raise InputError(name, "handle has expired", "recalculate the cell that made it (F9)")
        _store.move_to_end(text)
        return _store[text]


def clear() -> None:
    """Forget every stored object."""
    with _lock:
        _store.clear()
        _sizes.clear()
