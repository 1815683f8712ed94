"""Files shipped with the package (the repository's ``models/``, installed as ``bayesseg.specs``)."""

from __future__ import annotations

from pathlib import Path


def shipped_file(name: str, what: str) -> Path:
    """Return the path of a file of ``models/`` inside the installed package data.

    Parameters
    ----------
    name : str
        File name, e.g. ``"taxonomy.toml"``.
    what : str
        What the file is, for the error message.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        If the file is missing from the installation.
    """
    from importlib.resources import files

    path = Path(str(files("bayesseg.specs").joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"shipped {what} not found at {path}")
    return path


def display_path(path: str | Path | None) -> str | None:
    """A path as run.json and the report show it: never an absolute path of the machine.

    Parameters
    ----------
    path : str or pathlib.Path or None
        A file path.

    Returns
    -------
    str or None
        ``shipped:models/NAME`` for a file shipped with the package; the path relative to the
        working directory when it lies under it; otherwise the file name alone. ``None`` for ``None``.
    """
    if path is None:
        return None
    from importlib.resources import files

    resolved = Path(path).resolve()
    shipped = Path(str(files("bayesseg.specs"))).resolve()
    if resolved.is_relative_to(shipped):
        return f"shipped:models/{resolved.relative_to(shipped).as_posix()}"
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.name
