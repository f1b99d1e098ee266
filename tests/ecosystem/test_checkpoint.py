"""TRAC's state through Orbax and flax.serialization, and exact resumption.

The transforms under test nest TRAC inside a chain, with params in two
dtypes, and wrap an injected AdamW, so the checkpoints hold NamedTuples,
tuples, dicts and int32 counters. Restoring uses the state that ``init``
builds as the template, as a restarted process would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import serialization

import trac_optax
from tests.ecosystem import helpers

STEPS, INTERRUPT_AT = 12, 5


def _tx(injected=False):
  if injected:
    base = optax.inject_hyperparams(optax.adamw)(learning_rate=0.05,
                                                  weight_decay=0.1)
  else:
    base = optax.adamw(0.05, weight_decay=0.1)
  return optax.chain(optax.clip_by_global_norm(1.0), helpers.make_trac(base))


def _params(injected=False):
  """Mixed float32/bfloat16 params, except for the injected base.

  (``inject_hyperparams`` turns Adam's betas into float32 arrays, which
  promote bfloat16 moments to float32 after the first step, so the state
  that ``init`` builds would no longer be a valid restore template.)
  """
  p = helpers.init_params()
  if injected:
    return p
  return {"w": p["w"], "b": p["b"].astype(jnp.bfloat16)}


def _step_fn(tx):
  """A fresh jitted step, as a restarted process would build it."""
  x, y = helpers.data()

  @jax.jit
  def step(params, state):
    grads = jax.grad(helpers.loss)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return step


def _train(tx, params, state, steps):
  step = _step_fn(tx)
  for _ in range(steps):
    params, state = step(params, state)
  return params, state


def _orbax_round_trip(tree, template, path):
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(path / "checkpoint", tree)
    checkpointer.wait_until_finished()
    return checkpointer.restore(path / "checkpoint", abstract)


def _flax_round_trip(tree, template, path):
  (path / "checkpoint.msgpack").write_bytes(serialization.to_bytes(tree))
  return serialization.from_bytes(
      template, (path / "checkpoint.msgpack").read_bytes())


ROUND_TRIPS = {"orbax": _orbax_round_trip, "flax": _flax_round_trip}


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_state_round_trip(how, tmp_path):
  tree, template = {}, {}
  for injected in (False, True):
    tx = _tx(injected)
    params = _params(injected)
    params, state = _train(tx, params, tx.init(params), 3)
    if injected:
      state = optax.tree.set(state, learning_rate=jnp.float32(0.02))
    tree[injected] = {"params": params, "opt_state": state}
    template[injected] = {"params": _params(injected),
                          "opt_state": tx.init(_params(injected))}
  tree = {"mixed": tree[False], "injected": tree[True]}
  template = {"mixed": template[False], "injected": template[True]}

  restored = ROUND_TRIPS[how](tree, template, tmp_path)

  helpers.assert_trees_equal(restored, tree)
  for part in restored.values():
    inner = trac_optax.trac_state(part["opt_state"])
    assert isinstance(inner, trac_optax.TracState)
    assert int(inner.count) == 3
    assert float(trac_optax.scale(part["opt_state"])) > 0
  assert optax.tree.get(restored["injected"]["opt_state"],
                        "learning_rate") == np.float32(0.02)


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_interrupted_run_resumes_bit_identically(how, tmp_path):
  tx = _tx()
  params = _params()
  want_params, want_state = _train(tx, params, tx.init(params), STEPS)

  params, state = _train(tx, params, tx.init(params), INTERRUPT_AT)
  saved = {"params": params, "opt_state": state}
  del params, state

  # A new process: a new transform, a new jitted step, state from disk.
  tx = _tx()
  template = {"params": _params(), "opt_state": tx.init(_params())}
  restored = ROUND_TRIPS[how](saved, template, tmp_path)
  got_params, got_state = _train(tx, restored["params"], restored["opt_state"],
                                 STEPS - INTERRUPT_AT)

  helpers.assert_trees_equal(got_params, want_params)
  helpers.assert_trees_equal(got_state, want_state)
  assert float(trac_optax.scale(got_state)) == float(trac_optax.scale(want_state))
  assert int(trac_optax.trac_state(got_state).count) == STEPS
