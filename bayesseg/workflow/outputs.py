"""A run's output folder, written whole or not at all: files go to a staging copy that replaces it at the end.

A run interrupted at any point leaves the previous output folder as it was (and a staging folder that
the next run removes); a run that finishes replaces it by a rename, so a folder never mixes the files of
two runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bayesseg._interrupts import raise_if_interrupted

__all__ = ["StagedFolder", "write_json"]


def write_json(path: Path, doc: Any) -> Path:
    """Write JSON to a temporary name and rename it into place (readers see the old file or the new one).

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    doc : object
        JSON-serialisable (paths and times through ``str``).

    Returns
    -------
    pathlib.Path
    """
    partial = path.parent / f".{path.name}.partial-{os.getpid()}"
    partial.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    os.replace(partial, path)
    return path


class StagedFolder:
    """An output folder written through a staging copy.

    Parameters
    ----------
    out : pathlib.Path
        The output folder (replaced as a whole when the staging copy is published).

    Examples
    --------
    >>> with StagedFolder(Path("runs/latest")) as folder:  # doctest: +SKIP
    ...     folder.file("report.html").write_text(html)
    ...     folder.publish()
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.staging = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"
        self.published = False

    def file(self, name: str) -> Path:
        """Where to write `name` now (in the staging copy)."""
        return self.staging / name

    def final(self, name: str) -> Path:
        """Where `name` will be once published."""
        return self.out / name

    def stale(self) -> list[Path]:
        """Staging and old copies of this folder that interrupted runs left beside it."""
        parent = self.out.parent
        if not parent.is_dir():
            return []
        found = [*parent.glob(f".{self.out.name}.partial-*"), *parent.glob(f".{self.out.name}.old-*")]
        return sorted(p for p in found if p != self.staging)

    def publish(self) -> Path:
        """Replace the output folder by the staging copy (two renames; the old folder is removed after).

        Returns
        -------
        pathlib.Path
            The output folder.
        """
        raise_if_interrupted()  # a Ctrl-C that a callback swallowed: the folder stays as it was
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.staging, self.out)
        shutil.rmtree(old, ignore_errors=True)
        self.published = True
        return self.out

    def __enter__(self) -> Self:
        for leftover in self.stale():
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.published:  # an error, an interrupt, or a caller that chose not to publish
            shutil.rmtree(self.staging, ignore_errors=True)
