"""Greedy search: at every position, the most probable next token of each sentence.

One `lax.while_loop` over output positions, batched over sentences (one row each). A sentence
stops at its first EOS; at its length limit only EOS is allowed, so every output ends with EOS,
and a forced EOS is scored with its model log-probability like any other token. The loop stops
as soon as every sentence has finished, and never runs for more than `max_steps`. Before a
sentence's minimum length (`spec.min_len_a`, `min_len_b`) EOS (or PAD) is never chosen.
`spec.alpha` and `spec.coverage_penalty` only set `scores`; the search ignores them.
"""

import jax
import jax.numpy as jnp

from attn_seq2seq.search.scoring import coverage_penalty, normalise
from attn_seq2seq.search.spec import SearchOutput, SearchSpec
from attn_seq2seq.search.stepping import Decoding, suppress_early_end
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID


def greedy_search(decoding: Decoding, spec: SearchSpec) -> SearchOutput:
  """The greedy output of each sentence as a `SearchOutput` with `n_best` = 1 (`tokens [batch,
  1, max_steps]`, ...); `decoding` has one row per sentence."""
  step, max_lens, max_steps = decoding.step, decoding.max_lens, decoding.max_steps
  batch, src_len, beta = max_lens.shape[0], decoding.src_len, spec.coverage_penalty

  def body(s):
    t, finished = s["t"], s["finished"]
    carry, token_lp, attn = step(s["carry"], s["prev_ids"])  # [batch, vocab], [batch, src_len]
    token_lp = suppress_early_end(token_lp, t, decoding.min_lens)
    ids = jnp.argmax(token_lp, axis=-1).astype(jnp.int32)
    ids = jnp.where(finished, PAD_ID, jnp.where(t + 1 >= max_lens, EOS_ID, ids))  # [batch]
    alive = ~finished
    lp = jnp.take_along_axis(token_lp, ids[:, None], axis=-1)[:, 0]  # [batch]
    attn = jnp.where(alive[:, None], attn, 0.0)  # [batch, src_len]
    new = {} if not beta else {"coverage": s["coverage"] + attn}
    return new | {
      "t": t + 1,
      "carry": carry,
      "prev_ids": ids,
      "finished": finished | (ids == EOS_ID),
      "log_probs": s["log_probs"] + jnp.where(alive, lp, 0.0),
      "lengths": s["lengths"] + alive,
      "tokens": jax.lax.dynamic_update_index_in_dim(s["tokens"], ids, t, axis=1),
      "attn": jax.lax.dynamic_update_index_in_dim(s["attn"], attn, t, axis=1),
    }

  init = {
    "t": jnp.array(0, jnp.int32),
    "carry": decoding.carry,
    "prev_ids": jnp.full((batch,), BOS_ID, jnp.int32),
    "finished": jnp.zeros((batch,), bool),
    "log_probs": jnp.zeros((batch,), jnp.float32),
    "lengths": jnp.zeros((batch,), jnp.int32),
    "tokens": jnp.full((batch, max_steps), PAD_ID, jnp.int32),
    "attn": jnp.zeros((batch, max_steps, src_len), jnp.float32),
  }
  if beta:  # the attention each source position has received: [batch, src_len]
    init["coverage"] = jnp.zeros((batch, src_len), jnp.float32)
  s = jax.lax.while_loop(lambda s: (s["t"] < max_steps) & ~jnp.all(s["finished"]), body, init)
  scores = normalise(s["log_probs"], s["lengths"], spec.alpha)  # [batch]
  if beta:
    scores = scores + coverage_penalty(s["coverage"], decoding.src_mask, beta)
  one = lambda x: x[:, None]  # [batch, ...] -> [batch, n_best = 1, ...]
  return SearchOutput(
    one(s["tokens"]),
    one(s["lengths"]),
    one(s["log_probs"]),
    one(scores),
    one(s["attn"]),
    s["t"],
  )
