"""Sphinx configuration for the trac_optax documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The notebooks
are rendered from their committed outputs, never executed here.
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _benchmarks  # noqa: E402  (docs/_benchmarks.py, beside this file)
import trac_optax  # noqa: E402

project = "trac_optax"
author = "trac_optax contributors"
copyright = "2026, trac_optax contributors"
release = trac_optax.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ math in Markdown pages and notebooks.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Notebooks are shown with the outputs of the run committed with them.
nb_execution_mode = "off"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Numerics", "notes_style")]

html_theme = "furo"
html_title = f"trac_optax {release}"


def setup(app):
  """Writes the benchmark page from whatever result tables exist."""
  app.connect("builder-inited", lambda app: _benchmarks.write_page(ROOT))
