"""``benchmarks/device_check.sh`` runs unchanged on a device it has one try on.

The script is run on a GPU rarely and with little time, so a typo in one of
its command lines (an unknown flag, a case name that matches nothing) would
cost the run. Here every command line it holds, in both its fast and its full
branch, is parsed by the script it calls, as that script's ``main`` would,
without running anything.
"""

from __future__ import annotations

import pathlib
import re
import shlex
import subprocess
from types import ModuleType

import jax
import pytest

from tests.scripts import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEVICE_CHECK = ROOT / "benchmarks" / "device_check.sh"
SCRIPTS = ("benchmarks/skip_transfer_check.py", "benchmarks/step_time.py",
           "benchmarks/step_time_rl.py", "benchmarks/lane_sums.py",
           "benchmarks/erfi.py", "results/control/speed.py")


def _branches() -> dict[str, list[tuple[int, str, list[str]]]]:
  """``{"fast": [...], "full": [...]}``: (time limit, script, args) per step."""
  text = DEVICE_CHECK.read_text()
  fast, full = text.split('if [ "$FAST" = 1 ]; then', 1)[1].split("\nelse\n", 1)
  full = full.split("\nfi\n", 1)[0]
  out = {}
  for name, body in (("fast", fast), ("full", full)):
    body = body.replace("\\\n", " ")  # continued lines
    steps = re.findall(r"^\s*step (\d+) python (\S+\.py)([^>\n]*)", body,
                       flags=re.MULTILINE)
    out[name] = [(int(limit), script,
                  shlex.split(args.replace('"$OUT"', "/tmp/device-check-out")))
                 for limit, script, args in steps]
  return out


def test_the_script_is_valid_bash():
  subprocess.run(["bash", "-n", str(DEVICE_CHECK)], check=True)


@pytest.mark.rl  # speed.py and step_time_rl.py import the harness
@pytest.mark.parametrize("branch", ["fast", "full"])
def test_every_command_line_parses(branch):
  steps = _branches()[branch]
  assert tuple(script for _, script, _ in steps) == SCRIPTS
  for _, script, args in steps:
    module = load_script(script)
    if script.endswith("speed.py"):
      parsed = module.parse(args)
    else:
      parsed = module.parser().parse_args(args)
    if script.endswith("step_time_rl.py"):
      assert module.chosen_cases(parsed.cases, parsed.smoke)


def test_the_full_run_fits_the_time_its_header_gives():
  limits = sum(limit for limit, _, _ in _branches()["full"])
  minutes = re.search(r"Time limits add up to ([\d.]+) minutes",
                      DEVICE_CHECK.read_text())
  assert minutes is not None
  assert round(limits / 60, 1) == float(minutes.group(1))
  # One device command may run 10 minutes; with the machine's start (minutes),
  # inside 15 device-minutes.
  assert limits <= 430


@pytest.mark.rl
def test_a_case_that_matches_nothing_stops_step_time_rl(capsys):
  module = load_script("benchmarks/step_time_rl.py")
  with pytest.raises(SystemExit) as stopped:
    module.main(["--cases", "PPO;1e5 parms, 10", "--out", "/nonexistent"])
  assert stopped.value.code == 2
  message = capsys.readouterr().err
  assert "'1e5 parms, 10' starts no case name" in message
  assert "'1e5 params, 10 leaves'" in message  # the names to choose from
  # Under --smoke the only case is the tiny one: naming another is an error.
  with pytest.raises(ValueError, match="with --smoke"):
    module.chosen_cases("PPO", smoke=True)
  assert [c.name for c in module.chosen_cases("PPO; 1e6", smoke=False)] == [
      "PPO CartPole", "1e6 params, 10 leaves", "1e6 params, 50 leaves"]


@pytest.mark.parametrize("script,args,words", [
    ("benchmarks/step_time.py", ["--rounds", "0"], "'0' is not at least 1"),
    ("benchmarks/step_time.py", ["--sizes", "1e5,x"],
     "is not a comma-separated list of param counts"),
    ("benchmarks/lane_sums.py", ["--rounds", "two"],
     "'two' is not a whole number"),
    pytest.param("results/control/speed.py", ["--optimizers", "adam,tracc"],
                 "--optimizers: unknown 'tracc'; choose from adam, trac",
                 marks=pytest.mark.rl),
    pytest.param("results/control/speed.py", ["--seeds", "1,0"],
                 "--seeds must be at least 1; got 0", marks=pytest.mark.rl),
])
def test_bad_arguments_stop_before_anything_runs(script, args, words, capsys):
  module = load_script(script)
  with pytest.raises(SystemExit) as stopped:
    module.main(args)
  assert stopped.value.code == 2
  assert words in capsys.readouterr().err


@pytest.mark.rl  # step_time_rl.py imports the harness
def test_step_time_rl_targets_off_the_cpu_need_no_probes(monkeypatch):
  """Off the CPU the bandwidth probes are not timed (they feed XLA:CPU's
  traffic model only), so the targets must come without them: no floor
  rows, and the others as on a CPU."""
  module = load_script("benchmarks/step_time_rl.py")
  row = lambda ratio, fusions: {"ratio": (ratio, ratio, ratio),
                                "fusions": fusions}
  results = [{"case": "tree", "mode": mode, "leaves": 10, "big_leaves": 4,
              "optimizers": {"adam": {"fusions": 33},
                             "trac(adam)": row(ratio, 61)}}
             for mode, ratio in zip(module.MODES, (1.5, 1.6, 2.0))]
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  targets = module.targets(results)
  assert not [t for t in targets if t.get("note") or "minus one per" in
              t["target"]]
  assert [round(t["measured"], 3) for t in targets] == [1.5, 1.067, 1.333, 28]
  monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
  with pytest.raises(KeyError, match="probe"):  # a CPU run times them
    module.targets(results)


@pytest.mark.rl  # step_time_rl.py imports the harness
def test_step_time_rl_variants_compile_the_form_they_name():
  """``select skip`` is a plain ``lax.cond`` (a select only under vmap): in
  the unbatched step on the CPU, one conditional, as trac(adam) has. It once
  became a select silently: the patched function refused the keyword TRAC
  passes, and TRAC fell back to its select."""
  module = load_script("benchmarks/step_time_rl.py")
  setup = module.setup(module.cases(smoke=True)[0], module.MODES[0])
  conditionals = {}
  for name in ("trac(adam)", module.SELECT_SKIP):
    compiled = module.compile_optimizer(name, setup, steps=1)
    conditionals[name] = compiled.loop.as_text().count(" conditional(")
  assert conditionals == {"trac(adam)": 1, module.SELECT_SKIP: 1}


def _reductions_per_variant(module: ModuleType, names: tuple[str, ...],
                            platform: str) -> dict[str, int]:
  """StableHLO reductions in the unbatched smoke step of each variant,
  lowered for ``platform``."""
  setup = module.setup(module.cases(smoke=True)[0], module.MODES[0])
  tx = module.OPTIMIZERS["trac(adam)"]()
  reductions = {}
  for name in names:
    # A function of its own each time: jit would reuse the first trace.
    step = lambda params, state, grads: tx.update(grads, state, params)
    with module._traced_as(name):
      lowered = jax.jit(step).trace(setup.params, tx.init(setup.params),
                                    setup.grads[0]).lower(
                                        lowering_platforms=(platform,))
    reductions[name] = len(re.findall(r"stablehlo\.reduce[\s(]",
                                      lowered.as_text()))
  return reductions


@pytest.mark.rl  # step_time_rl.py imports the harness
def test_step_time_rl_per_leaf_variant_reduces_leaf_by_leaf_on_a_gpu_too():
  """``<g, d> per leaf`` is what a GPU run compares trac(adam)'s groups with:
  lowered for a GPU, one reduction per leaf, where trac(adam) has one per
  group of leaves."""
  module = load_script("benchmarks/step_time_rl.py")
  leaves = module.setup(module.cases(smoke=True)[0], module.MODES[0]).leaves
  reductions = _reductions_per_variant(
      module, ("trac(adam)", module.PER_LEAF), "cuda")
  assert reductions == {"trac(adam)": 1, module.PER_LEAF: leaves}


@pytest.mark.rl  # step_time_rl.py imports the harness
def test_step_time_rl_h_of_one_entry_has_no_inner_product_pass():
  """``h of one entry`` times TRAC's step without its inner product: its
  lowered step reduces nothing, where trac(adam)'s reduces its leaves."""
  module = load_script("benchmarks/step_time_rl.py")
  reductions = _reductions_per_variant(
      module, ("trac(adam)", module.H_OF_ONE), "cpu")
  assert reductions[module.H_OF_ONE] == 0 < reductions["trac(adam)"]
