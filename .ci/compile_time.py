"""A pytest plugin: how much of each test's time is JAX compilation.

    PYTHONPATH=.ci pytest -q -p compile_time             # report at the end
    PYTHONPATH=.ci pytest -q -p compile_time --compile-time-top 40

It listens to JAX's own compile events (``jax.monitoring``: tracing, lowering
to MLIR, and XLA's backend compile) and charges each to the test running at
the time (compilations while collecting count as "(outside any test)"), then
prints the total against the tests' own durations and the tests that compile
longest, with their compile counts and the names compiled more than once: one
program compiled again (a jit of a fresh ``jax.grad`` or ``lambda`` in a loop
misses the cache), or different programs of one name (Adam's and TRAC's
training task). Compilations inside a test's subprocesses are not seen. Under
``pytest-xdist`` each worker writes its figures to a temporary folder and the
controlling process reports them all.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any

import jax.monitoring
import pytest

_EVENT_PREFIX = "/jax/core/compile/"
_BACKEND = "backend_compile"
_ENV = "TRAC_OPTAX_COMPILE_TIME_DIR"


class _Recorder:
  """Compile seconds, backend compiles and compiled names, per test id."""

  def __init__(self) -> None:
    self.current = "(outside any test)"
    self.seconds: dict[str, float] = collections.defaultdict(float)
    self.compiles: dict[str, collections.Counter[str]] = (
        collections.defaultdict(collections.Counter))
    self.durations: dict[str, float] = collections.defaultdict(float)

  def on_event(self, event: str, duration: float, **kwargs: Any) -> None:
    if not event.startswith(_EVENT_PREFIX):
      return
    self.seconds[self.current] += duration
    if _BACKEND in event:
      self.compiles[self.current][str(kwargs.get("fun_name", "?"))] += 1

  def as_json(self) -> dict[str, Any]:
    return {"seconds": self.seconds, "compiles": self.compiles,
            "durations": self.durations}


_recorder = _Recorder()
_OWN_FOLDER = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
  parser.addoption("--compile-time-top", type=int, default=20,
                   help="how many tests the compile-time report lists")


def pytest_configure(config: pytest.Config) -> None:
  jax.monitoring.register_event_duration_secs_listener(_recorder.on_event)
  if not hasattr(config, "workerinput") and _ENV not in os.environ:
    # The controlling process (or the only one): workers inherit the folder,
    # which it removes after the report.
    os.environ[_ENV] = tempfile.mkdtemp(prefix="compile-time-")
    config.stash[_OWN_FOLDER] = True


def pytest_runtest_logstart(nodeid: str) -> None:
  _recorder.current = nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
  _recorder.durations[report.nodeid] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
  folder = pathlib.Path(os.environ[_ENV])
  (folder / f"{os.getpid()}.json").write_text(json.dumps(_recorder.as_json()))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
  if hasattr(config, "workerinput"):
    return
  seconds: dict[str, float] = collections.defaultdict(float)
  compiles: dict[str, collections.Counter[str]] = collections.defaultdict(
      collections.Counter)
  durations: dict[str, float] = collections.defaultdict(float)
  folder = pathlib.Path(os.environ[_ENV])
  for path in folder.glob("*.json"):
    part = json.loads(path.read_text())
    for test, s in part["seconds"].items():
      seconds[test] += s
    for test, names in part["compiles"].items():
      compiles[test].update(names)
    for test, d in part["durations"].items():
      durations[test] = max(durations[test], d)
  write = terminalreporter.write_line
  terminalreporter.section("compile time (JAX tracing, lowering and XLA)")
  write(f"{sum(seconds.values()):.0f} s compiling in {sum(durations.values()):.0f}"
        f" s of tests, {sum(map(sum, (c.values() for c in compiles.values())))}"
        " backend compiles")
  top = sorted(seconds, key=seconds.__getitem__, reverse=True)
  for test in top[:config.getoption("compile_time_top")]:
    names = compiles[test]
    again = ", ".join(f"{name} x{n}" for name, n in names.most_common(3) if n > 1)
    write(f"{seconds[test]:7.1f} s of {durations[test]:7.1f} s, "
          f"{sum(names.values()):4d} compiles  {test}"
          + (f"  (again: {again})" if again else ""))
  if config.stash.get(_OWN_FOLDER, False):
    shutil.rmtree(folder, ignore_errors=True)
