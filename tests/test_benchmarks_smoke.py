"""The benchmark scripts run end to end in their smoke mode and write well-formed
results. Nothing here asserts a timing: timings live in the committed tables."""

from __future__ import annotations

import importlib.metadata
import json
import math
import pathlib
import shlex
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _run_smoke(script: str, out: pathlib.Path, *args: str) -> dict:
  """Runs ``benchmarks/<script> --smoke <args> --out out``; returns its JSON."""
  done = subprocess.run(
      [sys.executable, str(BENCHMARKS / script), "--smoke", *args, "--out",
       str(out)], capture_output=True, text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  stem = script.removesuffix(".py")
  [json_path] = out.glob(f"{stem}_*.json")
  markdown = json_path.with_suffix(".md").read_text()
  assert markdown.startswith("### ") and "|---|" in markdown
  assert "Measured on" in markdown
  return json.loads(json_path.read_text())


def _positive(x) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def step_time(tmp_path_factory) -> dict:
  return _run_smoke("step_time.py", tmp_path_factory.mktemp("step_time"))


@pytest.fixture(scope="module")
def erfi_results(tmp_path_factory) -> dict:
  return _run_smoke("erfi.py", tmp_path_factory.mktemp("erfi"))


def test_step_time_reports_every_optimizer_with_both_donation_modes(step_time):
  donated = {r["donated"] for r in step_time["results"]}
  assert donated == {True, False}
  for result in step_time["results"]:
    rows = result["optimizers"]
    assert {"adam", "trac(adam)"} <= set(rows)
    for name, row in rows.items():
      assert _positive(row["median_ms"]), name
      assert row["p25_ms"] <= row["median_ms"] <= row["p75_ms"], name
      if "ratio" in row:
        assert row["ratio_to"] in rows
        assert _positive(row["ratio"]), name
    if result["donated"]:
      assert {"sgd", "trac(sgd)", "mechanize(adam)", "trac(adam), no NaN skip",
              "trac(adam), 1 beta", "trac(adam), 12 betas"} <= set(rows)
      assert _positive(rows["trac(adam)"]["model_ratio"])


def test_step_time_memory_columns_match_the_state_layout(step_time):
  """State sizes follow from the layouts alone, whatever the machine."""
  for result in step_time["results"]:
    rows = result["optimizers"]
    assert rows["adam"]["state_param_copies"] == pytest.approx(2.0, abs=1e-2)
    # TRAC adds the reference point and the offset to the base state (and a
    # few scalars, visible at the smoke test's 2e3 params).
    assert rows["trac(adam)"]["state_param_copies"] == pytest.approx(
        4.0, abs=0.05)
    if result["donated"]:
      assert rows["sgd"]["state_param_copies"] == pytest.approx(0.0, abs=1e-3)
      assert rows["trac(sgd)"]["state_param_copies"] == pytest.approx(
          2.0, abs=0.05)
    for name, row in rows.items():
      assert row["params_stayed_finite"] in (True, False)
      if not name.startswith("probe"):
        assert row["temp_param_copies"] >= 0
        assert row["fusions"] > 0


def test_step_time_reports_the_machine_and_the_authors_port_or_why_not(
    step_time):
  machine = step_time["machine"]
  assert machine["platform"] and machine["cpu_count"] >= 1
  rows = step_time["results"][0]["optimizers"]
  assert ("authors' port (adam)" in rows) != bool(step_time["skipped"])


def test_erfi_accuracy_rows_are_well_formed(erfi_results):
  acc = erfi_results["accuracy"]
  assert {"float32", "float64"} <= set(acc)
  for dtype, rows in acc.items():
    assert "trac_optax vs scipy" in rows, dtype
    for name, row in rows.items():
      assert row["points"] > 100, (dtype, name)
      assert 0 <= row["median_rel_error"] <= row["max_rel_error"], (dtype, name)
  assert "trac_optax vs mpmath" in acc["float64"]
  assert "naive vs scipy" in acc["float32"]


def test_erfi_throughput_rows_are_well_formed(erfi_results):
  for dtype, rows in erfi_results["throughput"].items():
    assert set(rows) == {"trac_optax", "naive"}, dtype
    for row in rows.values():
      assert _positive(row["evals_per_s"])
      assert _positive(row["time_ratio_to_trac_optax"])


@pytest.fixture(scope="module")
def step_time_rl(tmp_path_factory) -> dict:
  # A case argument with a space and a ';', as the committed commands have.
  return _run_smoke("step_time_rl.py", tmp_path_factory.mktemp("step_time_rl"),
                    "--cases", "1e4 params, 10;1e4")


@pytest.mark.rl  # step_time_rl.py times the harness's PPO networks
def test_the_recorded_command_pastes_back_as_the_same_arguments(step_time_rl):
  words = shlex.split(step_time_rl["command"])
  assert words[:2] == ["python", "benchmarks/step_time_rl.py"]
  assert words[2:6] == ["--smoke", "--cases", "1e4 params, 10;1e4", "--out"]


@pytest.mark.rl
def test_step_time_rl_reports_every_mode_with_fusions_and_traffic(
    step_time_rl):
  modes = {r["mode"] for r in step_time_rl["results"]}
  assert len(modes) == 3 and any("non-finite" in m for m in modes)
  for result in step_time_rl["results"]:
    rows = result["optimizers"]
    assert {"adam", "trac(adam)"} <= set(rows)
    for name, row in rows.items():
      assert _positive(row["median_us"]), name
      assert row["fusions"] > 0 and _positive(row["traffic_param_copies"])
    # TRAC moves at least Adam's bytes plus the inner product's 2 copies.
    assert (rows["trac(adam)"]["traffic_param_copies"] >=
            rows["adam"]["traffic_param_copies"] + 2 - 1e-6)
    # The bandwidth probes of the traffic model, where the arrays are new.
    probes = {k for k in rows if k.startswith("probe: ")}
    assert len(probes) == (0 if "non-finite" in result["mode"] else 2)
  assert step_time_rl["targets"]
  models = [t for t in step_time_rl["targets"] if t.get("note") == "(model)"]
  if step_time_rl["machine"]["platform"] == "cpu":  # XLA:CPU's traffic model
    assert len(models) == 2  # 1 seed, and 8 seeds over 1 seed
    assert all(_positive(t["measured"]) for t in models)
    assert 1.4 <= models[0]["measured"] < 10  # (14 + 2 k) / 10 for k >= 0
  else:
    assert not models
  # The two probes that split TRAC's cost: its state alone (also under vmap
  # over one seed), and TRAC without its inner product; the first moves
  # Adam's bytes plus the offset's.
  probes = [t for t in step_time_rl["targets"] if t.get("note") == "(probe)"]
  assert len(probes) == 3 and all(_positive(t["measured"]) for t in probes)
  unbatched = step_time_rl["results"][0]["optimizers"]
  assert (unbatched["adam+offset"]["traffic_param_copies"] >=
          unbatched["adam"]["traffic_param_copies"] + 2 - 1e-6)


def test_lane_sums_reports_every_form_of_every_case(tmp_path):
  results = _run_smoke("lane_sums.py", tmp_path)
  assert results["results"]
  for case in results["results"]:
    forms = case["forms"]
    assert set(forms) == {"one pass", "rows first", "trac_optax", "scalar"}
    assert all(_positive(f["median_us"]) and _positive(f["over_scalar"])
               for f in forms.values())
    assert forms["scalar"]["over_scalar"] == 1.0


def test_the_skip_moves_nothing_to_the_host():
  """The compiled step has no host transfer or callback, and steps run under
  ``jax.transfer_guard("disallow")`` with the skip branch taken."""
  done = subprocess.run(
      [sys.executable, str(BENCHMARKS / "skip_transfer_check.py"),
       "--params", "2e3"], capture_output=True, text=True, timeout=600,
      check=False)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
  assert "| conditional (the skip) | 1 |" in done.stdout
  assert "no host transfer in the HLO; transfer guard passed" in done.stdout


@pytest.mark.parametrize(("target", "plugin", "device"), [
    ("h200", "jax-cuda12-plugin", "an NVIDIA H200"),
    ("tpu-v5e", "libtpu", "a TPU v5e")])
def test_accelerator_hlo_compiles_for_an_accelerator_or_says_what_to_install(
    tmp_path, target, plugin, device):
  """With the accelerator's plugin (no accelerator needed): the smoke tree's
  trac(adam) step copies no state and moves nothing to the host, where the
  conditional skip has conditionals, and so does the RL demo's task. Without
  it: an error that names the install command."""
  done = subprocess.run(
      [sys.executable, str(BENCHMARKS / "accelerator_hlo.py"), "--smoke",
       "--harness", "--target", target, "--out", str(tmp_path)],
      capture_output=True,
      text=True, timeout=600, check=False)
  try:
    importlib.metadata.version(plugin)
  except importlib.metadata.PackageNotFoundError:
    assert done.returncode != 0
    assert f"cannot compile for {target} here" in done.stderr, done.stderr
    assert "pip install" in done.stderr
    assert not list(tmp_path.glob("*.json"))
    return
  assert done.returncode == 0, done.stderr[-3000:]
  payload = json.loads(
      (tmp_path / f"accelerator_hlo_{target}.json").read_text())
  assert payload["device"] == device
  assert all(t["met"] is not False for t in payload["targets"])
  for result in payload["results"]:
    stats = result["optimizers"]
    assert stats["trac(adam)"]["conditionals"] == 0
    assert stats["trac(adam), conditional skip"]["conditionals"] >= 1
    # Adam reduces nothing; TRAC's inner product does.
    assert stats["adam"]["reducing_fusions"] == 0
    assert stats["trac(adam)"]["reducing_fusions"] >= 1
    # The traffic estimate against the count of buffers that each step must
    # read and write once with multi-output fusion: Adam reads g, m, v, p and
    # writes m, v, p (7 param copies); TRAC cannot move fewer than 12.
    assert stats["adam"]["traffic"] == pytest.approx(7.0, abs=0.05)
    assert stats["trac(adam)"]["traffic"] > 11.95
  # The demo's task holds no conditional (the skip is a select there too)
  # and moves nothing to the host.
  assert [h["optimizer"] for h in payload["harness"]] == ["adam", "trac"]
  for h in payload["harness"]:
    assert h["conditionals"] == h["host_transfers"] == 0
