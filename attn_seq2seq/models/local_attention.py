"""Local attention (Luong et al. 2015, §3.1): each step attends within a window of half-width D
around an aligned source position p_t.

`ModelConfig.local_attention`:
  * `monotonic` (local-m): p_t = t, the (0-based) target step, clamped to the sentence's last
    position (len - 1) so that an output longer than its source still attends near its end:
    a_t = align(h_t, h_s), the scorer's softmax taken over the real positions of the window
    [p_t - D, p_t + D] only (Luong eq. 7 restricted to the window);
  * `predictive` (local-p): p_t = (S - 1) * sigmoid(v_p^T tanh(W_p h_t)) (eq. 9), S the
    sentence's real length (positions are 0-based here, so p_t lies in [0, S - 1]; Luong's S
    counts from 1), and the windowed weights are multiplied by a Gaussian centred there (eq. 10):
      a_t(s) = align(h_t, h_s) exp(-(s - p_t)^2 / (2 sigma^2)),   sigma = D / 2,
    positions with |s - p_t| > D masked. As in the paper the result is not renormalised, so
    local-p weights sum to at most 1. W_p `[hidden, hidden]`, v_p `[hidden]`.
`local_window` is D (Luong: 10). h_t is the decoder state that queries the scorer (Luong's h_t;
Bahdanau's s_{i-1}). Local attention works with every scorer, `location` included (its scores are
masked to the window like the others'); attention ablations, and coverage, act on the local
weights. With D at least the source length (and so a flat Gaussian), local attention is global.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.models.scorers import masked_softmax

LOCAL_ATTENTIONS = ("none", "monotonic", "predictive")


class PositionPredictor(nn.Module):
  """Local-p's p_t = (S - 1) * sigmoid(v_p^T tanh(W_p h_t)) (Luong et al. 2015, eq. 9)."""

  query_size: int
  dtype: Any = jnp.float32

  def setup(self):
    init = nn.initializers.lecun_normal()
    self.W_p = self.param("W_p", init, (self.query_size, self.query_size))
    self.v_p = self.param(
      "v_p", nn.initializers.normal(1.0 / self.query_size**0.5), (self.query_size,)
    )

  def weights(self) -> dict[str, jax.Array]:
    """The per-step weights, fetched outside the scan."""
    return {"W_p": self.W_p.astype(self.dtype), "v_p": self.v_p.astype(self.dtype)}


def predicted_positions(w, query: jax.Array, src_lengths: jax.Array) -> jax.Array:
  """`query [batch, q, hidden]`, `src_lengths [batch]` -> p_t `[batch, q]` float32 in
  [0, len - 1]."""
  logit = (jnp.tanh(query @ w["W_p"]) @ w["v_p"]).astype(jnp.float32)  # [batch, q]
  last = jnp.maximum(src_lengths - 1, 0).astype(jnp.float32)[:, None]  # [batch, 1]
  return last * jax.nn.sigmoid(logit)


def monotonic_positions(steps: jax.Array, src_lengths: jax.Array) -> jax.Array:
  """Local-m's p_t = t: `steps [batch, q]` int -> `[batch, q]` float32, clamped to [0, len - 1]."""
  last = jnp.maximum(src_lengths - 1, 0)[:, None]  # [batch, 1]
  return jnp.minimum(steps, last).astype(jnp.float32)


def window(positions: jax.Array, src_mask: jax.Array, half_width: int) -> jax.Array:
  """`positions [batch, q]`, `src_mask [batch, src_len]` -> `[batch, q, src_len]` bool: the real
  positions s with |s - p_t| <= D."""
  s = jnp.arange(src_mask.shape[1], dtype=jnp.float32)[None, None, :]  # [1, 1, src_len]
  near = jnp.abs(s - positions[..., None]) <= half_width  # [batch, q, src_len]
  return near & src_mask[:, None, :]


def local_weights(
  kind: str, scores: jax.Array, src_mask: jax.Array, positions: jax.Array, half_width: int
) -> jax.Array:
  """The local attention weights `[batch, q, src_len]` float32 of `scores [batch, q, src_len]`
  around `positions [batch, q]`: the softmax over the window, times the Gaussian for local-p."""
  attn = masked_softmax(scores, window(positions, src_mask, half_width))
  if kind == "predictive":
    attn = attn * gaussian(positions, src_mask.shape[1], half_width)
  return attn


def gaussian(positions: jax.Array, src_len: int, half_width: int) -> jax.Array:
  """exp(-(s - p_t)^2 / (2 (D / 2)^2)): `positions [batch, q]` -> `[batch, q, src_len]`."""
  s = jnp.arange(src_len, dtype=jnp.float32)[None, None, :]  # [1, 1, src_len]
  sigma = half_width / 2.0
  return jnp.exp(-jnp.square(s - positions[..., None]) / (2.0 * sigma * sigma))
