"""Attention ablations: how much does a trained model rely on where its attention goes?

`ModelConfig.attention_ablation` replaces, at every decoder step (teacher forcing and search
alike), what the attention decoders take from the source:
  * `none`: the model's own weights and context (the default);
  * `uniform`: equal weight 1 / len on every real source position (the context is the mean of the
    encoder states), whatever the scorer says;
  * `shuffled`: the model's weights permuted over the real positions by a fixed rotation of
    floor(len / 2) places within each sentence's own length (`rotate_within_lengths`): the same
    multiset of weights (as peaked as the model's), each moved about half a sentence away (no
    weight stays in place for len >= 2), deterministic, so no random key is needed at evaluation;
  * `zero_context`: the context vector replaced by zeros; the reported weights are the model's.
The reported attention weights are the ones the context was computed from (the model's own under
`zero_context`). An ablation adds and removes no parameter, so a trained run's parameters load
into the ablated model: `build_model(dataclasses.replace(config, attention_ablation="uniform"),
...)`. The fixed-vector decoders have no attention and ignore it.
"""

import dataclasses

import jax
import jax.numpy as jnp

ATTENTION_ABLATIONS = ("none", "uniform", "shuffled", "zero_context")


def with_ablation(model, ablation: str):
  """The `Seq2Seq` module `model` with `attention_ablation=ablation`: the same parameters load."""
  return model.clone(config=dataclasses.replace(model.config, attention_ablation=ablation))


def uniform_weights(src_mask: jax.Array) -> jax.Array:
  """`src_mask [batch, src_len]` -> `[batch, src_len]` float32: 1 / len on each real position,
  0 on padding (and on every position of a dummy row without real positions)."""
  mask = src_mask.astype(jnp.float32)
  return mask / jnp.maximum(mask.sum(-1, keepdims=True), 1.0)


def rotate_within_lengths(attn_weights: jax.Array, src_mask: jax.Array) -> jax.Array:
  """Rotate `attn_weights [batch, queries, src_len]` by floor(len / 2) places within each row's
  real length: position s < len takes the weight of position (s + floor(len / 2)) mod len;
  padding stays in place (and 0)."""
  lengths = src_mask.sum(-1)[:, None, None]  # [batch, 1, 1]
  positions = jnp.arange(src_mask.shape[1])[None, None, :]  # [1, 1, src_len]
  rotated = (positions + lengths // 2) % jnp.maximum(lengths, 1)  # [batch, 1, src_len]
  idx = jnp.where(positions < lengths, rotated, positions)
  return jnp.take_along_axis(attn_weights, jnp.broadcast_to(idx, attn_weights.shape), axis=-1)
