"""Parameter counts, so a fixed-vector baseline can be matched to an attention model's size."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from attn_seq2seq.models.seq2seq import build_model


def count_params(params) -> int:
  """Number of scalars in a parameter pytree (arrays or ShapeDtypeStructs)."""
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def abstract_params(model_config: ml_collections.ConfigDict, src_vocab_size: int, tgt_vocab_size: int):
  """The parameter pytree's shapes, without allocating or computing anything."""
  model = build_model(model_config, src_vocab_size, tgt_vocab_size)
  ids = jnp.ones((1, 2), jnp.int32)
  init = lambda: model.init(jax.random.key(0), ids, jnp.array([2]), ids)["params"]
  return jax.eval_shape(init)


def param_table(params) -> str:
  """One line per top-level module and a total, e.g. for the start of a training log."""
  rows = [(name, count_params(sub)) for name, sub in params.items()]
  rows.append(("total", count_params(params)))
  width = max(len(name) for name, _ in rows)
  return "\n".join(f"{name:<{width}}  {n:>12,}" for name, n in rows)


def matching_hidden_size(model_config: ml_collections.ConfigDict, target: int, src_vocab_size: int,
                         tgt_vocab_size: int) -> int:
  """The `hidden_size` at which `model_config` has the parameter count closest to `target`.

  With every other size fixed, each weight is a product of at most two sizes, so the count is a
  quadratic a h^2 + b h + c in the hidden size h: three shape-only evaluations determine it exactly.
  """
  def size(hidden: int) -> int:
    config = ml_collections.ConfigDict(dict(model_config.to_dict(), hidden_size=hidden))
    return count_params(abstract_params(config, src_vocab_size, tgt_vocab_size))

  probes = (2, 4, 6)
  a, b, c = np.polyfit(probes, [size(h) for h in probes], 2)  # exact through three points
  h = (-b + np.sqrt(b * b - 4 * a * (c - target))) / (2 * a)  # the positive root
  candidates = {max(1, int(np.floor(h))), max(1, int(np.ceil(h)))}
  return min(candidates, key=lambda n: abs(a * n * n + b * n + c - target))
