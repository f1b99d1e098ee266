"""Shared pieces of the benchmark scripts: the machine, the authors' port, output.

Not part of the package: the scripts in ``benchmarks/`` import it by path.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
from types import ModuleType
from typing import Any

import jax

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
  """The CPU's model name from /proc/cpuinfo, or what ``platform`` knows."""
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.lower().startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _commit() -> str:
  """The repository's commit, marked ``+changes`` if the code differs from it."""
  root = RESULTS.parents[1]
  def git(*args: str) -> str:
    try:
      return subprocess.run(["git", *args], cwd=root, capture_output=True,
                            text=True, timeout=30, check=False).stdout.strip()
    except OSError:
      return ""
  commit = git("rev-parse", "--short", "HEAD") or "unknown"
  changed = git("status", "--porcelain", "--", "trac_optax", "benchmarks/*.py")
  return commit + ("+changes" if changed else "")


def machine() -> dict[str, Any]:
  """What the numbers were measured on, for the results' header."""
  device = jax.devices()[0]
  return {
      "platform": device.platform,
      "device_kind": device.device_kind,
      "device_count": jax.device_count(),
      "cpu_model": _cpu_model(),
      "cpu_count": os.cpu_count(),
      "load_average_1min": os.getloadavg()[0],
      "niceness": os.nice(0),
      "jax": jax.__version__,
      "commit": _commit(),
      "python": platform.python_version(),
      "date_utc": datetime.datetime.now(datetime.UTC).strftime(
          "%Y-%m-%d %H:%M"),
  }


def machine_line(info: dict[str, Any]) -> str:
  """One Markdown sentence naming the machine."""
  if info["platform"] == "cpu":
    device = f"{info['cpu_count']}-core CPU ({info['cpu_model']})"
  else:
    device = f"{info['device_count']}x {info['device_kind']}"
  return (f"Measured on {device}, jax {info['jax']}, code at commit "
          f"{info['commit']}, {info['date_utc']} UTC; "
          f"1-minute load average {info['load_average_1min']:.1f} at the start "
          f"(the machine may be shared), niceness {info['niceness']}.")


def header(title: str, payload: dict[str, Any], description: str) -> list[str]:
  """The opening lines of a results file: title, machine, command."""
  return [f"### {title} ({payload['machine']['platform']})", "",
          machine_line(payload["machine"]), "",
          f"Command: `{payload['command']}`. {description}", ""]


def authors_jax_port() -> tuple[ModuleType | None, str]:
  """The authors' experimental JAX port of TRAC, if ``trac-optimizer`` is here.

  The module file is loaded by path: importing it through its package would
  import torch. Install it with ``pip install --no-deps trac-optimizer==0.0.2``.

  Returns:
    ``(module, "")``, or ``(None, why_not)``.
  """
  spec = importlib.util.find_spec("trac_optimizer")
  if spec is None or not spec.submodule_search_locations:
    return None, "trac-optimizer is not installed"
  folder = pathlib.Path(next(iter(spec.submodule_search_locations)))
  path = folder / "experimental" / "jax" / "trac.py"
  if not path.is_file():
    return None, f"{path} does not exist in this trac-optimizer version"
  module_spec = importlib.util.spec_from_file_location("authors_trac_jax_port",
                                                       path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except Exception as error:  # noqa: BLE001 - any failure means: skip it.
    return None, f"loading {path} failed: {error!r}"
  return module, ""


def positive_int(text: str) -> int:
  """An argparse type: a whole number of at least 1 (rounds, iterations)."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"{text!r} is not at least 1")
  return value


def quartiles(values: list[float]) -> tuple[float, float, float]:
  """``(p25, median, p75)`` of at least one value."""
  if len(values) < 2:
    return values[0], values[0], values[0]
  p25, p50, p75 = statistics.quantiles(values, n=4, method="inclusive")
  return p25, p50, p75


def command(script: str, argv: list[str] | None) -> str:
  """The command line of this run, as the results record it:
  ``python benchmarks/<script> <args>`` (``argv`` None: the process's own),
  quoted for a POSIX shell, so that an argument with spaces or ``;`` (as
  ``--cases "PPO;1e5 params, 10"``) pastes back as one argument."""
  args = argv if argv is not None else sys.argv[1:]
  return shlex.join(["python", f"benchmarks/{pathlib.Path(script).name}", *args])


def write(out: pathlib.Path, stem: str, payload: dict[str, Any],
          markdown: str) -> tuple[pathlib.Path, pathlib.Path]:
  """Writes ``<stem>.json`` and ``<stem>.md`` into ``out``; returns both paths."""
  out.mkdir(parents=True, exist_ok=True)
  json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
  json_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
  md_path.write_text(markdown, encoding="utf-8")
  return json_path, md_path


def publish(out: pathlib.Path, stem: str, payload: dict[str, Any],
            markdown: str) -> None:
  """Writes the tables (:func:`write`), prints the Markdown and where it went."""
  paths = write(out, stem, payload, markdown)
  print(markdown)
  print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
