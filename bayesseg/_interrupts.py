"""Ctrl-C that cannot be lost: remembered when the exception it raises is swallowed.

Python turns SIGINT into :class:`KeyboardInterrupt` wherever the main thread is. When that is a
ctypes callback (numba compiling through llvmlite while PyMC builds a sampler), the exception is
printed as "Exception ignored" and dropped, and the fit would go on to write its results as if
nothing had happened. :func:`catching_interrupts` installs a handler that records the signal as well
as raising it, and keeps the swallowed exception's traceback off the terminal;
:func:`raise_if_interrupted`, called where results are about to be used or written,
raises it again. A Ctrl-C that lands inside a constructor leaves an object whose finaliser fails
when it is freed; :func:`release_interrupted` frees such objects with those errors kept off the
terminal, and :func:`quiet_finalisers` keeps them off for the rest of a process that is exiting.
:func:`stopping_other_threads` makes :func:`raise_if_interrupted` raise on every thread while a thread
that started work on others ends with an error, so that the work stops instead of running on unseen.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = [
    "catching_interrupts",
    "quiet_finalisers",
    "raise_if_interrupted",
    "record_interrupts",
    "release_interrupted",
    "stopping_other_threads",
]

_received = threading.Event()
_stopping = threading.Event()


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

    A Ctrl-C swallowed before :func:`catching_interrupts` starts (while the command line loads, in an
    import's weak-reference callback, say) is raised by it on entry; the swallowed exception's
    traceback is kept off the terminal from now on, as inside :func:`catching_interrupts`.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        sys.unraisablehook = _quiet_swallowed(sys.unraisablehook)


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
        If :func:`catching_interrupts` recorded a SIGINT, or while :func:`stopping_other_threads`
        asks every thread to stop.
    """
    if _received.is_set():
        raise KeyboardInterrupt("interrupted earlier (the interrupt was swallowed by a callback)")
    if _stopping.is_set():
        raise KeyboardInterrupt("stopped: the thread that started this work ended with an error or an interrupt")


@contextmanager
def stopping_other_threads() -> Iterator[None]:
    """Make :func:`raise_if_interrupted` raise in every thread while the block runs.

    For a thread that started work on other threads and is ending with an error (or a Ctrl-C,
    which Python raises in the main thread only): inside the block it waits for that work, which
    stops at its next :func:`raise_if_interrupted` (a sampler within a fifth of a second, a
    compilation when it ends) instead of running on unseen.

    Yields
    ------
    None

    Examples
    --------
    >>> with stopping_other_threads():
    ...     try:
    ...         raise_if_interrupted()
    ...     except KeyboardInterrupt as stop:
    ...         print(stop)
    stopped: the thread that started this work ended with an error or an interrupt
    """
    _stopping.set()
    try:
        yield
    finally:
        _stopping.clear()


def _drop(unraisable: Any) -> None:
    """An unraisable hook that prints nothing."""


def release_interrupted(exc: BaseException) -> None:
    """Free what an interrupt left half-built, with the errors of its finalisers kept off the terminal.

    A Ctrl-C that lands inside a constructor (llvmlite's, while numba compiles a sampler) leaves an
    object whose ``__del__`` fails when it is freed, and Python prints "Exception ignored in ...
    AttributeError" with a traceback after the command has said "interrupted". Such objects live in
    the frames of the interrupt's traceback: this clears those frames (and those of the exceptions
    it was raised from or during), collects them with such errors dropped, and restores the hook.

    Parameters
    ----------
    exc : BaseException
        The :class:`KeyboardInterrupt` being handled.

    Examples
    --------
    >>> try:
    ...     raise KeyboardInterrupt
    ... except KeyboardInterrupt as exc:
    ...     release_interrupted(exc)
    """
    hook = sys.unraisablehook
    sys.unraisablehook = _drop
    try:
        seen: set[int] = set()
        pending: list[BaseException | None] = [exc]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            traceback.clear_frames(current.__traceback__)  # frames still running (the handler's own) are skipped
            pending += [current.__context__, current.__cause__]
        gc.collect()
    finally:
        sys.unraisablehook = hook


def quiet_finalisers() -> None:
    """Print no finaliser errors from now on: for a process that was interrupted and is exiting.

    What :func:`release_interrupted` could not reach (an object the interrupt left half-built and a
    library keeps in a cache) is freed at exit, and its finaliser's error would follow the word
    "interrupted". The console script calls this only after an interrupt, just before it exits.
    """
    sys.unraisablehook = _drop
