"""Beam search: the `beam_size` best partial hypotheses of each sentence, extended one token at
a time, ranked by GNMT score (length normalisation and, optionally, coverage penalty).

Each sentence keeps `beam_size` hypotheses, sorted by normalised score. At every step the
`beam_size` best of the `beam_size * vocab` one-token extensions are kept (`lax.top_k`); the
carry, the token and the attention histories follow their backpointers (row gathers on the flat
`[batch * beam_size]` axis). Only beam 0 is live at the start (the others begin finished at
-inf), so the first step expands one hypothesis. A finished hypothesis stays in the beam with its
scores frozen, extending only with PAD at zero cost, and competes with the live ones on
normalised score. Before a sentence's minimum length (`spec.min_len_a`, `min_len_b`) no
hypothesis ends (EOS and PAD extensions of live hypotheses are -inf).

Coverage penalty (`spec.coverage_penalty` = beta > 0; Wu et al. 2016, eq. 14): every step
ranks the extensions by `log_prob / lp + cp(coverage)`, where the coverage sums the attention of
the hypothesis' tokens so far, this one included (`scoring.coverage_penalty`), so a hypothesis that
leaves source positions unattended ranks lower. cp <= 0 and only grows as attention accumulates,
so the stopping bound below (cp = 0) still holds.

Stopping: a sentence is done when its `n_best` top hypotheses have finished and no live one can
still beat the n-th. Log-probabilities only fall and, for alpha >= 0, the length penalty is
largest at the sentence's length limit, so `log_probs / length_penalty(max_len)` bounds the final
score of a live hypothesis. (With alpha = 0 and n_best = 1: the best hypothesis has ended.) The
loop stops when every sentence is done, at the latest when all hypotheses reach the length limit
(NaN scores never compare as done: the limit still ends the loop). A sentence with fewer than
`n_best` possible outputs (a length limit of 1: EOS only) fills the rest with empty outputs
(length 0, all PAD) of log-probability -inf.
"""

import jax
import jax.numpy as jnp

from attn_seq2seq.search.scoring import coverage_penalty, normalise
from attn_seq2seq.search.spec import SearchOutput, SearchSpec
from attn_seq2seq.search.stepping import Decoding, suppress_early_end
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID


def beam_search(decoding: Decoding, spec: SearchSpec) -> SearchOutput:
  """The `spec.n_best` best hypotheses of each sentence, best first (`tokens [batch, n_best,
  max_steps]`, ...); `decoding` has `spec.beam_size` rows per sentence."""
  step, max_lens, max_steps = decoding.step, decoding.max_lens, decoding.max_steps
  beam_size, n_best, alpha, beta = spec.beam_size, spec.n_best, spec.alpha, spec.coverage_penalty
  src_mask = decoding.src_mask[:, None, :]  # [batch, 1, src_len]
  batch, src_len = max_lens.shape[0], decoding.src_len
  rows = batch * beam_size

  def done(s):
    """`[batch]`: the n_best top hypotheses have finished and no live one can overtake them."""
    bound = normalise(s["log_probs"], max_lens[:, None], alpha)  # [batch, beam]
    best_live = jnp.max(jnp.where(s["finished"], -jnp.inf, bound), axis=1)
    return jnp.all(s["finished"][:, :n_best], axis=1) & (s["scores"][:, n_best - 1] >= best_live)

  def body(s):
    t, finished, log_probs, lengths = s["t"], s["finished"], s["log_probs"], s["lengths"]
    carry, token_lp, attn = step(s["carry"], s["prev_ids"])  # [rows, vocab], [rows, src_len]
    vocab = token_lp.shape[-1]
    token_lp = suppress_early_end(token_lp.reshape(batch, beam_size, vocab), t, decoding.min_lens)
    ids = jnp.arange(vocab)
    token_lp = jnp.where((t + 1 >= max_lens)[:, None, None] & (ids != EOS_ID), -jnp.inf, token_lp)
    pad_only = jnp.where(ids == PAD_ID, 0.0, -jnp.inf)  # [vocab]: a finished hypothesis' extensions
    cand_lp = log_probs[..., None] + jnp.where(finished[..., None], pad_only, token_lp)  # [b, k, v]
    cand_scores = normalise(cand_lp, (lengths + ~finished)[..., None], alpha)  # [b, k, v]
    if beta:  # each hypothesis' coverage after this step (frozen once finished): [b, k, src_len]
      step_attn = jnp.where(finished[..., None], 0.0, attn.reshape(batch, beam_size, src_len))
      cand_coverage = s["coverage"] + step_attn
      cand_scores += coverage_penalty(cand_coverage, src_mask, beta)[..., None]  # [b, k, v]
    scores, top = jax.lax.top_k(cand_scores.reshape(batch, beam_size * vocab), beam_size)
    log_probs = jnp.take_along_axis(cand_lp.reshape(batch, beam_size * vocab), top, axis=1)
    parent = top // vocab  # [batch, beam]
    # A -inf slot holds no hypothesis (fewer than beam_size exist, e.g. with a length limit of 1).
    extends = ~jnp.take_along_axis(finished, parent, axis=1) & (log_probs > -jnp.inf)
    new_ids = jnp.where(extends, top % vocab, PAD_ID)  # [batch, beam]
    parent_rows = (jnp.arange(batch)[:, None] * beam_size + parent).reshape(rows)  # [rows]
    take_rows = lambda x: jnp.take(x, parent_rows, axis=0)
    attn = jnp.where(extends.reshape(rows, 1), take_rows(attn), 0.0)  # [rows, src_len]
    new = {}
    if beta:
      new["coverage"] = jnp.take_along_axis(cand_coverage, parent[..., None], axis=1)
    return new | {
      "t": t + 1,
      "carry": jax.tree.map(take_rows, carry),
      "prev_ids": new_ids.reshape(rows),
      "finished": ~extends | (new_ids == EOS_ID),
      "log_probs": log_probs,
      "scores": scores,
      "lengths": jnp.take_along_axis(lengths, parent, axis=1) + extends,
      "tokens": jax.lax.dynamic_update_index_in_dim(
        take_rows(s["tokens"]), new_ids.reshape(rows), t, axis=1
      ),
      "attn": jax.lax.dynamic_update_index_in_dim(take_rows(s["attn"]), attn, t, axis=1),
    }

  first_beam = jnp.arange(beam_size) == 0  # [beam]
  start = jnp.broadcast_to(jnp.where(first_beam, 0.0, -jnp.inf), (batch, beam_size))
  init = {
    "t": jnp.array(0, jnp.int32),
    "carry": decoding.carry,
    "prev_ids": jnp.full((rows,), BOS_ID, jnp.int32),
    "finished": jnp.broadcast_to(~first_beam, (batch, beam_size)),
    "log_probs": start,
    "scores": start,
    "lengths": jnp.zeros((batch, beam_size), jnp.int32),
    "tokens": jnp.full((rows, max_steps), PAD_ID, jnp.int32),
    "attn": jnp.zeros((rows, max_steps, src_len), jnp.float32),
  }
  if beta:  # the attention each source position has received, per hypothesis
    init["coverage"] = jnp.zeros((batch, beam_size, src_len), jnp.float32)
  s = jax.lax.while_loop(lambda s: (s["t"] < max_steps) & ~jnp.all(done(s)), body, init)
  best = lambda x: x.reshape((batch, beam_size) + x.shape[1:])[:, :n_best]  # [rows, ...] -> [b, n]
  return SearchOutput(
    best(s["tokens"]),
    s["lengths"][:, :n_best],
    s["log_probs"][:, :n_best],
    s["scores"][:, :n_best],
    best(s["attn"]),
    s["t"],
  )
