"""Sphinx configuration of the bayesseg documentation."""

from importlib.metadata import version as _version

project = "bayesseg"
author = "bayesseg developers"
release = _version("bayesseg")
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "bayesseg"

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
myst_enable_extensions = ["dollarmath", "colon_fence"]

intersphinx_mapping = {}  # no network in CI: cross-project links are spelled out instead
nitpicky = False
