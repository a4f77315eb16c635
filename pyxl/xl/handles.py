"""Object handles: compute once, reuse from other cells.

A heavy formula can return a short text handle such as ``pyxl:scn#3f2a9c01``
instead of a large array; other formulas accept that text wherever they accept
the object (for example a scenario set where a returns range is expected).
Handles are content-addressed (the same inputs give the same handle, so a
recalculation does not mint a new one) and kept in a bounded store; a handle
that has been evicted or comes from another session gives a clear message
asking the user to recalculate the cell that made it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from pyxl.errors import InputError
from pyxl.xl.cache import fingerprint

__all__ = ["is_handle", "cell_text", "put", "get", "clear", "MAX_OBJECTS"]

MAX_OBJECTS = 64
_PATTERN = re.compile(r"^pyxl:([a-z]{2,8})#([0-9a-f]{8,40})$")
_store: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()


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
    digest = fingerprint(kind, *key_parts)[:12] if key_parts else fingerprint(kind, id(obj))[:12]
    handle = f"pyxl:{kind}#{digest}"
    with _lock:
        _store[handle] = obj
        _store.move_to_end(handle)
        while len(_store) > MAX_OBJECTS:
            _store.popitem(last=False)
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
