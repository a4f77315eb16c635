"""CLI sub-commands for the Excel add-in (build, install)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this engine's sub-commands (none yet)."""
