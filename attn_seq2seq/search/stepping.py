"""The decoder a search drives: the source encoded once, then one step per output position.

`start(model, variables, src_ids, src_lengths, spec)` encodes the source and returns a
`Decoding`: a pure `step(carry, prev_ids) -> (carry, token_log_probs, attn_weights)` closed over
the encoded source, the initial carry of every row, and each sentence's output length limit.

Ensembles: `model` may be a tuple of models (with a tuple of their variables) sharing the target
vocabulary; each member encodes the source and steps its own carry, and `combine` turns their
next-token distributions into one (`spec.ensemble`: log-linear or linear), inside the same jitted
loop. The searches see one distribution and one attention (the members' mean).

Rows: greedy search decodes one row per sentence, beam search `spec.beam_size` consecutive rows
(`rows = batch * beam_size`, the beams of sentence b are rows b * beam_size ... (b + 1) *
beam_size - 1). Only the initial carry is repeated over the beams; their queries attend to their
sentence's one copy of the encoded source. The model's `Seq2Seq.decode_step(..., beams=)` is that
same count, the rows per sentence of its carry, under the model's own name: the search passes
`beams=spec.beam_size` (1 for greedy search).
"""

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from attn_seq2seq.search.spec import SearchSpec
from attn_seq2seq.tokens import EOS_ID, PAD_ID


class Decoding(NamedTuple):
  """What a search loop needs (built inside the jitted `decode`)."""

  # (carry, prev_ids [rows]) -> (carry, token log-probabilities [rows, vocab] float32,
  # attn_weights [rows, src_len])
  step: Callable[[Any, jax.Array], tuple[Any, jax.Array, jax.Array]]
  carry: Any  # the initial carry: a pytree of [rows, ...] arrays
  max_lens: jax.Array  # [batch] int32: output limit of each sentence, EOS included
  min_lens: jax.Array | None  # [batch] int32: no EOS (or PAD) before; None: no minimum (static)
  src_mask: jax.Array  # [batch, src_len] bool: real source positions
  max_steps: int  # static: length of the output buffers, >= every max_lens
  src_len: int  # static: width of src_ids (the attention's last axis)


def start(model, variables, src_ids: jax.Array, src_lengths: jax.Array, spec: SearchSpec):
  """Encodes `src_ids [batch, src_len]` once and returns the `Decoding` of `spec` (rows per
  sentence: `spec.beam_size`). `model` is a `Seq2Seq` with its `variables`, or an ensemble: a
  tuple of models with a tuple of their variables (see `members`)."""
  max_steps = spec.max_steps
  if max_steps is None:
    max_steps = max(1, math.ceil(spec.max_len_a * src_ids.shape[1] + spec.max_len_b))
  limit = jnp.ceil(spec.max_len_a * src_lengths.astype(jnp.float32) + spec.max_len_b)
  max_lens = jnp.clip(limit.astype(jnp.int32), 1, max_steps)  # [batch]
  min_lens = None
  if spec.has_min_len:  # below the limit, where EOS is forced
    minimum = jnp.ceil(spec.min_len_a * src_lengths.astype(jnp.float32) + spec.min_len_b)
    min_lens = jnp.minimum(minimum.astype(jnp.int32), max_lens - 1)  # [batch]
  steps, carries = [], []
  for member, member_variables in members(model, variables):
    step, carry = _member(member, member_variables, src_ids, src_lengths, spec.beam_size)
    steps.append(step)
    carries.append(carry)

  def step(carry, prev_ids):  # carry: one per member
    stepped = [member_step(c, prev_ids) for member_step, c in zip(steps, carry, strict=True)]
    new_carry, token_lps, attns = zip(*stepped, strict=True)
    return new_carry, *combine(token_lps, attns, spec.ensemble)

  src_mask = jnp.arange(src_ids.shape[1])[None, :] < src_lengths[:, None]  # [batch, src_len]
  return Decoding(step, tuple(carries), max_lens, min_lens, src_mask, max_steps, src_ids.shape[1])


def members(model, variables) -> list[tuple]:
  """`[(model, variables)]` of a single model, or one pair per member of an ensemble (`model` and
  `variables` tuples of the same length)."""
  if not isinstance(model, tuple):
    return [(model, variables)]
  if not isinstance(variables, tuple) or len(variables) != len(model):
    raise ValueError("an ensemble needs a tuple of variables, one per model")
  return list(zip(model, variables, strict=True))


def _member(model, variables, src_ids, src_lengths, beam_size: int):
  """One model's `(step(carry, prev_ids) -> (carry, token log-probs, attn), initial carry)`."""
  encoded = model.apply(variables, src_ids, src_lengths, method=model.encode)
  carry = model.apply(variables, encoded, method=model.initial_state)  # [batch, ...]
  if beam_size > 1:
    carry = jax.tree.map(lambda x: jnp.repeat(x, beam_size, axis=0), carry)  # [rows, ...]

  def step(carry, prev_ids):
    carry, logits, attn = model.apply(
      variables, encoded, carry, prev_ids, method=model.decode_step, beams=beam_size
    )
    return carry, jax.nn.log_softmax(logits), attn  # [rows, vocab], [rows, src_len]

  return step, carry


def combine(token_lps: Sequence[jax.Array], attns: Sequence[jax.Array], how: str):
  """The ensemble's next-token log-probabilities `[rows, vocab]` and attention `[rows, src_len]`
  from its members' (one member: its own, untouched). `how`: `log_linear`, the normalised
  geometric mean of the members' distributions (log_softmax of the average log-probability);
  `linear`, their arithmetic mean (log of the average probability). Attention: the mean."""
  if len(token_lps) == 1:
    return token_lps[0], attns[0]
  stacked = jnp.stack(token_lps)  # [members, rows, vocab]
  if how == "log_linear":
    token_lp = jax.nn.log_softmax(jnp.mean(stacked, axis=0))
  else:  # linear
    token_lp = jax.nn.logsumexp(stacked, axis=0) - jnp.log(float(len(token_lps)))
  return token_lp, jnp.mean(jnp.stack(attns), axis=0)  # [rows, vocab], [rows, src_len]


def suppress_early_end(token_lp: jax.Array, t: jax.Array, min_lens: jax.Array | None) -> jax.Array:
  """`token_lp [batch, ..., vocab]` at output position `t` with EOS and PAD (which the metrics
  also read as the end of an output) at -inf for the sentences whose output (t tokens so far) is
  shorter than `min_lens [batch]`; unchanged without a minimum."""
  if min_lens is None:
    return token_lp
  early = (t < min_lens).reshape((-1,) + (1,) * (token_lp.ndim - 1))  # [batch, 1, ...]
  ids = jnp.arange(token_lp.shape[-1])  # [vocab]
  return jnp.where(early & ((ids == EOS_ID) | (ids == PAD_ID)), -jnp.inf, token_lp)
