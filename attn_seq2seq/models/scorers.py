"""Attention scorers, the masked softmax and the context vector.

Notation: queries `q [batch, queries, query]` are decoder states, `h_s [batch, src_len, key]` are
encoder states. `queries` is 1 in teacher forcing and the beam size in beam search: the beams of
a sentence share its keys and states instead of each holding a copy. Every scorer splits its
work in two so the decoder's time scan stays lean:
  * `project_keys(enc_outputs)` runs once per sentence, before the decoder scan;
  * `score(w, q, keys) -> [batch, queries, src_len]` runs at every decoder step; it is a pure
    function of the weight dict `w = scorer.weights()` (fetched outside the scan).
Dot-family scorers need `query == key`; when the sizes differ (a bidirectional encoder of `hidden`
per direction feeding a decoder of `hidden`), the keys are first mapped to the query size by a
learned linear map, once per sentence.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.choices import check_choice

SCORERS = ("dot", "scaled_dot", "general", "additive", "cosine", "location")


def masked_softmax(scores: jax.Array, src_mask: jax.Array) -> jax.Array:
  """Softmax over real positions: weights are exactly 0 on padding and sum to 1 over the rest.

  scores: `[batch, ..., src_len]`, src_mask: `[batch, src_len]` (or a mask shaped like
  `scores`, e.g. a local attention window). Masks with `finfo.min`, not `-inf`, so a row without
  real positions (a dummy padding row) gives zeros instead of NaN. Computed in float32.
  """
  if src_mask.ndim != scores.ndim:
    src_mask = src_mask.reshape(src_mask.shape[:1] + (1,) * (scores.ndim - 2) + src_mask.shape[1:])
  scores = scores.astype(jnp.float32)
  scores = jnp.where(src_mask, scores, jnp.finfo(jnp.float32).min)
  return jax.nn.softmax(scores, axis=-1) * src_mask


def attend(attn_weights: jax.Array, enc_outputs: jax.Array) -> jax.Array:
  """Context `c = sum_s a_s h_s`: `[batch, queries, src_len] x [batch, src_len, key]
  -> [batch, queries, key]`."""
  return jnp.einsum("bqs,bsk->bqk", attn_weights.astype(enc_outputs.dtype), enc_outputs)


class Scorer(nn.Module):
  """Base: sizes and the key-to-query map shared by the dot family."""

  query_size: int
  key_size: int
  attention_size: int = 0  # additive only
  max_src_len: int = 0  # location only
  coverage: bool = False  # additive only: score also reads a coverage vector (coverage.py)
  dtype: Any = jnp.float32

  def _key_map(self):
    """A linear map of keys to the query size, or None when the sizes already agree."""
    if self.key_size == self.query_size:
      return None
    return nn.Dense(self.query_size, use_bias=False, dtype=self.dtype, name="key_map")

  def setup(self):
    self.key_map = self._key_map()

  def project_keys(self, enc_outputs: jax.Array) -> jax.Array:
    """`[batch, src_len, key] -> [batch, src_len, query]`, once per sentence."""
    return enc_outputs if self.key_map is None else self.key_map(enc_outputs)

  def weights(self) -> dict[str, jax.Array]:
    return {}


class Dot(Scorer):
  """Luong et al. 2015, eq. (8) "dot": score(h_t, h_s) = h_t^T h_s."""

  @staticmethod
  def score(w, q, keys):
    return jnp.einsum("bnq,bsq->bns", q, keys)  # [batch, queries, src_len]


class ScaledDot(Scorer):
  """Scaled dot product (Vaswani et al. 2017, eq. 1): score(h_t, h_s) = h_t^T h_s / sqrt(d)."""

  def weights(self):
    return {"scale": jnp.asarray(1.0 / math.sqrt(self.query_size), self.dtype)}

  @staticmethod
  def score(w, q, keys):
    return jnp.einsum("bnq,bsq->bns", q, keys) * w["scale"]  # [batch, queries, src_len]


class General(Dot):
  """Luong et al. 2015, eq. (8) "general": score(h_t, h_s) = h_t^T W_a h_s.

  `W_a h_s` does not depend on the decoder, so it is the key projection, computed once.
  """

  def _key_map(self):
    return nn.Dense(self.query_size, use_bias=False, dtype=self.dtype, name="W_a")


class Additive(Scorer):
  """Bahdanau et al. 2015, §A.1.2: score(s_{i-1}, h_j) = v_a^T tanh(W_a s_{i-1} + U_a h_j).

  `U_a h_j` is the key projection (once per sentence); `W_a s_{i-1}` is computed per step.
  With `coverage` (Tu et al. 2016, eq. 4; See et al. 2017, eq. 11) the tanh also reads the
  coverage C_{i-1,j} of each position: + V_c C_{i-1,j}, with V_c `[attention]` zero-initialised.
  """

  def setup(self):
    a = self.attention_size
    self.U_a = nn.Dense(a, use_bias=False, dtype=self.dtype, name="U_a")
    self.W_a = self.param("W_a", nn.initializers.lecun_normal(), (self.query_size, a))
    self.v_a = self.param("v_a", nn.initializers.normal(1.0 / math.sqrt(a)), (a,))
    if self.coverage:
      self.V_c = self.param("V_c", nn.initializers.zeros_init(), (a,))

  def project_keys(self, enc_outputs):
    return self.U_a(enc_outputs)  # [batch, src_len, attention]

  def weights(self):
    w = {"W_a": self.W_a.astype(self.dtype), "v_a": self.v_a.astype(self.dtype)}
    if self.coverage:
      w["V_c"] = self.V_c.astype(self.dtype)
    return w

  @staticmethod
  def score(w, q, keys, coverage=None):
    """`coverage [batch, queries, src_len]` (only with the `coverage` option)."""
    pre = keys[:, None] + (q @ w["W_a"])[:, :, None]  # [batch, queries, src_len, attn]
    if coverage is not None:
      pre = pre + coverage.astype(pre.dtype)[..., None] * w["V_c"]
    return jnp.tanh(pre) @ w["v_a"]  # [batch, queries, src_len]


class Cosine(Scorer):
  """Cosine similarity with a learnable inverse temperature:

    score(h_t, h_s) = exp(g) * cos(h_t, h_s),   g learnable, exp(g) initialised to 10.
  Keys are L2-normalised once per sentence; cos(.) is bounded, so without the scale the softmax
  could never become sharp.
  """

  def setup(self):
    super().setup()
    self.log_scale = self.param("log_scale", nn.initializers.constant(math.log(10.0)), ())

  def project_keys(self, enc_outputs):
    return _l2_normalize(super().project_keys(enc_outputs))

  def weights(self):
    return {"scale": jnp.exp(self.log_scale).astype(self.dtype)}

  @staticmethod
  def score(w, q, keys):
    return jnp.einsum("bnq,bsq->bns", _l2_normalize(q), keys) * w["scale"]  # [b, queries, s]


class Location(Scorer):
  """Luong et al. 2015, eq. (9) "location": a_t = softmax(W_a h_t), from the query alone.

  `W_a` scores `max_src_len` positions; the masked softmax restricts them to the sentence.
  Positions at or beyond `max_src_len` cannot be addressed and get weight 0. The "keys" are an
  empty `[batch, src_len, 0]` array that only carries the source length.
  """

  def setup(self):
    self.W_a = self.param(
      "W_a", nn.initializers.lecun_normal(), (self.query_size, self.max_src_len)
    )
    self.b_a = self.param("b_a", nn.initializers.zeros_init(), (self.max_src_len,))

  def project_keys(self, enc_outputs):
    return enc_outputs[..., :0]  # [batch, src_len, 0]

  def weights(self):
    return {"W_a": self.W_a.astype(self.dtype), "b_a": self.b_a.astype(self.dtype)}

  @staticmethod
  def score(w, q, keys):
    src_len, max_len = keys.shape[1], w["b_a"].shape[0]
    scores = q @ w["W_a"] + w["b_a"]  # [batch, queries, max_src_len]
    if src_len <= max_len:
      return scores[..., :src_len]
    unreachable = jnp.full(
      q.shape[:2] + (src_len - max_len,), jnp.finfo(scores.dtype).min, scores.dtype
    )
    return jnp.concatenate([scores, unreachable], axis=-1)  # [batch, queries, src_len]


def _l2_normalize(x: jax.Array, eps: float = 1e-6) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


_CLASSES = {
  "dot": Dot,
  "scaled_dot": ScaledDot,
  "general": General,
  "additive": Additive,
  "cosine": Cosine,
  "location": Location,
}


def make_scorer(kind: str, **kwargs) -> Scorer:
  """`kind` in SCORERS -> a scorer module; anything else is a ValueError naming the choices."""
  check_choice("scorer", kind, SCORERS)
  return _CLASSES[kind](**kwargs)
