"""write_results refuses what one results folder cannot hold, before writing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.lifelong.test_reset_baselines import RETURNS
from tests.lifelong.test_reset_baselines import _run
from trac_optax.lifelong import write_results


@pytest.mark.parametrize("runs,message", [
    ([], "needs at least one run"),
    ([_run("trac", RETURNS["trac"]), _run("trac", RETURNS["adam"])],
     "more than one run named 'trac'"),
    ([_run("adam", RETURNS["adam"]), _run("trac", RETURNS["trac"][:1])],
     "'trac' differs from 'adam' in num_seeds; write each configuration"),
    ([dataclasses.replace(_run("adam", RETURNS["adam"]),
                          scale=np.zeros((2, 4)))],
     "run 'adam' has arrays of shapes {'scale': (2, 4)}, but its "
     "configuration gives [num_seeds, num_iterations] = [2, 3]"),
    ([dataclasses.replace(_run("trac", RETURNS["trac"]),
                          diagnostics={"h": np.zeros(3)})],
     "{'h': (3,)}"),
])
def test_write_results_refuses_runs_one_folder_cannot_hold(runs, message,
                                                           tmp_path):
  out = tmp_path / "out"
  with pytest.raises(ValueError) as error:
    write_results(out, runs, plots=False)
  assert message in str(error.value)
  assert not out.exists()  # nothing written
