"""LifelongConfig refuses bad values at construction and stores plain Python ones."""

from __future__ import annotations

import dataclasses
import json
import math

import hypothesis
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

from trac_optax.lifelong import LifelongConfig

NAN = math.nan
INF = math.inf


@pytest.mark.parametrize("name,value,message", [
    ("num_seeds", 0, "num_seeds must be a positive integer, got 0"),
    ("num_seeds", True, "num_seeds must be a positive integer, got True"),
    ("hidden", 64.0, "hidden must be a positive integer, got 64.0"),
    ("epochs", "5", "epochs must be a positive integer, got '5'"),
    ("seed", -1, "seed must be an integer in [0, 2**32), got -1"),
    ("seed", 2**32 + 5, "seed must be an integer in [0, 2**32)"),
    ("seed", 1.5, "seed must be an integer in [0, 2**32), got 1.5"),
    ("learning_rate", 0.0, "learning_rate must be a finite number > 0"),
    ("learning_rate", INF, "learning_rate must be a finite number > 0, got inf"),
    ("learning_rate", "0.1", "learning_rate must be a finite number > 0"),
    ("learning_rate", [0.1], "learning_rate must be a finite number > 0"),
    ("learning_rate", 1j, "learning_rate must be a finite number > 0"),
    ("reward_scale", NAN, "reward_scale must be a finite number > 0"),
    ("clip_eps", -0.2, "clip_eps must be a finite number > 0"),
    ("offset_std", -1.0, "offset_std must be a finite number >= 0"),
    ("offset_std", INF, "offset_std must be a finite number >= 0"),
    ("vf_coef", -0.5, "vf_coef must be a finite number >= 0"),
    ("ent_coef", NAN, "ent_coef must be a finite number >= 0"),
    ("gamma", 1.5, "gamma must be a number in [0, 1], got 1.5"),
    ("gamma", 99, "gamma must be a number in [0, 1], got 99"),
    ("gae_lambda", -0.1, "gae_lambda must be a number in [0, 1]"),
    ("layer_norm", "no", "layer_norm must be True or False, got 'no'"),
    ("layer_norm", 1, "layer_norm must be True or False, got 1"),
    ("env", None, "env must be a string, got None"),
    ("network", "rnn", "network must be 'mlp' or 'cnn', got 'rnn'"),
])
def test_a_bad_value_is_refused_by_name(name, value, message):
  with pytest.raises(ValueError) as error:
    LifelongConfig(**{name: value})
  assert message in str(error.value)


@pytest.mark.parametrize("name,value", [
    ("gamma", 0.0), ("gamma", 1.0), ("gae_lambda", 1), ("offset_std", 0.0),
    ("ent_coef", 0), ("vf_coef", 0.0), ("seed", 0), ("seed", 2**32 - 1),
])
def test_values_on_the_boundary_are_kept(name, value):
  assert getattr(LifelongConfig(**{name: value}), name) == value


def test_numpy_and_jax_scalars_become_python_values():
  config = LifelongConfig(num_seeds=np.int64(3), hidden=jnp.int32(16),
                          learning_rate=np.float32(0.01),
                          gamma=jnp.float32(0.9), seed=np.uint32(7),
                          layer_norm=np.bool_(True), offset_std=0)
  kinds = {name: type(value) for name, value in vars(config).items()}
  assert kinds["num_seeds"] is kinds["hidden"] is kinds["seed"] is int
  assert kinds["learning_rate"] is kinds["gamma"] is float
  assert kinds["offset_std"] is float
  assert kinds["layer_norm"] is bool
  # The same values as the float32 scalars held, not rounded anew.
  assert config.learning_rate == float(np.float32(0.01))
  assert config.gamma == float(np.float32(0.9))
  # config.json is written at the end of a run: json cannot write a float32.
  written = json.loads(json.dumps(dataclasses.asdict(config)))
  assert LifelongConfig(**written) == config
  assert config == dataclasses.replace(
      config, num_seeds=3, learning_rate=float(np.float32(0.01)))
  assert hash(config) == hash(LifelongConfig(**written))


# Each real field's range, written out here rather than read from the code.
RANGES = {
    "learning_rate": lambda x: 0 < x < INF,
    "reward_scale": lambda x: 0 < x < INF,
    "clip_eps": lambda x: 0 < x < INF,
    "offset_std": lambda x: 0 <= x < INF,
    "vf_coef": lambda x: 0 <= x < INF,
    "ent_coef": lambda x: 0 <= x < INF,
    "logit_penalty": lambda x: 0 <= x < INF,
    "gamma": lambda x: 0 <= x <= 1,
    "gae_lambda": lambda x: 0 <= x <= 1,
}


@hypothesis.given(st.sampled_from(sorted(RANGES)), st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2.0, 2.0), st.integers(-3, 3)))
def test_every_real_field_is_accepted_exactly_on_its_range(name, value):
  if RANGES[name](value):
    kept = getattr(LifelongConfig(**{name: value}), name)
    assert type(kept) is float and kept == value
  else:
    with pytest.raises(ValueError, match=f"^{name} must be "):
      LifelongConfig(**{name: value})
