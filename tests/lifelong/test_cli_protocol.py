"""``--protocol paper`` on the command line: a smoke run and a bad value."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import _cli
from trac_optax.lifelong import _run
from trac_optax.lifelong import suite_config


def test_paper_protocol_smoke_run(tmp_path):
  out = tmp_path / "results"
  code = _cli.main(["--protocol", "paper", "--optimizers", "adam,trac",
                    "--seeds", "1", "--tasks", "2", "--iterations-per-task",
                    "2", "--num-steps", "32", "--quiet", "--no-plots",
                    "--out", str(out)])
  assert code == 0
  meta = json.loads((out / "config.json").read_text())
  assert meta["config"]["protocol"] == "paper"
  assert meta["config"]["max_steps_in_episode"] == 32  # the rollout's length
  with open(out / "iterations.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 2 * 4
  transitions = np.array([float(r["transitions"]) for r in rows])
  updates = np.array([float(r["updates"]) for r in rows])
  assert np.all((transitions >= 2) & (transitions <= 64))
  np.testing.assert_array_equal(updates, 5 * np.ceil(transitions / 32))
  # Two episodes per iteration, each at most 32 steps (CartPole: return is
  # the episode's length).
  assert all(r["episodes"] == "2" for r in rows)
  returns = np.array([float(r["return"]) for r in rows])
  np.testing.assert_allclose(2 * returns, transitions, rtol=1e-5)


def test_unknown_protocol_exits_2(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["--protocol", "episodes", "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert "invalid choice: 'episodes'" in capsys.readouterr().err


@pytest.mark.parametrize("env,protocol", [
    ("CartPole-v1", "paper"), ("Acrobot-v1", "paper"), ("gym:CartPole-v1", "paper"),
    ("MinAtar", "fixed"), ("Craftax-Classic", "fixed")])
def test_default_protocol_is_the_suites(env, protocol, monkeypatch, tmp_path):
  # The control suite collects like the authors' notebook unless told
  # otherwise; the PureJaxRL-style suites keep their fixed rollouts.
  assert suite_config(env).protocol == protocol
  seen = []

  def record(config, optimizer, **kwargs):
    seen.append(config)
    raise SystemExit(0)

  monkeypatch.setattr(_run, "run_lifelong", record)
  with pytest.raises(SystemExit):
    _cli.main(["--env", env, "--out", str(tmp_path)])
  assert seen[0].protocol == protocol
  if protocol == "paper":  # the rollout is the episode cap
    assert seen[0].max_steps_in_episode == seen[0].num_steps


def test_short_rollouts_name_the_fixed_protocol():
  with pytest.raises(ValueError, match="protocol='fixed'"):
    LifelongConfig(num_steps=16)
  assert LifelongConfig(num_steps=16, protocol="fixed").num_steps == 16
