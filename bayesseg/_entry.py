"""The ``bayesseg`` console script: a Ctrl-C is recorded from the first instant.

The command line imports PyMC, PyTensor, xarray and the rest, which takes seconds on a loaded
machine. A Ctrl-C in that time would print an import's traceback, or be swallowed by a library that
catches every exception while it loads, and the command would then run to the end as if nothing had
happened. :func:`main` records SIGINT before importing anything heavy, says "interrupted" and exits
130 as the command line does, and hands a swallowed interrupt to
:func:`bayesseg._interrupts.catching_interrupts`, which raises it again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

from bayesseg._interrupts import quiet_finalisers, record_interrupts, release_interrupted

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (:func:`bayesseg.cli.main`) with SIGINT recorded from the start.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        The command line's exit status; 130 when interrupted while it loads.
    """
    record_interrupts()
    try:
        # deferred on purpose, the one place in the package: the handler must be in place first
        cli = import_module("bayesseg.cli")
    except KeyboardInterrupt as exc:
        release_interrupted(exc)
        print("interrupted", file=sys.stderr)
        quiet_finalisers()
        return 130
    status = int(cli.main(argv))
    if status == 130:  # interrupted: the process exits now, and what the interrupt cut is freed at exit unprinted
        quiet_finalisers()
    return status
