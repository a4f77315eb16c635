"""Exceptions shared by the core and every adapter."""

from __future__ import annotations

__all__ = ["InputError", "InfeasibleError", "one_line"]


def one_line(text: object) -> str:
    """``text`` on one line: its lines stripped and joined by single spaces, blank
    lines dropped (library messages and cell text may hold line breaks; a cell, the
    status bar and stderr show one line)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class InputError(ValueError):
    """Bad user input, reported as one short line naming the argument and the fix.

    Parameters
    ----------
    arg : str
        Name of the offending argument exactly as the user typed it
        (formula argument, CLI option or template input name).
    problem : str
        What is wrong, in a few words ("must be > 0, got -1").
    fix : str, optional
        What to do about it ("enter prices as positive numbers").

    Notes
    -----
    Adapters catch this exception and show ``str(err)``: in a cell, the status
    bar, or on stderr.  The core raises it for conditions only the user can fix
    (shape mismatch, non-PSD covariance, infeasible limits).
    """

    def __init__(self, arg: str, problem: str, fix: str = "") -> None:
        self.arg = arg
        self.problem = problem
        self.fix = fix
        msg = f"{arg}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)


class InfeasibleError(InputError):
    """Limits that cannot be met together (optimisers, ledger constraints)."""
