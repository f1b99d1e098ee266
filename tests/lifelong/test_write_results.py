"""write_results refuses what one results folder cannot hold, before writing."""

from __future__ import annotations

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
])
def test_write_results_refuses_runs_one_folder_cannot_hold(runs, message,
                                                           tmp_path):
  out = tmp_path / "out"
  with pytest.raises(ValueError) as error:
    write_results(out, runs, plots=False)
  assert message in str(error.value)
  assert not out.exists()  # nothing written
