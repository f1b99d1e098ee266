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


def check_transform(value: Any, expects: str, usage: str) -> None:
  """Refuses anything but an Optax transform (an object with init and update).

  ``expects`` begins the message (``"trac expects base_optimizer to be"``);
  ``usage`` shows a call with ``{}`` where the transform goes, for the hint
  given when ``value`` is a function that builds one (``optax.adam``).
  """
  if isinstance(value, optax.GradientTransformation):
    return
  if callable(getattr(value, "init", None)) and callable(
      getattr(value, "update", None)):
    return
  hint = ""
  name = getattr(value, "__name__", None)
  if callable(value) and name and getattr(optax, name, None) is value:
    hint = (f" `{name}` is a function, not a transform: call it first, e.g. "
            f"{usage.format(f'optax.{name}(learning_rate=1e-3)')} rather than "
            f"{usage.format(f'optax.{name}')}.")
  elif callable(value) and "GradientTransformation" in str(
      getattr(value, "__annotations__", {}).get("return", "")):
    hint = (f" `{name}` returns a transform: call it first, e.g. "
            f"{usage.format(f'{name}(...)')} rather than {usage.format(name)}.")
  raise TypeError(
      f"{expects} an optax.GradientTransformation (an object with init and "
      f"update), got {type(value).__name__}.{hint}")


def check_base_optimizer(base: Any) -> None:
  check_transform(base, "trac expects base_optimizer to be", "trac({})")


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


def _is_real_number(value: Any) -> bool:
  """An int, float or real array of them; not a bool, string or complex."""
  if isinstance(value, (bool, np.bool_)):
    return False
  if isinstance(value, (int, float)):
    return True
  dtype = getattr(value, "dtype", None)
  if dtype is None:
    return False
  return (jnp.issubdtype(dtype, jnp.floating)
          or (jnp.issubdtype(dtype, jnp.integer)
              and not jnp.issubdtype(dtype, jnp.bool_)))


def check_positive(name: str, value: Any) -> None:
  if not _is_real_number(value):
    raise TypeError(
        f"trac expects {name} to be a real number (a float, e.g. 1e-8, or a "
        f"real scalar array); got {value!r} of type {type(value).__name__}.")
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


def check_in_tuner_dtype(name: str, value: Any, dtype: np.dtype,
                         largest_fraction: float = 1.0) -> None:
  """``value`` must be a normal number of ``dtype``, at most
  ``largest_fraction`` of its largest value.

  The tuner runs in float32 unless a param is float64: a value that passes
  the float64 check at construction may still be 0 there (a subnormal,
  flushed to zero) or overflow once scaled.
  """
  concrete = _concrete(value)
  if concrete is None:
    return
  info = np.finfo(dtype)
  low, high = float(info.tiny), float(info.max) * largest_fraction
  if low <= float(concrete) <= high:
    return
  raise ValueError(
      f"trac's tuner runs in {info.dtype} for these params (float64 only when "
      f"a param is float64), where {name}={float(concrete)!r} "
      + ("is below the smallest normal number and reads as 0"
         if float(concrete) < low else "overflows")
      + f". Pass {name} in [{low:.3g}, {high:.3g}].")


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


def _shape_mismatch(tree: Any, params: Any) -> tuple[str, Any, Any] | None:
  """The first leaf of ``tree`` (same structure) whose shape is not its
  param's: ``(path, its shape, the param's shape)``, or None."""
  for path, x, p in zip(
      (k for k, _ in jax.tree_util.tree_leaves_with_path(params)),
      jax.tree.leaves(tree), jax.tree.leaves(params)):
    if jnp.shape(x) != jnp.shape(p):
      return (jax.tree_util.keystr(path) or "<root>", jnp.shape(x),
              jnp.shape(p))
  return None


def check_same_structure(updates: Any, params: Any) -> None:
  grads_def = jax.tree.structure(updates)
  params_def = jax.tree.structure(params)
  if grads_def != params_def:
    raise ValueError(
        "trac got gradients whose tree structure differs from the params: "
        f"gradients {grads_def} vs params {params_def}. Pass the gradients "
        "of the same params tree that the optimizer was initialised with.")
  mismatch = _shape_mismatch(updates, params)
  if mismatch is not None:
    path, got, want = mismatch
    raise ValueError(f"trac got a gradient of shape {got} for the param at "
                     f"{path} of shape {want}; they must match.")


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


def check_state_fits(state: Any, state_type: type, params: Any,
                     num_betas: int) -> None:
  """The state must be one this trac built for params of these shapes."""
  if not isinstance(state, state_type):
    raise ValueError(
        f"trac got an optimizer state of type {type(state).__name__}, not a "
        f"{state_type.__name__}: pass the state returned by this transform's "
        "init (not the base optimizer's, nor one from another transform).")
  for field in ("v", "sigma", "tuner_scales"):
    shape = jnp.shape(getattr(state, field))
    if shape != (num_betas,):
      raise ValueError(
          f"trac got a state whose {field} has shape {shape}, but this trac "
          f"has {num_betas} betas: the state was built by a trac with other "
          "betas (or is batched: call update under jax.vmap).")
  params_def = jax.tree.structure(params)
  for field in ("reference", "delta"):
    tree = getattr(state, field)
    if jax.tree.structure(tree) != params_def:
      raise ValueError(
          f"trac got a state whose {field} has tree structure "
          f"{jax.tree.structure(tree)}, but the params have {params_def}: "
          "the state was initialised for other params.")
    mismatch = _shape_mismatch(tree, params)
    if mismatch is not None:
      path, got, want = mismatch
      raise ValueError(
          f"trac got a state whose {field} at {path} has shape {got}, but "
          f"that param has shape {want}: the state was initialised for "
          "params of other shapes.")


# Base states whose promise to the caller TRAC would silently break: values
# computed at the base's own iterate for the caller to use at the params it
# holds (under TRAC the caller holds theta_ref + S * delta), or params held
# still while gradients accumulate (S would still move them every step).
_UNSERVABLE_BASES = {
    "ScaleByZoomLinesearchState": (
        "a line search (e.g. optax.lbfgs) takes the loss value and gradient "
        "at the params it is given, but under trac its iterate is "
        "theta_ref + delta while the loss is evaluated at theta_ref + "
        "S * delta, so its line search stalls (an L-BFGS run never leaves "
        "its initial loss); use optax.scale_by_lbfgs without a line search"),
    "ScaleByBacktrackingLinesearchState": (
        "a line search takes the loss value and gradient at the params it is "
        "given, but under trac its iterate is theta_ref + delta while the "
        "loss is evaluated at theta_ref + S * delta"),
    "ScheduleFreeState": (
        "schedule-free's evaluation point (schedule_free_eval_params) is "
        "computed from its own iterate theta_ref + delta, which is not the "
        "params trac hands out, theta_ref + S * delta"),
    "MultiStepsState": (
        "gradient accumulation must wrap trac, not sit inside it: inside, the "
        "base holds its iterate still between its k-th steps but trac's "
        "scale S still changes the params at every micro-batch; use "
        "optax.MultiSteps(trac(base), every_k_schedule=k), which is trac on a "
        "k-times larger batch"),
}


def check_base_state_servable(base_state: Any) -> None:
  """Refuses bases whose state assumes that the params are their iterate."""
  for name, reason in _UNSERVABLE_BASES.items():
    if optax.tree.get_all_with_path(base_state, name):
      raise ValueError(
          f"trac cannot wrap this base optimizer (its state holds a {name}): "
          f"{reason}.")


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
