"""The installed version of bayesseg (kept apart so that any module can read it without importing the package's API)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayesseg")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
