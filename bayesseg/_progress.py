"""Progress of long stages as plain lines, for logs: a line at every tenth of the work and every 30 s.

A terminal gets rich's live bars (:mod:`bayesseg.cli`); a log file, a CI job or a pipe cannot show
them, and without anything else a fit of several minutes prints nothing until it ends.
:class:`ProgressLines` prints a line whenever the work crosses the next tenth, and a heartbeat line
from a background thread whenever 30 s pass without one (a stage whose fraction is unknown, such
as the sampler, still says it is alive and for how long it has run).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO

__all__ = ["ProgressLines", "format_elapsed"]


def format_elapsed(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"`` or ``"1 h 02 min"``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLines:
    """Print a stage's progress as lines: at each tenth of the work, and at least every `every` seconds.

    Use as a context manager (the heartbeat thread lives inside it) and call the instance with
    ``(note, fraction)`` as the work advances (the ``progress`` callbacks of
    :func:`bayesseg.simulate.simulate_warehouse`, :func:`bayesseg.survey.trends.trend_series`...).

    Parameters
    ----------
    name : str
        The stage, at the start of every line.
    stream : file-like, default sys.stderr
        Where the lines go (flushed after each).
    every : float, default 30.0
        Seconds without a line after which the heartbeat prints one.
    step : float, default 0.1
        Fraction of the work between two lines.
    clock : callable, default time.monotonic
        Seconds; a test passes its own.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with ProgressLines("replicates", out, clock=lambda: 0.0) as progress:
    ...     for b in range(1, 5):
    ...         progress(f"{b} of 4", b / 4)
    >>> print(out.getvalue(), end="")
      replicates: 25 % (0 s) 1 of 4
      replicates: 50 % (0 s) 2 of 4
      replicates: 75 % (0 s) 3 of 4
      replicates: 100 % (0 s) 4 of 4
    """

    def __init__(
        self,
        name: str,
        stream: IO[str] | None = None,
        *,
        every: float = 30.0,
        step: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.stream, self.every, self.step, self.clock = name, stream or sys.stderr, every, step, clock
        self._start = self._last = clock()
        self._next = step
        self._fraction: float | None = None
        self._note = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, note: str, fraction: float) -> None:
        """Record progress; print a line when `fraction` reaches the next step (1.0 always prints; NaN never)."""
        with self._lock:
            self._note = note
            if fraction != fraction:  # NaN: the total is unknown (streamed batches); the heartbeat reports the note
                return
            self._fraction = fraction
            if fraction + 1e-12 >= self._next or fraction >= 1.0:
                while self._next <= fraction + 1e-12:
                    self._next += self.step
                self._print()

    def _print(self) -> None:
        now = self.clock()
        self._last = now
        done = "running" if self._fraction is None else f"{self._fraction:.0%}".replace("%", " %")
        note = f" {self._note}" if self._note else ""
        name = f"{self.name}: " if self.name else "... "
        self.stream.write(f"  {name}{done} ({format_elapsed(now - self._start)}){note}\n")
        self.stream.flush()

    def _beat(self) -> None:
        while not self._stop.wait(min(self.every, 1.0)):
            with self._lock:
                if self.clock() - self._last >= self.every:
                    self._print()

    def __enter__(self) -> ProgressLines:
        self._start = self._last = self.clock()
        self._thread = threading.Thread(target=self._beat, name=f"progress:{self.name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
