"""The installed package, not the checkout: builds, inspects and runs the dists.

1. ``python -m build`` writes the wheel and the sdist.
2. Their contents: the package, ``py.typed``, the license and the readme; no
   results, runs, notebooks, tests, caches or virtual environments.
3. A fresh virtual environment gets ``<wheel>[rl]`` and nothing else, and, from
   a folder outside the checkout and without it on the path, runs the README's
   quickstart, ``trac-optax-lifelong --help`` and ``--version``, and a short
   lifelong run (the demo with a tiny budget).

Usage: ``python .ci/check_dist.py [WORKDIR]`` (default: a temporary folder).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Paths (relative to the dist's root) that must be there.
WHEEL_MUST = ("trac_optax/__init__.py", "trac_optax/py.typed",
              "trac_optax/lifelong/_cli.py")
SDIST_MUST = ("pyproject.toml", "README.md", "LICENSE", "trac_optax/py.typed",
              "trac_optax/__init__.py")
# Path parts that must not be anywhere in a dist: outputs, notebooks, caches.
FORBIDDEN = re.compile(
    r"(^|/)(results|runs|notebooks|_build|__pycache__|\.ipynb_checkpoints|"
    r"\.hypothesis|\.pytest_cache|\.ci-[^/]*|\.venv)(/|$)|\.ipynb$|\.pyc$")
# The wheel is the package alone (the sdist may carry the tests).
FORBIDDEN_IN_WHEEL = re.compile(r"^(tests|benchmarks|docs)/")


def _run(*args: str | os.PathLike[str], **kwargs: Any) -> str:
  print("+", " ".join(map(str, args)), flush=True)
  result = subprocess.run(args, check=True, capture_output=True, text=True,
                          **kwargs)
  return result.stdout


def _check_names(kind: str, names: list[str], must: tuple[str, ...]) -> None:
  missing = [path for path in must if path not in names]
  bad = [name for name in names if FORBIDDEN.search(name)
         or (kind == "wheel" and FORBIDDEN_IN_WHEEL.search(name))]
  if missing or bad:
    sys.exit(f"{kind}: missing {missing}, must not ship {bad}")
  print(f"{kind}: {len(names)} files, contents OK")


def check_wheel(wheel: pathlib.Path) -> None:
  with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    metadata = archive.read(metadata_name).decode()
  _check_names("wheel", names, WHEEL_MUST)
  if not any(re.search(r"\.dist-info/licenses/LICENSE$", n) for n in names):
    sys.exit("wheel: no LICENSE under .dist-info/licenses/")
  if "Description-Content-Type: text/markdown" not in metadata or (
      "## Quickstart" not in metadata):
    sys.exit("wheel: the README is not the package's long description")
  if not re.search(r"^Provides-Extra: rl$", metadata, re.MULTILINE):
    sys.exit("wheel: no [rl] extra")


def check_sdist(sdist: pathlib.Path) -> None:
  with tarfile.open(sdist) as archive:
    names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
  _check_names("sdist", names, SDIST_MUST)


def run_installed(wheel: pathlib.Path, work: pathlib.Path) -> None:
  venv = work / "venv"
  _run(sys.executable, "-m", "venv", venv)
  python = venv / "bin" / "python"
  _run(python, "-m", "pip", "install", "--quiet", f"{wheel}[rl]")
  outside = work / "outside"
  outside.mkdir()
  env = {key: value for key, value in os.environ.items()
         if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
  env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

  where = _run(python, "-c", "import trac_optax; print(trac_optax.__file__)",
               cwd=outside, env=env).strip()
  if not where.startswith(str(venv)):
    sys.exit(f"trac_optax was imported from {where}, not the fresh venv")

  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  section = readme.split("## Quickstart", 1)[1]
  code, expected = re.search(r"```python\n(.*?)```.*?```\n(.*?)```", section,
                             re.DOTALL).groups()
  (outside / "quickstart.py").write_text(code)
  printed = _run(python, "quickstart.py", cwd=outside, env=env)
  # The same lines as the README shows, up to float32 noise in the last digit.
  numbers = lambda text: [float(x) for x in re.findall(r"-?\d+\.\d+", text)]
  got, want = numbers(printed), numbers(expected)
  if len(got) != len(want) or any(abs(a - b) > 2e-4 + 1e-3 * abs(b)
                                  for a, b in zip(got, want, strict=True)):
    sys.exit(f"the quickstart printed\n{printed}\nthe README shows\n{expected}")
  print("README quickstart: prints what the README shows")

  cli = venv / "bin" / "trac-optax-lifelong"
  if "--optimizers" not in _run(cli, "--help", cwd=outside, env=env):
    sys.exit("trac-optax-lifelong --help does not list its options")
  version = _run(python, "-c", "import trac_optax; print(trac_optax.__version__)",
                 cwd=outside, env=env).strip()
  if _run(cli, "--version", cwd=outside, env=env).strip() != (
      f"trac-optax-lifelong {version}"):
    sys.exit("trac-optax-lifelong --version disagrees with trac_optax.__version__")
  _run(cli, "--seeds", "1", "--tasks", "2", "--iterations-per-task", "1",
       "--num-steps", "32", "--quiet", "--out", "demo", cwd=outside, env=env)
  made = sorted(p.name for p in (outside / "demo").iterdir())
  if "summary.md" not in made or "returns.png" not in made:
    sys.exit(f"the demo wrote {made}")
  print(f"trac-optax-lifelong {version}: --help, --version and a short run OK")


def main() -> None:
  work = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
  dist = work / "dist"
  _run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
  (wheel,) = dist.glob("*.whl")
  (sdist,) = dist.glob("*.tar.gz")
  check_wheel(wheel)
  check_sdist(sdist)
  run_installed(wheel, work)


if __name__ == "__main__":
  main()
