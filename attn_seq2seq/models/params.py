"""Model parameters: the one way to initialise them, their shapes, counts, and size matching, so
a fixed-vector baseline can be matched to an attention model's size."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from attn_seq2seq.models.model_config import ModelConfig
from attn_seq2seq.models.seq2seq import Seq2Seq, build_model


def init_params(model: Seq2Seq, key: jax.Array):
  """Freshly initialised parameters of `model` (the `params` collection): the only place that
  builds dummy inputs for `model.init`. No parameter shape depends on the input's shape, so one
  sentence of two tokens on each side suffices."""
  ids = jnp.ones((1, 2), jnp.int32)  # [batch=1, len=2]
  return model.init(key, ids, jnp.array([2], jnp.int32), ids)["params"]


def abstract_params(model: Seq2Seq):
  """The parameter pytree's shapes (`jax.ShapeDtypeStruct`s), without allocating or computing
  anything."""
  return jax.eval_shape(functools.partial(init_params, model), jax.random.key(0))


def count_params(params) -> int:
  """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs)."""
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def param_table(params) -> str:
  """One line per top-level module and a total, e.g. for the start of a training log."""
  rows = [(name, count_params(sub)) for name, sub in params.items()]
  rows.append(("total", count_params(params)))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {n:>12,}" for name, n in rows)


def matching_hidden_size(
  config: ModelConfig, target: int, src_vocab_size: int, tgt_vocab_size: int
) -> int:
  """The `hidden_size` at which `config` has the parameter count closest to `target`.

  With every other size fixed, each weight is a product of at most two sizes, so the count is a
  quadratic a h^2 + b h + c in the hidden size h: three shape-only evaluations determine it exactly.
  With `split_directions` (each encoder direction gets h / 2 units) only even sizes are allowed,
  and the answer is even.
  """

  def size(hidden: int) -> int:
    model = build_model(
      dataclasses.replace(config, hidden_size=hidden), src_vocab_size, tgt_vocab_size
    )
    return count_params(abstract_params(model))

  probes = (2, 4, 6)
  a, b, c = np.polyfit(probes, [size(h) for h in probes], 2)  # exact through three points
  h = (-b + np.sqrt(b * b - 4 * a * (c - target))) / (2 * a)  # the positive root
  step = 2 if config.split_directions else 1  # the allowed sizes are multiples of `step`
  candidates = {step * max(1, int(np.floor(h / step))), step * max(1, int(np.ceil(h / step)))}
  return min(candidates, key=lambda n: abs(a * n * n + b * n + c - target))
