"""Sphinx configuration for the trac_optax documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The notebooks
are copied from ``notebooks/`` into ``docs/_generated/`` and rendered from their
committed outputs, never executed here.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _results_page  # noqa: E402  (docs/_results_page.py, beside this file)

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
    # Copies MathJax, from its PyPI package, into _static/ and points the pages
    # at that copy: formulas render without a network.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ math in Markdown pages and notebooks.
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# Notebooks are shown with the outputs of the run committed with them.
nb_execution_mode = "off"
# Markdown outputs (the summary tables) are MyST, so their tables render.
nb_render_markdown_format = "myst"
# The results page includes Markdown that scripts write; a skipped heading level
# in one of those files is cosmetic and must not fail the build.
suppress_warnings = ["myst.header"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Numerics", "notes_style")]

html_theme = "furo"
html_title = f"trac_optax {release}"


def _copy_notebooks() -> None:
  """Copies the notebooks under the source folder, keeping unchanged copies.

  A copy rather than a link: links between the notebooks resolve inside the
  source folder, and Sphinx only rereads a notebook that changed.
  """
  target = ROOT / "docs" / "_generated" / "notebooks"
  target.mkdir(parents=True, exist_ok=True)
  for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
    copy = target / source.name
    if not copy.exists() or copy.read_bytes() != source.read_bytes():
      shutil.copyfile(source, copy)


def setup(app):
  """Generates the pages made from other files of the repository."""
  app.connect("builder-inited", lambda app: _copy_notebooks())
  app.connect("builder-inited", lambda app: _results_page.write_page(ROOT))
