"""Early, explicit errors for the arguments of :func:`trac_optax.trac`.

Values are checked only when they are concrete: under
``optax.inject_hyperparams`` they arrive as traced arrays, whose values cannot
be read, and are then left alone (their shapes are still checked).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _concrete(value: Any) -> np.ndarray | None:
  """The value as a NumPy array, or None when it is traced."""
  try:
    return np.asarray(value)
  except (jax.errors.TracerArrayConversionError,
          jax.errors.ConcretizationTypeError):
    return None


def check_base_optimizer(base: Any) -> None:
  if isinstance(base, optax.GradientTransformation):
    return
  if callable(getattr(base, "init", None)) and callable(
      getattr(base, "update", None)):
    return
  hint = ""
  if callable(base):
    name = getattr(base, "__name__", repr(base))
    hint = (f" `{name}` is a function, not a transform: call it first, e.g. "
            f"trac(optax.{name}(learning_rate=1e-3)) rather than "
            f"trac(optax.{name}).")
  raise TypeError(
      "trac expects base_optimizer to be an optax.GradientTransformation "
      f"(an object with init and update), got {type(base).__name__}.{hint}")


def check_betas(betas: Any) -> None:
  shape = np.shape(betas)
  if len(shape) != 1 or shape[0] == 0:
    raise ValueError(
        "trac expects betas to be a non-empty 1-D sequence of discount "
        f"factors in (0, 1], e.g. (0.9, 0.99, 0.999); got shape {shape}.")
  values = _concrete(betas)
  if values is None:
    return
  if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
    raise TypeError(f"trac expects real numbers as betas; got {betas!r}.")
  bad = values[~((values > 0) & (values <= 1))]
  if bad.size:
    raise ValueError(
        "trac expects every beta in (0, 1] (a discount factor); got "
        f"{bad.tolist()} in betas={values.tolist()}.")


def check_positive(name: str, value: Any) -> None:
  if np.ndim(value) != 0:
    raise ValueError(f"trac expects {name} to be a scalar; got shape "
                     f"{np.shape(value)}.")
  concrete = _concrete(value)
  if concrete is None:
    return
  if not (np.isfinite(concrete) and concrete > 0):
    raise ValueError(
        f"trac expects {name} > 0 and finite; got {name}={concrete.item()!r}. "
        f"The paper's default is 1e-8.")


def check_recover_after(value: Any) -> None:
  if value is None:
    return
  if np.ndim(value) != 0:
    raise ValueError("trac expects recover_after to be a scalar (a positive "
                     f"int) or None; got shape {np.shape(value)}.")
  concrete = _concrete(value)
  if concrete is None:
    return
  if (isinstance(value, bool) or not np.issubdtype(concrete.dtype, np.integer)
      or not 1 <= concrete <= np.iinfo(np.int32).max):
    raise ValueError(
        "trac expects recover_after to be a positive int (consecutive "
        "non-finite steps before the tuners are reset) or None to never "
        f"reset; got recover_after={value!r}.")


def check_float_params(params: Any) -> None:
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    dtype = jnp.asarray(leaf).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
      raise TypeError(
          "trac needs real floating-point params; the leaf at "
          f"{jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}. "
          "Exclude it with optax.masked or optax.partition.")


def check_same_structure(updates: Any, params: Any) -> None:
  grads_def = jax.tree.structure(updates)
  params_def = jax.tree.structure(params)
  if grads_def != params_def:
    raise ValueError(
        "trac got gradients whose tree structure differs from the params: "
        f"gradients {grads_def} vs params {params_def}. Pass the gradients "
        "of the same params tree that the optimizer was initialised with.")
  for path, g, p in zip(
      (k for k, _ in jax.tree_util.tree_leaves_with_path(params)),
      jax.tree.leaves(updates), jax.tree.leaves(params)):
    if jnp.shape(g) != jnp.shape(p):
      raise ValueError(
          f"trac got a gradient of shape {jnp.shape(g)} for the param at "
          f"{jax.tree_util.keystr(path) or '<root>'} of shape "
          f"{jnp.shape(p)}; they must match.")


def check_random_key(transform: str, key: Any) -> None:
  dtype = getattr(key, "dtype", None)
  if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
    if np.ndim(key) == 0:
      return
  elif dtype == np.uint32 and np.shape(key) == (2,):
    return
  raise ValueError(
      f"{transform} expects `key` to be one random key, from "
      "jax.random.key(seed) or jax.random.PRNGKey(seed) (under jax.vmap, one "
      f"per mapped seed); got {type(key).__name__} of dtype {dtype} and shape "
      f"{np.shape(key)}.")


def missing_params_message(transform: str) -> str:
  return (f"{transform} needs the current parameters: call "
          f"`update(grads, state, params)`. You are not passing `params` "
          "when calling `update`.")


def _concrete_scalar(transform: str, name: str, value: Any) -> float | None:
  if np.ndim(value) != 0:
    raise ValueError(f"{transform} expects {name} to be a scalar; got shape "
                     f"{np.shape(value)}.")
  concrete = _concrete(value)
  return None if concrete is None else float(concrete)


def check_non_negative(transform: str, name: str, value: Any) -> None:
  concrete = _concrete_scalar(transform, name, value)
  if concrete is not None and not (np.isfinite(concrete) and concrete >= 0):
    raise ValueError(f"{transform} expects {name} >= 0 and finite; got "
                     f"{name}={concrete!r}.")


def check_unit_interval(transform: str, name: str, value: Any) -> None:
  concrete = _concrete_scalar(transform, name, value)
  if concrete is not None and not 0 <= concrete <= 1:
    raise ValueError(f"{transform} expects {name} in [0, 1]; got "
                     f"{name}={concrete!r}.")
