"""The documentation: its examples run, its API page lists every public name,
and its results page nests the result files it includes.

The site itself is built with warnings as errors by `.ci/run`.
"""

import doctest
import importlib
import pathlib
import re

import pytest

from tests.scripts import load_script

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_guide_examples_run():
  result = doctest.testfile(
      str(DOCS / "guide.md"), module_relative=False, verbose=False,
      optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  assert result.attempted > 0
  assert result.failed == 0, f"{result.failed} example(s) in docs/guide.md failed"


@pytest.mark.parametrize("page, module", [
    ("api.md", "trac_optax"),
    pytest.param("lifelong.md", "trac_optax.lifelong", marks=pytest.mark.rl),
])
def test_api_pages_document_every_public_name(page, module):
  names = importlib.import_module(module).__all__
  text = (DOCS / page).read_text(encoding="utf-8")
  pattern = rf"\.\. (?:auto\w+|py:\w+):: {re.escape(module)}\.(\w+)\n"
  missing = set(names) - set(re.findall(pattern, text))
  assert not missing, f"add to docs/{page}: {sorted(missing)}"


def test_results_page_fits_included_headings_under_its_sections(tmp_path):
  tables = tmp_path / "benchmarks" / "results"
  tables.mkdir(parents=True)
  (tables / "a.md").write_text("### A\n\n```\n# not a heading\n```\n#### A.1\n")
  (tables / "b.md").write_text("# B\n\n## B.1\n")
  (tables / "c.md").write_text("| x |\n|---|\n| 1 |\n\n## C.1\n")
  page = load_script("docs/_results_page.py").render(tmp_path)
  includes = re.findall(r"\{include\} \.\./\.\./(\S+)\n:heading-offset: (\d+)", page)
  # a: top level 3 stays 3; b: 1 -> 3; c: under an added level-3 label, 2 -> 4.
  assert includes == [("benchmarks/results/a.md", "0"),
                      ("benchmarks/results/b.md", "2"),
                      ("benchmarks/results/c.md", "2")]
  assert "### `benchmarks/results/c.md`" in page
  assert "No result tables are committed yet under `results/`" in page
