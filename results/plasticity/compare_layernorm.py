"""Plasticity scores with and without LayerNorm, from two results folders.

Usage: python results/plasticity/compare_layernorm.py PLAIN_DIR LAYERNORM_DIR OUT.md

Both folders come from trac-optax-lifelong with the same arguments except
--layer-norm, and include a reset run. Writes a Markdown table: per
optimizer, its mean return on tasks 2 and later and its plasticity score
(against the reset run of the same folder), without and with LayerNorm.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

from trac_optax.lifelong import bootstrap_ci
from trac_optax.lifelong import plasticity_scores
from trac_optax.lifelong._plasticity_score import return_floor
from trac_optax.lifelong._report import read_results


def _cells(folder: pathlib.Path) -> tuple[dict[str, str], dict[str, str]]:
  runs = read_results(folder)
  returns = {run.name: run.task_returns() for run in runs}
  scores = plasticity_scores(returns, floor=return_floor(runs[0].config))
  later = {name: str(bootstrap_ci(np.nanmean(r[:, 1:], axis=1)))
           for name, r in returns.items()}
  score = {name: (f"{s.mean:.2f} [{s.low:.2f}, {s.high:.2f}]"
                  if scores else "n/a")
           for name, s in (scores or dict.fromkeys(returns)).items()}
  return later, score


def main(plain: str, layer_norm: str, out: str) -> None:
  plain_later, plain_score = _cells(pathlib.Path(plain))
  ln_later, ln_score = _cells(pathlib.Path(layer_norm))
  config = read_results(pathlib.Path(plain))[0].config
  lines = [
      f"{config.env}, {config.num_tasks} tasks x {config.iterations_per_task} "
      f"iterations, {config.num_seeds} seeds: mean return on tasks 2+ and "
      "plasticity score (vs reset in the same run) [95% bootstrap interval]",
      "",
      "| optimizer | return 2+, plain | return 2+, LayerNorm | score, plain "
      "| score, LayerNorm |",
      "| --- | ---: | ---: | ---: | ---: |"]
  for name in plain_later:
    lines.append(f"| {name} | {plain_later[name]} | {ln_later.get(name, '-')} "
                 f"| {plain_score[name]} | {ln_score.get(name, '-')} |")
  pathlib.Path(out).write_text("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main(*sys.argv[1:])
