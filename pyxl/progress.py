"""Progress display for long jobs (CLI: a bar on stderr; Excel: the status bar)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["Progress", "ProgressFn", "null_progress"]

#: ``progress(message, fraction)``; fraction in [0, 1] or ``None`` when unknown.
ProgressFn = Callable[[str, "float | None"], None]


def null_progress(message: str, fraction: float | None = None) -> None:
    """A progress callback that shows nothing."""


class Progress:
    """Text progress bar for the terminal, one line per section.

    Parameters
    ----------
    stream : file, optional
        Where to draw (stderr by default).
    width : int
        Bar width in characters.
    """

    def __init__(self, stream=None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.section = ""
        self.t0 = time.perf_counter()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_line = ""

    def start(self, section: str) -> None:
        """Begin a named section (prints a header line)."""
        self.section = section
        self.t0 = time.perf_counter()
        self.stream.write(f"== {section}\n")
        self.stream.flush()

    def __call__(self, message: str, fraction: float | None = None) -> None:
        elapsed = time.perf_counter() - self.t0
        if fraction is None:
            line = f"   {message} ({elapsed:.1f}s)"
        else:
            f = min(max(fraction, 0.0), 1.0)
            done = int(round(f * self.width))
            bar = "#" * done + "." * (self.width - done)
            line = f"   [{bar}] {f * 100:5.1f}% {message} ({elapsed:.1f}s)"
        if self._tty:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
            if fraction is not None and fraction >= 1.0:
                self.stream.write("\n")
        elif fraction is None or fraction >= 1.0 or line.split("]")[0] != self._last_line.split(
            "]"
        )[0]:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()
