"""Packaging facts a user relies on: one version everywhere, a change log for it,
dependency floors that were tested, and the tool configuration CI runs with."""

from __future__ import annotations

import pathlib
import re
import runpy
import subprocess
import sys
import tomllib

import pytest

import trac_optax

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_has_one_source():
  project = PYPROJECT["project"]
  assert "version" not in project, "the version is trac_optax.__version__ alone"
  assert "version" in project["dynamic"]
  dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
  assert dynamic == {"attr": "trac_optax.__version__"}
  assert re.fullmatch(r"\d+\.\d+\.\d+", trac_optax.__version__)


@pytest.mark.rl
def test_cli_version_is_the_package_version(capsys):
  from trac_optax.lifelong import _cli

  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["--version"])
  assert exit_info.value.code == 0
  assert capsys.readouterr().out == (
      f"trac-optax-lifelong {trac_optax.__version__}\n")


def test_docs_release_is_the_package_version():
  pytest.importorskip("sphinx")
  conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
  assert conf["release"] == trac_optax.__version__


def test_changelog_has_unreleased_then_the_current_version():
  text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
  headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
  assert headings[0] == "Unreleased"
  assert headings[1] == trac_optax.__version__, (
      f"CHANGELOG.md has no section for {trac_optax.__version__} under "
      "Unreleased: move the Unreleased entries under the new version")


def _lowest_bounds():
  sys.path.insert(0, str(ROOT / ".ci"))
  try:
    import lowest_bounds
  finally:
    sys.path.pop(0)
  return lowest_bounds


def test_lower_bounds_are_the_ones_last_tested():
  """Changing a floor without rerunning `bash .ci/lowest-deps` fails here."""
  log = (ROOT / ".ci" / "lowest-deps.log").read_text(encoding="utf-8")
  stages = re.findall(r"^## stage (\w+):.*?\n# constraints:\n((?:#   .*\n)+)",
                      log, re.MULTILINE)
  tested = {name: dict(line.strip("# \n").split("==")
                       for line in block.splitlines())
            for name, block in stages}
  assert tested == {"all": _lowest_bounds().lower_bounds(["test", "rl"])}
  assert "# stage all: pytest exit status 0" in log, "the tests failed at the floors"


def test_every_python_the_classifiers_name_passed_the_suite():
  """Each ``Programming Language :: Python :: 3.X`` classifier is backed by a
  committed passing run on that Python: ``bash .ci/lowest-deps`` (3.11, the
  floors) or ``PYTHON=python3.X bash .ci/newer-python`` (the newest wheels:
  the whole suite, and the optimizer's tests alone on the newest jax)."""
  runs = [(ROOT / ".ci" / "lowest-deps.log", ["all"])]
  runs += [(log, ["all", "core"])
           for log in sorted((ROOT / ".ci").glob("newer-python-3.*.log"))]
  passed = set()
  for log_path, stages in runs:
    log = log_path.read_text(encoding="utf-8")
    if all(f"# stage {s}: pytest exit status 0" in log for s in stages):
      passed |= set(re.findall(r"^## stage \w+: .*, Python (3\.\d+)\.\d+$", log,
                               re.MULTILINE))
  declared = {c.rsplit(" :: ", 1)[1] for c in PYPROJECT["project"]["classifiers"]
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)}
  assert declared and declared <= passed, (declared, passed)


def test_lower_bounds_parser_pins_each_floor():
  pins = _lowest_bounds().lower_bounds([])
  declared = {re.split(r"[><=!~ \[]", r, maxsplit=1)[0].lower()
              for r in PYPROJECT["project"]["dependencies"]}
  assert set(pins) == declared, "every core dependency needs a >= floor"


def test_no_upper_bounds_on_dependencies():
  project = PYPROJECT["project"]
  requirements = list(project["dependencies"])
  for extra, reqs in project["optional-dependencies"].items():
    if extra != "check":  # the linters are pinned on purpose
      requirements += reqs
  capped = [r for r in requirements if re.search(r"<|==|~=", r)]
  assert not capped, f"upper bounds the project does not need: {capped}"


def test_ci_runs_every_check():
  ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
  for step in ("ruff check .", "pyright", "pytest -q", "jupyter execute",
               "sphinx-build -W", "check_docs_offline.py", "check_dist.py"):
    assert step in ci, step


@pytest.mark.skipif(sys.platform != "linux", reason="shell script")
def test_ci_scripts_parse():
  for script in ("run", "checks.sh", "lowest-deps", "newer-python",
                 "venv_suite.sh"):
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / script)], check=True)


@pytest.mark.skipif(sys.platform != "linux", reason="shell script")
def test_ci_checks_side_by_side_run_at_once_and_keep_every_failure(tmp_path):
  """`.ci/run`'s helpers: checks that fail inside a background process, and a
  background function that dies, still fail CI; each one's output comes whole."""
  script = f"""
set -euo pipefail
failures={tmp_path}/failures
: > "$failures"
. {ROOT}/.ci/checks.sh
meet() {{  # meet MINE THEIRS: leaves MINE, waits up to 20 s for THEIRS
  touch {tmp_path}/$1
  for _ in $(seq 200); do [ -e {tmp_path}/$2 ] && return 0; sleep 0.1; done
  return 1
}}
first() {{ check "first meets second" meet a b; echo first-out; check broken false; }}
second() {{ check "second meets first" meet b a; echo second-out; }}
dies() {{ echo dying-out; exit 3; }}
side_by_side first second dies
"""
  done = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                        timeout=60, check=True)
  failures = (tmp_path / "failures").read_text().splitlines()
  assert failures == ["broken", "dies (exit status 3)"], (failures, done.stderr)
  logs = done.stderr
  assert logs.index("first-out") < logs.index("second-out") < logs.index("dying-out")
  # The first function's log is printed whole, before the second's begins.
  assert logs.index("CI: FAILED: broken") < logs.index("second meets first")
