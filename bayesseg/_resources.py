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
