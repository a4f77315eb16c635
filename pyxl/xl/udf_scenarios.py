"""Excel formulas for the scenarios engine (filled in by its issue)."""

from __future__ import annotations

__all__: list[str] = []
