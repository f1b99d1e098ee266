"""The notebooks: their Colab badge and install cell follow pyproject, and their
committed outputs come from a complete top-to-bottom run.

Executing them is CI's job (`.ci/run`, with TRAC_OPTAX_FAST=1); these checks only read
the JSON.
"""

import json
import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ("quickstart.ipynb", "lifelong_rl.ipynb")


def _repository() -> str:
  with open(ROOT / "pyproject.toml", "rb") as f:
    return tomllib.load(f)["project"]["urls"]["Repository"]


def _cells(name: str) -> list[dict]:
  return json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
  return "".join(cell["source"])


def test_repository_is_on_github():
  """Colab opens notebooks from GitHub addresses only."""
  assert _repository().startswith("https://github.com/"), _repository()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_badge_opens_this_notebook_from_the_repository(name):
  owner_and_name = _repository().removeprefix("https://github.com/").rstrip("/")
  url = (f"https://colab.research.google.com/github/{owner_and_name}"
         f"/blob/main/notebooks/{name}")
  first = _cells(name)[0]
  assert first["cell_type"] == "markdown"
  assert f"]({url})" in _source(first), f"{name}: badge must link to {url}"
  assert "colab-badge.svg" in _source(first)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_installs_from_the_repository_only_when_needed(name):
  code = next(c for c in _cells(name) if c["cell_type"] == "code")
  source = _source(code)
  assert f"@ git+{_repository()}\"" in source
  assert 'importlib.util.find_spec("trac_optax") is None' in source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_outputs_come_from_one_complete_run(name):
  code = [c for c in _cells(name) if c["cell_type"] == "code"]
  counts = [c["execution_count"] for c in code]
  assert counts == list(range(1, len(code) + 1)), (
      f"{name}: cells were not all run once, in order ({counts}); re-execute it "
      "with `jupyter nbconvert --to notebook --execute --inplace`")
  outputs = [o for c in code for o in c["outputs"]]
  assert not [o for o in outputs if o["output_type"] == "error"]
  assert any("image/png" in o.get("data", {}) for o in outputs), (
      f"{name}: no plot in the committed outputs")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_fast_mode_switch_is_read(name):
  """CI executes the notebooks with TRAC_OPTAX_FAST=1 to shrink their budgets."""
  assert any('os.environ.get("TRAC_OPTAX_FAST") == "1"' in _source(c)
             for c in _cells(name) if c["cell_type"] == "code")
