"""CLI sub-commands for the mbp engine."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this engine's sub-commands (none yet)."""
