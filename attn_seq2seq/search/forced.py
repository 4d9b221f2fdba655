"""Forced decoding: the log-probability a model gives a given output, through the search's step.

    forced = force_decode(model, variables, src_ids, src_lengths, tgt_ids, tgt_lengths, spec)
    forced.log_probs          # [batch]: log p(target + EOS | source)
    forced.token_log_probs    # [batch, tgt_len + 1]: each target token's term, then EOS's

Teacher forcing through the very step function greedy and beam search run (`stepping.start`),
one `lax.scan` over output positions: the log-probability of a search's own output equals the
search's `log_probs`. `model` may be an ensemble (a tuple of models, see `stepping.start`);
of `spec`, only `ensemble` (how the members combine) matters here.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from attn_seq2seq.search import stepping
from attn_seq2seq.search.spec import SearchSpec
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Forced:
  """What `force_decode` returns; positions are the target tokens, then EOS.

  tokens:          `[batch, tgt_len + 1]` int32, the target, EOS at `tgt_lengths`, PAD after.
  token_log_probs: `[batch, tgt_len + 1]` float32, each token's model log-probability (0 after
                   EOS).
  log_probs:       `[batch]` float32, their sum (EOS included).
  attn_weights:    `[batch, tgt_len + 1, src_len]` float32, the attention of each output token
                   (0 after EOS).
  predicted:       `[batch, tgt_len + 1]` int32, the most probable token at each position given
                   the target before it (teacher-forced next-token accuracy).
  """

  tokens: jax.Array
  token_log_probs: jax.Array
  log_probs: jax.Array
  attn_weights: jax.Array
  predicted: jax.Array


@functools.partial(jax.jit, static_argnames=("model", "spec"))
def force_decode(
  model,
  variables,
  src_ids: jax.Array,
  src_lengths: jax.Array,
  tgt_ids: jax.Array,
  tgt_lengths: jax.Array,
  spec: SearchSpec | None = None,
) -> Forced:
  """Scores `tgt_ids [batch, tgt_len]` (no BOS or EOS, PAD after `tgt_lengths [batch]`) as the
  outputs of `src_ids [batch, src_len]`, `src_lengths [batch]` (see `Forced`)."""
  spec = spec or SearchSpec()
  batch, tgt_len = tgt_ids.shape
  positions = jnp.arange(tgt_len + 1)  # [tgt_len + 1]
  padded = jnp.pad(tgt_ids, ((0, 0), (0, 1)), constant_values=PAD_ID)  # [batch, tgt_len + 1]
  tokens = jnp.where(positions == tgt_lengths[:, None], EOS_ID, padded)
  tokens = jnp.where(positions > tgt_lengths[:, None], PAD_ID, tokens).astype(jnp.int32)
  prev_ids = jnp.concatenate([jnp.full((batch, 1), BOS_ID, jnp.int32), tokens[:, :-1]], axis=1)
  one_row = dataclasses.replace(spec, beam_size=1, n_best=1)  # one row per sentence
  decoding = stepping.start(model, variables, src_ids, src_lengths, one_row)

  def body(carry, ids):  # ids: (prev_ids, tokens) at one position, each [batch]
    carry, token_lp, attn = decoding.step(carry, ids[0])  # [batch, vocab], [batch, src_len]
    lp = jnp.take_along_axis(token_lp, ids[1][:, None], axis=-1)[:, 0]  # [batch]
    return carry, (lp, attn, jnp.argmax(token_lp, axis=-1).astype(jnp.int32))

  _, (token_lp, attn, predicted) = jax.lax.scan(body, decoding.carry, (prev_ids.T, tokens.T))
  real = positions <= tgt_lengths[:, None]  # [batch, tgt_len + 1]: the target and its EOS
  token_lp = jnp.where(real, token_lp.T, 0.0)
  attn = jnp.where(real[..., None], attn.swapaxes(0, 1), 0.0)  # [batch, tgt_len + 1, src_len]
  return Forced(tokens, token_lp, jnp.sum(token_lp, axis=1), attn, predicted.T)
