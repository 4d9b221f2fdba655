"""Greedy and beam search over `Seq2Seq.decode_step`, entirely inside XLA, attention returned
from both (tensorflow/nmt #358 could not under beam search).

    from attn_seq2seq.search import SearchSpec, decode
    out = decode(model, variables, src_ids, src_lengths, SearchSpec(beam_size=5, alpha=0.6))
    out.best().tokens   # [batch, max_steps]

`SearchSpec` (spec.py) holds every option and chooses the algorithm (`beam_size` 1: greedy);
`decode` (decoding.py) is the one jitted entry point and returns a `SearchOutput` of `[batch,
n_best, ...]` arrays whatever the algorithm. Both searches are one `lax.while_loop` over output
positions, batched over sentences, over the same step (stepping.py): the source is encoded once
per sentence (`Seq2Seq.encode` also projects the attention keys), so the loop body is one
`decode_step` plus O(batch * beam_size * vocab) bookkeeping.

Length limit: sentence b outputs at most `ceil(max_len_a * src_lengths[b] + max_len_b)` tokens,
EOS included (clipped to `[1, max_steps]`). At its last position only EOS is allowed, so every
output ends with EOS. `max_steps` is static and sizes the output buffers (default: the limit of a
source as long as `src_ids`), so a search compiles once per (batch, src_len) shape and spec. The
loop stops as soon as every sentence has finished: it runs for the longest output of the batch,
never for more than `max_steps`, whatever the scores.

Scores: `log_probs` is the model log-probability of an output (the sum of its token
log-probabilities, EOS included); `scores = log_probs / length_penalty(lengths, alpha)`, the GNMT
length normalisation (Wu et al. 2016, eq. 14) by which beam search ranks hypotheses (alpha = 0:
none). `force_decode` (forced.py) scores given outputs through the same step.
"""

from attn_seq2seq.search.decoding import decode
from attn_seq2seq.search.forced import Forced, force_decode
from attn_seq2seq.search.scoring import length_penalty
from attn_seq2seq.search.spec import (
  ENSEMBLE_COMBINATIONS,
  MAX_ALPHA,
  Best,
  SearchOutput,
  SearchSpec,
)
from attn_seq2seq.search.throughput import decode_throughput

__all__ = [
  "ENSEMBLE_COMBINATIONS",
  "MAX_ALPHA",
  "Best",
  "Forced",
  "SearchOutput",
  "SearchSpec",
  "decode",
  "decode_throughput",
  "force_decode",
  "length_penalty",
]
