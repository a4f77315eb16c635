"""Progress display for long jobs (CLI: a bar on stderr; Excel: the status bar)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Progress", "ProgressFn", "null_progress"]

#: ``progress(message, fraction)``; fraction in [0, 1] or ``None`` when unknown.
ProgressFn = Callable[[str, "float | None"], None]


def null_progress(message: str, fraction: float | None = None) -> None:
    """A progress callback that shows nothing."""


class Progress:
    """Text progress bar for the terminal, one line per section.

    On a terminal the bar is redrawn in place (carriage return, no newline);
    :meth:`break_line` ends such an unfinished line so that whatever is printed
    next (a section header, a table on stdout, an error) starts on a line of its
    own.  :meth:`start` does it itself and :meth:`guard_stdout` does it before
    every write to ``sys.stdout``.

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
        self._open = False  # a bar drawn on a terminal without its newline yet

    def break_line(self) -> None:
        """End the bar line left open on a terminal (no-op otherwise)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
            self._last_line = ""

    @contextmanager
    def guard_stdout(self) -> Iterator[None]:
        """While active, anything printed to ``sys.stdout`` first ends an open bar line."""
        saved = sys.stdout
        if not (self._tty and hasattr(saved, "isatty") and saved.isatty()):
            yield
            return
        sys.stdout = _LineBreakingStream(saved, self)
        try:
            yield
        finally:
            sys.stdout = saved

    def start(self, section: str) -> None:
        """Begin a named section (prints a header line)."""
        self.break_line()
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
            self._open = True
            if fraction is not None and fraction >= 1.0:
                self.stream.write("\n")
                self._open = False
        elif fraction is None or fraction >= 1.0 or line.split("]")[0] != self._last_line.split(
            "]"
        )[0]:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()


class _LineBreakingStream:
    """``sys.stdout`` stand-in that ends an open progress bar line before writing."""

    def __init__(self, target, progress: Progress) -> None:
        self._target = target
        self._progress = progress

    def write(self, text: str) -> int:
        if text:
            self._progress.break_line()
        return self._target.write(text)

    def __getattr__(self, name: str):
        return getattr(self._target, name)
