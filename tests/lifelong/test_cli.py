"""The command line: argument errors (exit 2, before compiling) and a smoke run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trac_optax.lifelong import _cli
from trac_optax.lifelong import _run
from trac_optax.lifelong import read_results
from trac_optax.lifelong import write_results


@pytest.fixture
def no_training(monkeypatch):
  """Fails the test if the command line gets as far as training."""
  def forbidden(*args, **kwargs):
    raise AssertionError("training started despite bad arguments")
  monkeypatch.setattr(_run, "run_lifelong", forbidden)


@pytest.mark.parametrize("args,message", [
    (["--env", "Pong-v0"], "invalid choice: 'Pong-v0'"),
    (["--optimizers", "adam,sgdx"], "unknown optimizer 'sgdx'"),
    (["--optimizers", ","], "at least one optimizer"),
    (["--optimizers", "adam,adam"], "listed twice"),
    (["--seeds", "0"], "must be a positive integer, got 0"),
    (["--tasks", "-3"], "must be a positive integer, got -3"),
    (["--iterations-per-task", "0"], "must be a positive integer, got 0"),
    (["--seeds", "two"], "'two' is not an integer"),
    (["--learning-rate", "0"], "must be positive and finite, got 0.0"),
    (["--learning-rate", "inf"], "must be positive and finite, got inf"),
    (["--seed", "-1"], "seed must be an integer in [0, 2**32), got -1"),
    (["--num-steps", "4", "--num-envs", "2"], "minibatch_size (32) exceeds"),
])
def test_bad_arguments_exit_2_with_a_message(args, message, tmp_path, capsys,
                                             no_training):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main([*args, "--out", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert message in err
  assert "usage: trac-optax-lifelong" in err


def test_unwritable_output_folder(tmp_path, capsys, no_training):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["--out", str(blocker / "results")])
  assert exit_info.value.code == 2
  assert "is not a writable folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("smoke") / "results"
  code = _cli.main(["--optimizers", "adam,trac", "--seeds", "2", "--tasks",
                    "2", "--iterations-per-task", "2", "--num-steps", "32",
                    "--quiet", "--out", str(out)])
  return code, out


def test_smoke_run_writes_well_formed_results(smoke_run):
  code, out = smoke_run
  assert code == 0
  assert sorted(p.name for p in out.iterdir()) == [
      "config.json", "iterations.csv", "returns.png", "scale.png",
      "summary.json", "summary.md"]

  meta = json.loads((out / "config.json").read_text())
  assert meta["config"]["num_tasks"] == 2
  assert meta["command"].startswith("trac-optax-lifelong --optimizers adam,trac")
  assert set(meta["timings"]) == {"adam", "trac"}

  with open(out / "iterations.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 2 * 4  # optimizers x seeds x iterations
  assert [r["task"] for r in rows[:4]] == ["1", "1", "2", "2"]
  assert [int(r["env_steps"]) for r in rows[:4]] == [64, 128, 192, 256]
  for r in rows:
    ret = float(r["return"])
    assert np.isnan(ret) or 8.0 <= ret <= 400.0  # CartPole, cap 400
  adam_scales = [float(r["scale"]) for r in rows if r["optimizer"] == "adam"]
  trac_scales = [float(r["scale"]) for r in rows if r["optimizer"] == "trac"]
  assert all(np.isnan(adam_scales))
  assert all(np.isfinite(trac_scales)) and min(trac_scales) >= 0.0

  rows = json.loads((out / "summary.json").read_text())
  assert [r["task"] for r in rows] == ["1", "2", "all", "2-2"]
  for r in rows:
    for name in ("adam", "trac"):
      assert r[name]["low"] <= r[name]["mean"] <= r[name]["high"]
  table = (out / "summary.md").read_text()
  assert "| task | adam | trac |" in table

  for png in ("returns.png", "scale.png"):
    data = (out / png).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_results_read_back_and_rewrite(smoke_run, tmp_path):
  _, out = smoke_run
  runs = read_results(out)
  assert [r.name for r in runs] == ["adam", "trac"]
  assert runs[0].returns.shape == (2, 4)
  with open(out / "iterations.csv") as f:
    rows = [r for r in csv.DictReader(f) if r["optimizer"] == "trac"]
  np.testing.assert_allclose(runs[1].scale.ravel(),
                             [float(r["scale"]) for r in rows], rtol=1e-5)
  # Written again (as when merging folders), the same summary comes out.
  write_results(tmp_path, runs, plots=False)
  assert ((tmp_path / "summary.md").read_text()
          == (out / "summary.md").read_text())
