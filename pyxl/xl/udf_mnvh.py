"""Excel formulas for the mnvh engine (filled in by its issue)."""

from __future__ import annotations

__all__: list[str] = []
