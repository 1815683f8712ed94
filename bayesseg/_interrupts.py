"""Ctrl-C that cannot be lost: remembered when the exception it raises is swallowed.

Python turns SIGINT into :class:`KeyboardInterrupt` wherever the main thread is. When that is a
ctypes callback (numba compiling through llvmlite while PyMC builds a sampler), the exception is
printed as "Exception ignored" and dropped, and the fit would go on to write its results as if
nothing had happened. :func:`catching_interrupts` installs a handler that records the signal as well
as raising it, and keeps the swallowed exception's traceback off the terminal;
:func:`raise_if_interrupted`, called where results are about to be used or written,
raises it again.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["catching_interrupts", "raise_if_interrupted", "record_interrupts"]

_received = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.set()
    raise KeyboardInterrupt


def _quiet_swallowed(previous: Callable[[Any], object]) -> Callable[[Any], object]:
    def hook(unraisable: Any) -> None:
        # the callback's "Exception ignored ... KeyboardInterrupt" traceback: recorded, so not printed
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous(unraisable)

    return hook


def record_interrupts() -> None:
    """Record (and raise) SIGINT from now on, in the main thread: the console script's first call.

    A Ctrl-C swallowed before :func:`catching_interrupts` starts (while the command line loads) is
    raised by it on entry.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


@contextmanager
def catching_interrupts() -> Iterator[None]:
    """Record SIGINT while the block runs (in the main thread; elsewhere a no-op).

    Yields
    ------
    None

    Examples
    --------
    >>> with catching_interrupts():
    ...     raise_if_interrupted()  # nothing received: returns
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _received.is_set():  # recorded while the command line loaded, and swallowed there
        _received.clear()
        raise KeyboardInterrupt("interrupted while loading")
    previous = signal.signal(signal.SIGINT, _handler)
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_swallowed(hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook
        _received.clear()


def raise_if_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if a SIGINT was received (and perhaps swallowed) in the block.

    Raises
    ------
    KeyboardInterrupt
        If :func:`catching_interrupts` recorded a SIGINT.
    """
    if _received.is_set():
        raise KeyboardInterrupt("interrupted earlier (the interrupt was swallowed by a callback)")
