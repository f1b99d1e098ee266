"""The documentation: its examples run, and its API page lists every public name.

The site itself is built with warnings as errors by `.ci/run`.
"""

import doctest
import pathlib
import re

import trac_optax

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_guide_examples_run():
  result = doctest.testfile(
      str(DOCS / "guide.md"), module_relative=False, verbose=False,
      optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  assert result.attempted > 0
  assert result.failed == 0, f"{result.failed} example(s) in docs/guide.md failed"


def test_api_page_documents_every_public_name():
  page = (DOCS / "api.md").read_text(encoding="utf-8")
  documented = set(re.findall(r"\.\. (?:auto\w+|py:\w+):: trac_optax\.(\w+)", page))
  missing = set(trac_optax.__all__) - documented
  assert not missing, f"add to docs/api.md: {sorted(missing)}"
