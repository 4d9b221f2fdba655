"""Stacked uni- or bidirectional RNN encoder that honours every sentence's own length.

Both directions of a layer run in one `lax.scan` (the per-direction cell steps are vmapped over a
leading direction axis), so a bidirectional layer costs as many sequential steps as a
unidirectional one. The backward direction reads each sentence reversed *within its own length*
(`reverse_within_lengths`), so it starts at the sentence's last real token, never at padding; the
carry is frozen past the length, so the final carry of each direction is its state after the last
real token. The input projection of each layer (both directions) is one matmul over all positions,
outside the scan. (`nn.Bidirectional(nn.RNN(...))` would compute the input projection inside the
scan and run the directions one after the other, which is what this avoids.)
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.models.cells import make_cell


def reverse_within_lengths(x: jax.Array, lengths: jax.Array) -> jax.Array:
  """Reverse `x [batch, time, ...]` along time within each row's length; padding stays in place."""
  time = jnp.arange(x.shape[1])[None, :]  # [1, time]
  idx = jnp.where(time < lengths[:, None], lengths[:, None] - 1 - time, time)  # [batch, time]
  idx = idx.reshape(idx.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, idx, axis=1)


class RNNEncoder(nn.Module):
  """Embedded source `[batch, src_len, embed]` -> per-position states and a final summary.

  Returns `(enc_outputs [batch, src_len, dirs*hidden], summary [batch, dirs*hidden])`, where the
  summary concatenates the top layer's final forward state (after the last real token) and final
  backward state (after reading back to the first token). Outputs at padded positions are zero.
  """

  cell: str = "gru"
  hidden_size: int = 256
  num_layers: int = 1
  bidirectional: bool = True
  dropout: float = 0.0  # between stacked layers
  dtype: Any = jnp.float32

  @property
  def output_size(self) -> int:
    return (2 if self.bidirectional else 1) * self.hidden_size

  @nn.compact
  def __call__(self, embedded: jax.Array, src_lengths: jax.Array, *, train: bool = False):
    src_mask = jnp.arange(embedded.shape[1])[None, :] < src_lengths[:, None]  # [batch, src_len]
    x = embedded
    for layer in range(self.num_layers):
      if layer > 0:
        x = nn.Dropout(self.dropout)(x, deterministic=not train)
      x, final_h = self._layer(x, src_lengths, src_mask, layer)
    enc_outputs = x * src_mask[..., None].astype(x.dtype)
    return enc_outputs, final_h

  def _layer(self, x, src_lengths, src_mask, layer):
    """One (bi)directional layer: `[batch, src_len, in]` -> `[batch, src_len, dirs*hidden]`."""
    dirs = 2 if self.bidirectional else 1
    names = ("fwd", "bwd")[:dirs]
    cells = [
      make_cell(self.cell, self.hidden_size, self.dtype, name=f"l{layer}_{d}") for d in names
    ]
    gates = cells[0].gates_size
    x_proj = nn.Dense(dirs * gates, dtype=self.dtype, name=f"l{layer}_input")(x)  # [b, s, dirs*g]
    x_proj = jnp.split(x_proj, dirs, axis=-1)
    if self.bidirectional:
      x_proj[1] = reverse_within_lengths(x_proj[1], src_lengths)
    xs = jnp.stack(x_proj, axis=0).transpose(2, 0, 1, 3)  # [src_len, dirs, batch, gates]
    valid = src_mask.T[:, :, None]  # [src_len, batch, 1]

    weights = jax.tree.map(lambda *w: jnp.stack(w), *[c.weights() for c in cells])  # [dirs, ...]
    step = jax.vmap(cells[0].step)  # over the direction axis
    batch = x.shape[0]
    carry = cells[0].carry_from(jnp.zeros((dirs, batch, self.hidden_size), self.dtype))

    def body(carry, inputs):
      x_t, valid_t = inputs
      new = step(weights, carry, x_t)
      carry = jax.tree.map(lambda n, o: jnp.where(valid_t, n, o), new, carry)  # freeze past length
      return carry, new["h"]

    carry, hs = jax.lax.scan(body, carry, (xs, valid))  # hs: [src_len, dirs, batch, hidden]
    hs = list(hs.transpose(1, 2, 0, 3))  # dirs x [batch, src_len, hidden]
    if self.bidirectional:
      hs[1] = reverse_within_lengths(hs[1], src_lengths)
    outputs = jnp.concatenate(hs, axis=-1)  # [batch, src_len, dirs*hidden]
    final_h = jnp.concatenate(list(carry["h"]), axis=-1)  # [batch, dirs*hidden]
    return outputs, final_h
