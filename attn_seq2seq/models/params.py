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
                         tgt_vocab_size: int, lo: int = 8, hi: int = 4096) -> int:
  """The `hidden_size` at which `model_config` has the parameter count closest to `target`.

  The count grows monotonically with the hidden size, so a binary search finds the crossing.
  """
  def size(hidden: int) -> int:
    config = _with(model_config, hidden_size=hidden)
    return count_params(abstract_params(config, src_vocab_size, tgt_vocab_size))

  while hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (mid, hi) if size(mid) < target else (lo, mid)
  return min((lo, hi), key=lambda h: abs(size(h) - target))


def _with(config: ml_collections.ConfigDict, **overrides) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(config.to_dict())
  config.update(overrides)
  return config
