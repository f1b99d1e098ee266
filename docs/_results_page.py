"""Writes the documentation's results page from the tables committed in the repo.

The benchmark scripts write Markdown tables under ``benchmarks/results/`` and the
lifelong-RL runs write theirs under ``results/``. This page includes whichever of
them exist when the documentation is built, so the site never restates a number by
hand.
"""

from __future__ import annotations

import pathlib

PAGE = "_generated/results.md"

_HEADER = """\
# Benchmarks and results

Every table on this page is a file committed in the repository and written by a
command in the repository (the scripts in `benchmarks/` and `trac-optax-lifelong`); the
page includes the files as they are when the documentation is built, so no number is
copied here by hand.

"""

_NONE_YET = """\
No result tables are committed yet under `{folder}/`. {what}
"""

_SECTIONS = (
    ("benchmarks/results", "Optimizer benchmarks",
     "The scripts in `benchmarks/` (step time against plain Optax optimizers, erfi "
     "accuracy) write their Markdown tables there."),
    ("results", "Lifelong reinforcement learning",
     "`trac-optax-lifelong` writes its summary tables and plots there; the commands "
     "that produced each committed run are listed beside it."),
)


def _heading_levels(path: pathlib.Path) -> list[int]:
  """Levels of the Markdown headings of ``path``, in order, outside code fences."""
  levels, fenced = [], False
  for line in path.read_text(encoding="utf-8").splitlines():
    stripped = line.lstrip()
    if stripped.startswith(("```", "~~~")):
      fenced = not fenced
    elif not fenced and stripped.startswith("#"):
      hashes = len(stripped) - len(stripped.lstrip("#"))
      if stripped[hashes:hashes + 1] in (" ", ""):
        levels.append(hashes)
  return levels


def _starts_with_heading(path: pathlib.Path) -> bool:
  for line in path.read_text(encoding="utf-8").splitlines():
    if line.strip():
      return line.lstrip().startswith("#")
  return False


def _include(root: pathlib.Path, path: pathlib.Path) -> str:
  """An include of ``path``, relative to the page in ``docs/_generated/``.

  The file's headings are shifted so that its top level sits just below the
  page's section (level 3), or below the label added for a file that does
  not open with a heading (level 4): Sphinx warns about skipped levels.
  """
  label = path.relative_to(root).as_posix()
  heading = _starts_with_heading(path)
  levels = _heading_levels(path)
  top = 3 if heading else 4
  offset = max(0, top - min(levels)) if levels else 0
  parts = [] if heading else [f"### `{label}`\n"]
  parts.append(f"```{{include}} ../../{label}\n:heading-offset: {offset}\n"
               ":relative-images:\n```\n")
  if heading:
    parts.append(f"*(from `{label}`)*\n")
  return "\n".join(parts)


def render(root: pathlib.Path) -> str:
  """The page's Markdown for the repository at ``root``."""
  out = [_HEADER]
  for folder, title, what in _SECTIONS:
    out.append(f"## {title}\n")
    files = sorted((root / folder).rglob("*.md")) if (root / folder).is_dir() else []
    if not files:
      out.append(_NONE_YET.format(folder=folder, what=what))
    for path in files:
      out.append(_include(root, path))
  return "\n".join(out)


def write_page(root: pathlib.Path) -> None:
  """Writes ``docs/_generated/results.md``, rewriting it only when it changes."""
  page = root / "docs" / PAGE
  text = render(root)
  if page.exists() and page.read_text(encoding="utf-8") == text:
    return
  page.parent.mkdir(parents=True, exist_ok=True)
  page.write_text(text, encoding="utf-8")
