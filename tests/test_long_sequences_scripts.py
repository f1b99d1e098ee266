"""The long-sequence scripts run end to end at a toy size: one configuration
saved after every task, then its summary. Nothing here asserts a return."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.rl

SCRIPTS = (pathlib.Path(__file__).resolve().parents[1] / "results"
           / "long_sequences")


def _script(name: str, *args: str) -> str:
  done = subprocess.run([sys.executable, str(SCRIPTS / name), *args],
                        capture_output=True, text=True, timeout=600,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  return done.stdout


def test_run_long_saves_every_task_and_analyze_reads_it(tmp_path):
  out = _script("run_long.py", "--optimizer", "trac", "--layer-norm",
                "--logit-penalty", "0.01", "--seeds", "2", "--tasks", "2",
                "--iterations-per-task", "2", "--out", str(tmp_path))
  assert "task 1/2 saved" in out and "task 2/2 saved" in out
  [path] = tmp_path.glob("*.npz")
  assert path.name == "CartPole-v1__trac+ln+logit0.01.npz"
  data = np.load(path)
  meta = json.loads(str(data["meta"]))
  assert (meta["logit_penalty"], meta["layer_norm"], meta["tasks_done"],
          meta["protocol"]) == (0.01, True, 2, "fixed")
  assert data["return"].shape == data["entropy"].shape == (2, 4)

  summary = _script("analyze.py", str(path))
  [row] = [line for line in summary.splitlines()
           if line.startswith("| trac+ln+logit0.01 | 2/2 | 2 |")]
  # Two iterations per task do not learn CartPole: the cells are at the
  # floor, so the table of collapse kinds is there.
  assert int(row.split("|")[4].split()[0]) >= 1
  assert "| saturated | of them at the shift | pulled back |" in summary
