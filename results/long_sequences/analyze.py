"""Summarises the long-sequence runs of ``run_long.py``: collapses, returns, trend.

Per configuration (a ``<env>__<label>.npz`` file), over the tasks it finished:
- collapsed tasks: (seed, task) cells whose mean return is within 10% of the
  span between the environment's floor and its best return (CartPole-v1:
  at most 40 of 0..400; Acrobot-v1: at most -360 of -400..0);
- the mean return over tasks 2 and later, with a 95% bootstrap interval over
  seeds, and its ratio to a fresh start of the same optimizer (both
  measured from the environment's floor return, so a ratio above 1 is
  better for Acrobot too): to its reset
  (``reset-<name>``, fresh networks and optimizer at every shift) when that
  run is there, and always to its own task 1 (the one task every seed starts
  fresh on);
- how many tasks 2 and later start saturated: the policy's entropy at the
  task's first iteration below 0.01 nats (whether or not it then recovers);
- the trend over the sequence: the least-squares slope of the per-seed task
  means on the task index (tasks 2 and later), per 10 tasks, with a bootstrap
  interval over seeds;
- what S, ``h``, the policy entropy and ``|delta|`` looked like in collapsed
  cells against the others (medians of the per-task means);
- the kind of each collapsed cell, from its own diagnostics: ``saturated``
  (the policy's median entropy over the task's iterations below 0.01 nats,
  most of the task spent taking the same action whatever it sees: its
  gradients and so ``h`` vanish, and S stays where it was), ``pulled back``
  (the task's median S below 1e-4: the params sit at the reference point,
  the initial network) or ``other``; and how many saturated cells were
  saturated already at the task's first iteration (``at the shift``: the
  new observation offset, not the task's own learning, saturated them).

    python results/long_sequences/analyze.py runs/long/*.npz > summary.md
"""

from __future__ import annotations

import json
import pathlib
import sys
import warnings

import numpy as np
import run_long  # this folder's script, on the path when run

from trac_optax.lifelong import bootstrap_ci

SPAN = {"CartPole-v1": (0.0, 400.0), "Acrobot-v1": (-400.0, 0.0)}
"""(floor, best) return of each environment, episodes capped at 400 steps."""


def load(path: pathlib.Path) -> tuple[dict, dict[str, np.ndarray],
                                     dict[str, np.ndarray]]:
  """The run's metadata, its per-task means ``[seeds, tasks_done]`` and its
  per-iteration values ``[seeds, tasks_done, iterations_per_task]``."""
  data = np.load(path)
  meta = json.loads(str(data["meta"]))
  per_task, per_iteration = {}, {}
  for key in data.files:
    if key == "meta" or data[key].ndim != 2:
      continue
    values = data[key].reshape(meta["seeds"], meta["tasks_done"],
                               meta["iterations_per_task"])
    per_iteration[key] = values
    per_task[key] = np.nanmean(values, axis=-1)
  return meta, per_task, per_iteration


SATURATED_ENTROPY = 0.01
PULLED_BACK_SCALE = 1e-4


def started_saturated(per_iteration: dict[str, np.ndarray]) -> np.ndarray:
  """``[seeds, tasks]``: whether the task's first iteration had a saturated
  policy (entropy below ``SATURATED_ENTROPY``)."""
  return per_iteration["entropy"][:, :, 0] < SATURATED_ENTROPY


def recovery(per_task: dict[str, np.ndarray],
             per_iteration: dict[str, np.ndarray]) -> str:
  """A table row's cells: over tasks 2+ that started saturated, their count,
  median first-iteration entropy, iterations until the entropy exceeds
  ``SATURATED_ENTROPY`` (median, max), how many never did; and the lowest
  task mean return over tasks 2+."""
  lowest = f"{np.nanmin(per_task['return'][:, 1:]):.1f}"
  entropy = per_iteration["entropy"][:, 1:]
  start = started_saturated(per_iteration)[:, 1:]
  if not start.any():
    return f"0 | - | - | - | {lowest}"
  cells = entropy[start]  # [cells, iterations]
  above = cells > SATURATED_ENTROPY
  waits = np.where(above.any(axis=1), above.argmax(axis=1), cells.shape[1])
  recovered = waits[waits < cells.shape[1]]
  wait = (f"{np.median(recovered):g}, {recovered.max()}" if recovered.size
          else "-")
  return (f"{int(start.sum())} | {np.median(cells[:, 0]):.2g} | {wait} | "
          f"{int((waits == cells.shape[1]).sum())} | {lowest}")


def collapse_kinds(collapsed: np.ndarray,
                   per_iteration: dict[str, np.ndarray]) -> dict[str, int]:
  """How many collapsed cells are saturated, pulled back, or neither."""
  kinds = {"saturated": 0, "at the shift": 0, "pulled back": 0, "other": 0}
  if "entropy" not in per_iteration:
    return kinds
  at_start = started_saturated(per_iteration)
  for seed, task in zip(*np.nonzero(collapsed)):
    scale = per_iteration["scale"][seed, task]
    if np.nanmedian(per_iteration["entropy"][seed, task]) < SATURATED_ENTROPY:
      kinds["saturated"] += 1
      kinds["at the shift"] += int(at_start[seed, task])
    elif np.nanmedian(scale) < PULLED_BACK_SCALE:
      kinds["pulled back"] += 1
    else:
      kinds["other"] += 1
  return kinds


def trend(task_means: np.ndarray, n_resamples: int = 10_000):
  """Slope per 10 tasks of the seeds' mean return over tasks 2+, bootstrapped."""
  later = task_means[:, 1:]
  x = np.arange(later.shape[1], dtype=np.float64)
  if x.size < 2:
    return float("nan"), float("nan"), float("nan")
  def slope(rows):
    y = np.nanmean(rows, axis=0)
    return 10.0 * np.polyfit(x, y, 1)[0]
  rng = np.random.default_rng(0)
  seeds = later.shape[0]
  samples = [slope(later[rng.integers(0, seeds, seeds)])
             for _ in range(n_resamples // 10)]
  low, high = np.quantile(samples, [0.025, 0.975])
  return slope(later), float(low), float(high)


def main(paths: list[str]) -> None:
  runs = {}
  for path in map(pathlib.Path, paths):
    meta, per_task, per_iteration = load(path)
    name = run_long.label(meta["optimizer"], meta["layer_norm"],
                          meta.get("logit_penalty", 0.0))
    runs[(meta["env"], name)] = (meta, per_task, per_iteration)

  for env in sorted({env for env, _ in runs}):
    floor, best = SPAN[env]
    threshold = floor + 0.1 * (best - floor)
    # Ratios of returns measured from the floor, so that they read the same
    # way for negative returns (Acrobot) as for positive ones.
    above_floor = lambda returns, floor=floor: np.nanmean(returns) - floor
    print(f"## {env}\n")
    print(f"Collapsed: a task's mean return <= {threshold:g}. Means over seeds "
          "with 95% bootstrap intervals.\n")
    print("| configuration | tasks done | seeds | collapsed tasks (seeds with one) "
          "| started saturated | task 1 | tasks 2+ | vs own reset | vs task 1 "
          "| slope per 10 tasks | device, wall time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    diag_rows = []
    recovery_rows = []
    kind_rows = []
    for (run_env, label), (meta, per_task, per_iteration) in sorted(
        runs.items()):
      if run_env != env:
        continue
      ret = per_task["return"]
      collapsed = ret <= threshold
      later = np.nanmean(ret[:, 1:], axis=1) if ret.shape[1] > 1 else None
      reset = runs.get((env, "reset-" + label))
      if later is not None and reset is not None:
        reset_later = np.nanmean(reset[1]["return"][:, 1:], axis=1)
        ratio = f"{above_floor(later) / above_floor(reset_later):.2f}"
      else:
        ratio = "-"
      fresh = (f"{above_floor(later) / above_floor(ret[:, 0]):.2f}"
               if later is not None else "-")
      slope, low, high = trend(ret)
      started = (f"{int(started_saturated(per_iteration)[:, 1:].sum())}"
                 if "entropy" in per_iteration else "-")
      print(f"| {label} | {meta['tasks_done']}/{meta['tasks']} | {meta['seeds']} "
            f"| {int(collapsed.sum())} ({int(collapsed.any(axis=1).sum())}) "
            f"| {started} "
            f"| {bootstrap_ci(ret[:, 0])} "
            f"| {bootstrap_ci(later) if later is not None else '-'} | {ratio} "
            f"| {fresh} "
            f"| {slope:.1f} [{low:.1f}, {high:.1f}] "
            f"| {meta['device']}, {meta['seconds']:.0f} s |")
      if collapsed.any():
        kind_rows.append((label, collapse_kinds(collapsed, per_iteration)))
      if "entropy" in per_iteration and ret.shape[1] > 1:
        recovery_rows.append((label, recovery(per_task, per_iteration)))
      if collapsed.any() and "h_mean" in per_task:
        cells = {name: per_task[name] for name in
                 ("scale", "h_mean", "h_max_abs", "entropy", "delta_norm",
                  "skipped") if name in per_task}
        for name, values in cells.items():
          diag_rows.append(
              (label, name, np.nanmedian(values[collapsed]),
               np.nanmedian(values[~collapsed]) if (~collapsed).any()
               else float("nan")))
    if recovery_rows:
      print("\nTasks 2+ that started saturated (entropy at their first "
            f"iteration < {SATURATED_ENTROPY} nats): their median first "
            "entropy, the iterations until it exceeded that (median, max, "
            "over those that did), how many never did; and the lowest task "
            "mean return.\n")
      print("| configuration | started saturated | first entropy | iterations "
            "to recover | never | lowest task mean |")
      print("|---|---:|---:|---:|---:|---:|")
      for label, row in recovery_rows:
        print(f"| {label} | {row} |")
    if kind_rows:
      print(f"\nKinds of collapsed cells: saturated (median entropy < "
            f"{SATURATED_ENTROPY} nats), pulled back (median S < "
            f"{PULLED_BACK_SCALE:g}), other; of the saturated, those "
            "saturated already at the task's first iteration.\n")
      print("| configuration | saturated | of them at the shift | pulled back "
            "| other |")
      print("|---|---:|---:|---:|---:|")
      for label, kinds in kind_rows:
        print(f"| {label} | {kinds['saturated']} | {kinds['at the shift']} | "
              f"{kinds['pulled back']} | {kinds['other']} |")
    if diag_rows:
      print("\nDiagnostics, median of per-task means: collapsed cells vs the "
            "others.\n")
      print("| configuration | quantity | collapsed | others |")
      print("|---|---|---:|---:|")
      for label, name, bad, good in diag_rows:
        print(f"| {label} | {name} | {bad:.4g} | {good:.4g} |")
    print()


if __name__ == "__main__":
  # Seeds or cells without a finished episode, or without a TRAC state, are
  # NaN on purpose: their empty means are not news.
  warnings.simplefilter("ignore", RuntimeWarning)
  main(sys.argv[1:])
