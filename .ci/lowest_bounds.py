"""Prints pip constraints that pin every dependency to its declared lower bound.

Reads ``pyproject.toml`` (the one source of the bounds): each ``name>=X`` of the
core dependencies and of the extras named on the command line becomes
``name==X``. ``--raise NAME=VERSION`` pins NAME higher, where another
dependency's own floor is above ours. Used by ``.ci/lowest-deps``.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
_LOWER = re.compile(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)$")


def lower_bounds(extras: list[str]) -> dict[str, str]:
  """Maps each requirement with a ``>=`` bound to that bound."""
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  requirements = list(project["dependencies"])
  for extra in extras:
    requirements += project["optional-dependencies"][extra]
  pins = {}
  for requirement in requirements:
    match = _LOWER.match(requirement.strip())
    if match:
      pins[match.group(1).lower()] = match.group(2)
  return pins


def main(argv: list[str]) -> None:
  extras, raised = [], {}
  args = iter(argv)
  for arg in args:
    if arg == "--raise":
      name, version = next(args).split("=")
      raised[name.lower()] = version
    else:
      extras.append(arg)
  pins = lower_bounds(extras) | raised
  for name, version in sorted(pins.items()):
    print(f"{name}=={version}")


if __name__ == "__main__":
  main(sys.argv[1:])
