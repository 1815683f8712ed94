"""Saving and loading fitted models (a mixin, as pymc-marketing's ``ModelIO``): netCDF with the config and its hash.

A saved model is its DataTree (``SegmentModel.idata_``) with attributes that say what wrote it
(bayesseg version, file format), what model it is (the config and its SHA-256) and what its contents
are (the SHA-256 of the posterior, the constant data and the observed data:
:func:`~bayesseg.model.persistence.content_hash`).
What the fit learnt outside the posterior (the covariates' standardisation) is in ``constant_data``.
:meth:`ModelIO.save` writes a temporary file and renames it into place, so an interrupted save never
leaves a half-written model under the final name; :meth:`ModelIO.load` rebuilds the model from the
file's config and refuses a file that cannot be read, whose config does not match its hash, or whose
contents do not match theirs (a damaged or altered posterior would score silently wrong).
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Self

import numpy as np
import xarray as xr

from bayesseg._version import __version__
from bayesseg.exceptions import ModelFileError

__all__ = ["FILE_FORMAT", "HASHED_GROUPS", "ModelIO", "content_hash"]

FILE_FORMAT = 3
"""Version of the file layout (3: a hash of the contents, the standardisation in ``constant_data``; 2: anchors
stored in order; format 1 sorted them by name)."""

HASHED_GROUPS = ("posterior", "constant_data", "observed_data")
"""The groups of a saved model whose contents :func:`~bayesseg.model.persistence.content_hash` covers."""


def content_hash(tree: xr.DataTree) -> str:
    """SHA-256 of a model's contents: every variable of :data:`HASHED_GROUPS` (name, dtype, shape, values) and coords.

    Parameters
    ----------
    tree : xarray.DataTree
        A fitted model's tree.

    Returns
    -------
    str
        Hex digest; the same for a tree and its netCDF round trip.
    """
    h = hashlib.sha256()
    for group in HASHED_GROUPS:
        if group not in tree.children:
            continue
        ds = tree[group].to_dataset()
        for name in sorted(map(str, ds.variables)):
            values = np.asarray(ds[name].values)
            kind = values.dtype.kind
            if kind in "OUS":  # labels: compare as text, whatever numpy or netCDF stores them as
                payload = "\x1f".join(map(str, values.ravel().tolist())).encode()
                kind = "U"
            else:
                payload = np.ascontiguousarray(values).tobytes()
            h.update(f"{group}/{name}|{kind}|{values.shape}|".encode())
            h.update(payload)
    return h.hexdigest()


class ModelIO(ABC):
    """Persistence of a fitted model: :meth:`save`, :meth:`load`, and the attributes a file carries.

    A subclass provides its identity (:meth:`config_dict`, :attr:`config_hash`, :attr:`segment_names`),
    its fitted tree (:meth:`check_fitted`) and a way to restore its fitted state from a tree
    (:meth:`restore_fitted`), and takes ``(n_segments, model_config, sampler_config)`` in its constructor.
    """

    n_segments: int
    model_config: dict[str, Any]
    sampler_config: dict[str, Any]

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """Everything that defines the model (saved in the file, hashed)."""

    @property
    @abstractmethod
    def config_hash(self) -> str:
        """SHA-256 of :meth:`config_dict`."""

    @property
    @abstractmethod
    def segment_names(self) -> list[str]:
        """The segments' names, in order."""

    @abstractmethod
    def check_fitted(self) -> xr.DataTree:
        """The fitted tree; raises ``RuntimeError`` when the model is not fitted."""

    @abstractmethod
    def restore_fitted(self, tree: xr.DataTree, attrs: dict[str, Any]) -> None:
        """Set the fitted state from a saved tree and its attributes."""

    def file_attrs(self) -> dict[str, Any]:
        """The attributes written into a saved model's DataTree.

        Returns
        -------
        dict
            ``bayesseg_version``, ``file_format``, ``config`` (JSON) and ``config_hash``,
            ``sampler_config`` (JSON), ``content_hash`` (:func:`~bayesseg.model.persistence.content_hash`
            of the fitted tree),
            ``relabelled_draws``, ``em_log_likelihoods`` (JSON), ``draw_checks`` (JSON) and ``sampling_time_s``.
        """
        return {
            "bayesseg_version": __version__,
            "file_format": FILE_FORMAT,
            "config": json.dumps(self.config_dict(), sort_keys=True),
            "config_hash": self.config_hash,
            "sampler_config": json.dumps(self.sampler_config, sort_keys=True),
            "content_hash": content_hash(self.check_fitted()),
            "relabelled_draws": getattr(self, "relabelled_draws_", 0),
            "em_log_likelihoods": json.dumps([float(v) for v in getattr(self, "em_log_likelihoods_", [])]),
            "draw_checks": json.dumps(getattr(self, "draw_checks_", [])),
            "sampling_time_s": float(getattr(self, "sampling_time_", float("nan"))),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model (posterior, data, config, version, config hash) to netCDF.

        Parameters
        ----------
        path : str or os.PathLike
            Target file (``.nc``).

        Returns
        -------
        pathlib.Path

        Raises
        ------
        RuntimeError
            If the model is not fitted.
        """
        tree = self.check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tree.attrs.update(self.file_attrs())
        partial = path.parent / f".{path.name}.partial-{os.getpid()}"
        try:
            tree.to_netcdf(partial)
            os.replace(partial, path)  # atomic: the old file or the new one, never half of one
        finally:
            partial.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], expect: Any = None) -> Self:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`, or a folder holding one as ``model.nc`` (the output
            folder of ``bayesseg run`` or ``bayesseg fit``).
        expect : model, optional
            If given, the file must hold a fit of this specification (same config hash).

        Returns
        -------
        model
            Fitted, ready to score.

        Raises
        ------
        bayesseg.exceptions.ModelFileError
            If the file cannot be read, is not a bayesseg model, was written by an incompatible
            version (other major.minor or file format), its config or its contents do not match
            their hashes, or it does not match `expect`.
        FileNotFoundError
            If there is no such file.
        """
        if Path(path).is_dir():
            path = Path(path) / "model.nc"
        if not Path(path).is_file():
            raise FileNotFoundError(f"saved model {path} not found")
        try:
            tree = xr.open_datatree(path).load()
        except (OSError, ValueError, KeyError) as exc:  # h5py, netCDF and xarray's errors of a damaged file
            raise ModelFileError(f"{path} cannot be read as a saved model ({type(exc).__name__}: {exc})") from None
        attrs = tree.attrs
        if "config_hash" not in attrs or "config" not in attrs:
            raise ModelFileError(f"{path} is not a saved bayesseg model")
        version = str(attrs.get("bayesseg_version", "?"))
        if version.split(".")[:2] != __version__.split(".")[:2] or attrs.get("file_format") != FILE_FORMAT:
            raise ModelFileError(
                f"{path} was written by bayesseg {version} (file format {attrs.get('file_format')}); "
                f"this is bayesseg {__version__}: refit the model"
            )
        config = json.loads(attrs["config"])
        model_config = dict(config["model_config"])
        model_config["anchors"] = dict(model_config["anchors"])  # [name, categories] pairs, in order
        model = cls(config["n_segments"], model_config, json.loads(attrs.get("sampler_config", "{}")))  # type: ignore[call-arg]
        if model.config_hash != attrs["config_hash"]:
            raise ModelFileError(f"{path}: its config does not match its config hash (file altered?)")
        if expect is not None and expect.config_hash != model.config_hash:
            raise ModelFileError(
                f"{path} holds a model of another specification (config hash {model.config_hash[:12]}, "
                f"expected {expect.config_hash[:12]})"
            )
        if attrs.get("content_hash") != content_hash(tree):
            raise ModelFileError(f"{path}: its contents do not match their hash (the file is damaged or was altered)")
        stored = [str(v) for v in tree["posterior"].to_dataset()["segment"].values]
        if stored != model.segment_names:
            raise ModelFileError(
                f"{path}: its posterior's segments {stored} differ from its config's {model.segment_names}"
            )
        model.restore_fitted(tree, {str(k): v for k, v in attrs.items()})
        return model
