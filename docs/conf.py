"""Sphinx configuration of the documentation site (`make docs`; built in tests/test_docs.py with -W).

Sphinx rather than MkDocs: the docstrings are numpydoc (numpydoc renders and checks them), the
command line is click (sphinx-click documents it from the commands themselves), and -W turns
every broken reference into a failed build. The prose is the README's, included by section
(myst-parser), so the site and the README cannot drift apart.
"""

from __future__ import annotations

import ketabridge

project = "ketabridge"
author = "ketabridge developers"
copyright = "ketabridge developers; GPL-3.0-or-later"
release = version = ketabridge.__dict__.get("__version__", "") or __import__("importlib.metadata").metadata.version(
    "ketabridge"
)

extensions = ["sphinx.ext.autodoc", "numpydoc", "sphinx_click", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# The README's sections sit under a page title one level up (H1, then the README's ### subsections).
suppress_warnings = ["myst.header"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters section says the types, in words
numpydoc_show_class_members = False  # methods are listed by autodoc's :members:, once
numpydoc_class_members_toctree = False

html_theme = "alabaster"
html_title = f"ketabridge {release}"
html_theme_options = {"description": "metafor-validated meta-analysis for Python", "page_width": "1100px"}
nitpicky = True  # a reference to a name that does not exist is a warning, so -W fails the build
