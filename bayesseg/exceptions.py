"""Every error and warning bayesseg raises on purpose, in one place (as ``statsmodels.tools.sm_exceptions``).

Each error derives from :class:`BayessegError`, so a caller (the command line among them) can catch
everything bayesseg reports about its input, its configuration or its warehouse with one clause.
Each also derives from the built-in class its meaning fits (``ValueError`` for a bad value,
``RuntimeError`` for a warehouse that fails), so ``except ValueError`` keeps working.
Messages name the file, table, column, row or value at fault, and never a secret.
"""

from __future__ import annotations

__all__ = [
    "BayessegError",
    "BayessegWarning",
    "ClusterError",
    "ConvergenceError",
    "InputError",
    "ModelFileError",
    "SchemaError",
    "SourceError",
    "SpecError",
    "TaxonomyError",
    "WeightsError",
]


class BayessegError(Exception):
    """Base of every error bayesseg raises about its input, configuration, files or warehouse."""


class InputError(BayessegError, ValueError):
    """Data given to bayesseg cannot be used: the message names the author, category, column or value."""


class SpecError(BayessegError, ValueError):
    """A run specification is invalid; the message names the file and the key at fault."""


class TaxonomyError(BayessegError, ValueError):
    """A taxonomy file is invalid, or a rule or label it should hold is missing."""


class SourceError(BayessegError, RuntimeError):
    """The warehouse cannot be reached or read; the message says which and why, without secrets."""


class SchemaError(BayessegError, ValueError):
    """The warehouse's tables do not follow the data contract.

    Parameters
    ----------
    problems : list of str
        One sentence per problem, each naming the table and column.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("the warehouse does not match the data contract:\n  - " + "\n  - ".join(problems))


class ModelFileError(BayessegError, ValueError):
    """A saved model cannot be used: other config, incompatible version, or a damaged file."""


class ConvergenceError(BayessegError, RuntimeError):
    """A fit fails the convergence rule (R-hat, effective sample sizes, divergences) and the caller asked to stop."""


class ClusterError(BayessegError, ConnectionError):
    """The Dask scheduler cannot be reached; the message names its address."""


class WeightsError(BayessegError, ValueError):
    """Weights cannot be computed: an empty panel, a cell without panel authors, a degenerate covariate."""


class BayessegWarning(UserWarning):
    """Something the user must know about a result that is still returned (e.g. a panel too small to weight)."""
