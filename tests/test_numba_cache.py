"""The stale-cache guard: cache files go when any core source changes, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyxl import numba_cache as nc


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "core"
    (root / "ledger" / "__pycache__").mkdir(parents=True)
    (root / "mnvh" / "__pycache__").mkdir(parents=True)
    (root / "ledger" / "lots.py").write_text("def f():\n    return 1\n")
    (root / "mnvh" / "kernel.py").write_text("def g():\n    return 2\n")
    return root


def _cache_files(root: Path) -> list[Path]:
    for sub in ("ledger", "mnvh"):
        for name in ("k-1.py311.nbi", "k-1.py311.1.nbc"):
            (root / sub / "__pycache__" / name).write_bytes(b"x")
    return sorted(root.rglob("*.nb[ic]"))


def test_cache_is_kept_while_sources_are_unchanged_and_cleared_after_an_edit(
        tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    root = _tree(tmp_path)
    files = _cache_files(root)
    assert nc.clear_stale(root) == 4  # no fingerprint recorded yet: cannot trust the cache
    assert not any(f.exists() for f in files)
    files = _cache_files(root)
    assert nc.clear_stale(root) == 0 and all(f.exists() for f in files)
    # an edit in a *callee's* file, which numba's own check would not see
    (root / "ledger" / "lots.py").write_text("def f():\n    return 3\n")
    assert nc.clear_stale(root) == 4
    assert not any(f.exists() for f in files)
    # a new module counts as a change too; an unrelated file does not
    _cache_files(root)
    (root / "notes.txt").write_text("not a source")
    assert nc.clear_stale(root) == 0
    (root / "mnvh" / "extra.py").write_text("")
    assert nc.clear_stale(root) == 4


def test_fingerprint_depends_on_path_and_content(tmp_path):
    root = _tree(tmp_path)
    a = nc.core_fingerprint(root)
    (root / "ledger" / "lots.py").rename(root / "ledger" / "lots2.py")
    b = nc.core_fingerprint(root)
    assert a != b and len(a) == 64


def test_a_separate_cache_dir_is_left_alone(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    files = _cache_files(root)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert nc.clear_stale(root) == 0 and all(f.exists() for f in files)


@pytest.mark.skipif(not nc._core_root().is_dir(), reason="core sources not on disk")
def test_real_core_fingerprint_is_stable():
    assert nc.core_fingerprint() == nc.core_fingerprint()
