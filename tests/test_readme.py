"""The README's quickstart runs, and its first commands match the project."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _python_block_after(heading: str) -> str:
  section = README.split(heading, 1)[1]
  match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
  assert match, f"no python block after {heading!r}"
  return match.group(1)


def test_quickstart_runs_and_shows_scale_change():
  code = _python_block_after("## Quickstart")
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, "README.md:quickstart", "exec"), {})
  scales = [float(s) for s in re.findall(r"S (\S+)", out.getvalue())]
  losses = [float(s) for s in re.findall(r"loss (\S+)", out.getvalue())]
  assert len(scales) >= 4
  assert scales[0] == 0.0 and max(scales) > 0.01
  # Learns the first task, and the second one after the shift.
  assert losses[2] < 0.1 * losses[0]
  assert losses[-1] < 0.1 * max(losses[3:])


def test_first_commands_match_the_project():
  """The README's two first commands use the real entry point and CI's steps."""
  head = README.split("\n## ", 1)[0]
  pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
  scripts = pyproject["project"].get("scripts", {})
  assert "trac-optax-lifelong" in scripts
  assert "trac-optax-lifelong" in head
  ci = (ROOT / ".ci" / "run").read_text()
  install = re.search(r'pip install -e "\.\[(\w+)\]"', ci).group(0)
  assert install in head, install
  assert "pytest -q" in ci and "pytest -q" in head
  # The demo installs what it needs and no more: the [rl] extra, the one that
  # .ci/check_dist.py proves enough from a fresh environment.
  demo = next(line for line in head.splitlines()
              if line.rstrip().endswith("&& trac-optax-lifelong"))
  assert 'pip install -e ".[rl]"' in demo, demo
  assert "[rl]" in (ROOT / ".ci" / "check_dist.py").read_text()
