"""Keep numba's on-disk cache in step with the numerical core's sources.

numba keys a cached kernel on the timestamp of the *one* file that holds the
jitted function.  A kernel that calls jitted helpers in other files (the MNVH
engine calls the lot booking in ``pyxl/core/ledger/lots.py``, the kappa solver
and the update rule) is therefore loaded stale after those files change, as
happens with an editable install after ``git pull``: it runs the old code
without a word.  :func:`clear_stale` fingerprints every source file of
``pyxl/core`` and, when the fingerprint differs from the one recorded beside
the cache, deletes the cache files so that every kernel is recompiled.
``pyxl warmup`` and ``pyxl demo`` call it first.

An installed (non-editable) package changes all its files at once on upgrade,
so numba's own check already catches that case; with ``NUMBA_CACHE_DIR`` set
the cache lives elsewhere and is left alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["core_fingerprint", "clear_stale", "STAMP_NAME"]

#: File (in ``pyxl/core/__pycache__``) recording the fingerprint the cache belongs to.
STAMP_NAME = "pyxl-core-sources.sha256"


def _core_root() -> Path:
    import pyxl.core

    return Path(pyxl.core.__file__).resolve().parent


def core_fingerprint(root: Path | None = None) -> str:
    """SHA-256 over the relative paths and contents of every ``*.py`` below ``root``."""
    root = _core_root() if root is None else Path(root)
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def clear_stale(root: Path | None = None) -> int:
    """Delete numba cache files under ``root`` if its sources changed; return how many.

    Returns 0 (and does nothing) when the recorded fingerprint matches, when
    ``NUMBA_CACHE_DIR`` points the cache elsewhere, or when the package directory
    is not writable (a system install, which numba cannot cache into either).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return 0
    root = _core_root() if root is None else Path(root)
    stamp = root / "__pycache__" / STAMP_NAME
    fingerprint = core_fingerprint(root)
    try:
        if stamp.is_file() and stamp.read_text().strip() == fingerprint:
            return 0
        removed = 0
        for pattern in ("*.nbi", "*.nbc"):
            for f in root.rglob(pattern):
                if f.parent.name == "__pycache__":
                    f.unlink()
                    removed += 1
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(fingerprint + "\n")
    except OSError:
        return 0
    return removed
