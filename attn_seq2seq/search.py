"""Greedy and beam search over `Seq2Seq.decode_step`, entirely inside XLA.

Both searches are one jitted `lax.while_loop` over target positions, batched over sentences, and
return the attention matrix of every output (tensorflow/nmt #358 could not under beam search).
The source is encoded once per sentence (`Seq2Seq.encode` also projects the attention keys); beam
search repeats only the initial carry over the beams, whose queries then attend to their
sentence's one copy of the encoded source (`Seq2Seq.decode_step(..., beams=beam_size)`), so
the loop body is one `decode_step` plus O(batch * beam * vocab) bookkeeping.

Length limit: sentence `b` outputs at most `max_len[b] = ceil(max_len_a * src_lengths[b] +
max_len_b)` tokens, EOS included (clipped to `[1, max_steps]`). At its last position only EOS is
allowed, so every output ends with EOS, and a forced EOS is scored with its model log-probability
like any other token. `max_steps` is static and sizes the output buffers (default: the limit of a
source as long as `src_ids`), so a search compiles once per (batch, src_len) shape and option set.
The loop stops as soon as every sentence has finished: it runs for the longest output of the
batch, not for `max_steps`, and never for more than `max_steps`, whatever the scores.

Scores: `log_probs` is the model log-probability of an output (the sum of its token
log-probabilities, EOS included); `scores = log_probs / length_penalty(lengths, alpha)`, the GNMT
length normalisation (Wu et al. 2016, eq. 14) by which beam search ranks hypotheses (alpha = 0:
none).
"""

import concurrent.futures
import dataclasses
import functools
import math
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from attn_seq2seq.models import Seq2Seq
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SearchOutput:
  """What a search returns; `...` is `[batch]` for greedy, `[batch, n_best]` for beam search.

  tokens:       `[..., max_steps]` int32, ending with EOS, PAD after it.
  lengths:      `[...]` int32, number of output tokens including EOS.
  log_probs:    `[...]` float32, model log-probability of the output.
  scores:       `[...]` float32, `log_probs / length_penalty(lengths, alpha)`; beam search sorts
                by it.
  attn_weights: `[..., max_steps, src_len]` float32, attention of each output token (0 after EOS).
  steps:        `[]` int32, decoder steps the loop ran (the longest output of the batch).
  """

  tokens: jax.Array
  lengths: jax.Array
  log_probs: jax.Array
  scores: jax.Array
  attn_weights: jax.Array
  steps: jax.Array


def length_penalty(lengths: jax.Array, alpha: float) -> jax.Array:
  """GNMT length normalisation (Wu et al. 2016, eq. 14): `((5 + |Y|) / 6) ** alpha`."""
  return ((5.0 + lengths.astype(jnp.float32)) / 6.0) ** alpha


def _normalise(log_probs: jax.Array, lengths: jax.Array, alpha: float) -> jax.Array:
  return log_probs if alpha == 0 else log_probs / length_penalty(lengths, alpha)


def _setup(model, variables, src_ids, src_lengths, max_len_a, max_len_b, max_steps, copies):
  """Encodes once; returns the step function, the encoded source (`[batch, ...]`), the initial
  carry repeated `copies` times on the batch axis (`[batch * copies, ...]`), `max_lens [batch]`
  and `max_steps`."""
  if max_steps is None:
    max_steps = max(1, math.ceil(max_len_a * src_ids.shape[1] + max_len_b))
  limit = jnp.ceil(max_len_a * src_lengths.astype(jnp.float32) + max_len_b).astype(jnp.int32)
  max_lens = jnp.clip(limit, 1, max_steps)  # [batch]
  encoded = model.apply(variables, src_ids, src_lengths, method=model.encode)
  carry = model.apply(variables, encoded, method=model.initial_state)
  if copies > 1:  # the beams' carries; the beams share the encoded source (see decode_step)
    carry = jax.tree.map(lambda x: jnp.repeat(x, copies, axis=0), carry)
  step_fn = functools.partial(model.apply, variables, method=model.decode_step, beams=copies)
  return step_fn, encoded, carry, max_lens, max_steps


@functools.partial(
  jax.jit, static_argnames=("model", "max_len_a", "max_len_b", "max_steps", "alpha")
)
def greedy_search(
  model: Seq2Seq,
  variables,
  src_ids: jax.Array,
  src_lengths: jax.Array,
  *,
  max_steps: int | None = None,
  max_len_a: float = 1.5,
  max_len_b: float = 10.0,
  alpha: float = 0.0,
) -> SearchOutput:
  """Greedy search: `src_ids [batch, src_len]`, `src_lengths [batch]` -> `SearchOutput` with
  `tokens [batch, max_steps]`, `attn_weights [batch, max_steps, src_len]`, ... (see the module
  docstring for the length limit). `alpha` only sets `scores`; the search ignores it."""
  step_fn, encoded, carry, max_lens, max_steps = _setup(
    model, variables, src_ids, src_lengths, max_len_a, max_len_b, max_steps, copies=1
  )
  batch, src_len = src_ids.shape

  def body(s):
    t, finished = s["t"], s["finished"]
    carry, logits, attn = step_fn(encoded, s["carry"], s["prev_ids"])
    token_lp = jax.nn.log_softmax(logits)  # [batch, vocab]
    ids = jnp.argmax(token_lp, axis=-1).astype(jnp.int32)
    ids = jnp.where(finished, PAD_ID, jnp.where(t + 1 >= max_lens, EOS_ID, ids))  # [batch]
    alive = ~finished
    lp = jnp.take_along_axis(token_lp, ids[:, None], axis=-1)[:, 0]  # [batch]
    return {
      "t": t + 1,
      "carry": carry,
      "prev_ids": ids,
      "finished": finished | (ids == EOS_ID),
      "log_probs": s["log_probs"] + jnp.where(alive, lp, 0.0),
      "lengths": s["lengths"] + alive,
      "tokens": jax.lax.dynamic_update_index_in_dim(s["tokens"], ids, t, axis=1),
      "attn": jax.lax.dynamic_update_index_in_dim(
        s["attn"], jnp.where(alive[:, None], attn, 0.0), t, axis=1
      ),
    }

  init = {
    "t": jnp.array(0, jnp.int32),
    "carry": carry,
    "prev_ids": jnp.full((batch,), BOS_ID, jnp.int32),
    "finished": jnp.zeros((batch,), bool),
    "log_probs": jnp.zeros((batch,), jnp.float32),
    "lengths": jnp.zeros((batch,), jnp.int32),
    "tokens": jnp.full((batch, max_steps), PAD_ID, jnp.int32),
    "attn": jnp.zeros((batch, max_steps, src_len), jnp.float32),
  }
  s = jax.lax.while_loop(lambda s: (s["t"] < max_steps) & ~jnp.all(s["finished"]), body, init)
  return SearchOutput(
    s["tokens"],
    s["lengths"],
    s["log_probs"],
    _normalise(s["log_probs"], s["lengths"], alpha),
    s["attn"],
    s["t"],
  )


@functools.partial(
  jax.jit,
  static_argnames=("model", "beam_size", "alpha", "n_best", "max_len_a", "max_len_b", "max_steps"),
)
def beam_search(
  model: Seq2Seq,
  variables,
  src_ids: jax.Array,
  src_lengths: jax.Array,
  *,
  beam_size: int = 5,
  alpha: float = 0.0,
  n_best: int = 1,
  max_len_a: float = 1.5,
  max_len_b: float = 10.0,
  max_steps: int | None = None,
) -> SearchOutput:
  """Beam search: `src_ids [batch, src_len]`, `src_lengths [batch]` -> `SearchOutput` of the
  `n_best` hypotheses per sentence, best first: `tokens [batch, n_best, max_steps]`,
  `attn_weights [batch, n_best, max_steps, src_len]`, `scores [batch, n_best]`, ...

  Each sentence keeps `beam_size` hypotheses, sorted by normalised score. At every step the
  `beam_size` best of the `beam_size * vocab` one-token extensions are kept (`lax.top_k`); the
  carry, the token and the attention histories follow their backpointers (row gathers on the flat
  `[batch * beam]` axis). Only beam 0 is live at the start (the others begin finished at -inf), so
  the first step expands one hypothesis. A finished hypothesis stays in the beam with its scores
  frozen, extending only with PAD at zero cost, and competes with the live ones on normalised
  score.

  Stopping: a sentence is done when its `n_best` top hypotheses have finished and no live one can
  still beat the n-th. Log-probabilities only fall and, for alpha >= 0, the length penalty is
  largest at the sentence's length limit, so `log_probs / length_penalty(max_len)` bounds the final
  score of a live hypothesis. (With alpha = 0 and n_best = 1: the best hypothesis has ended.) The
  loop stops when every sentence is done, at the latest when all hypotheses reach the length
  limit. A sentence with fewer than `n_best` possible outputs (a length limit of 1: EOS only) fills
  the rest with empty outputs (length 0, all PAD) of log-probability -inf.
  """
  if not 1 <= n_best <= beam_size:
    raise ValueError(f"need 1 <= n_best <= beam_size, got n_best={n_best}, beam_size={beam_size}")
  if not (math.isfinite(alpha) and alpha >= 0):
    raise ValueError(
      f"alpha={alpha} is out of range; allowed: a finite number >= 0 (the "
      "stopping bound assumes it)"
    )
  step_fn, encoded, carry, max_lens, max_steps = _setup(
    model, variables, src_ids, src_lengths, max_len_a, max_len_b, max_steps, copies=beam_size
  )
  batch, src_len = src_ids.shape
  k, flat = beam_size, batch * beam_size

  def done(s):
    """`[batch]`: the n_best top hypotheses have finished and no live one can overtake them."""
    bound = _normalise(s["log_probs"], max_lens[:, None], alpha)  # [batch, beam]
    best_live = jnp.max(jnp.where(s["finished"], -jnp.inf, bound), axis=1)
    return jnp.all(s["finished"][:, :n_best], axis=1) & (s["scores"][:, n_best - 1] >= best_live)

  def body(s):
    t, finished, log_probs, lengths = s["t"], s["finished"], s["log_probs"], s["lengths"]
    carry, logits, attn = step_fn(encoded, s["carry"], s["prev_ids"])
    vocab = logits.shape[-1]
    token_lp = jax.nn.log_softmax(logits).reshape(batch, k, vocab)
    ids = jnp.arange(vocab)
    token_lp = jnp.where((t + 1 >= max_lens)[:, None, None] & (ids != EOS_ID), -jnp.inf, token_lp)
    pad_only = jnp.where(ids == PAD_ID, 0.0, -jnp.inf)  # [vocab]: a finished hypothesis' extensions
    cand_lp = log_probs[..., None] + jnp.where(finished[..., None], pad_only, token_lp)  # [b, k, v]
    cand_scores = _normalise(cand_lp, (lengths + ~finished)[..., None], alpha)  # [b, k, v]
    scores, top = jax.lax.top_k(cand_scores.reshape(batch, k * vocab), k)  # [batch, beam]
    log_probs = jnp.take_along_axis(cand_lp.reshape(batch, k * vocab), top, axis=1)
    parent = top // vocab  # [batch, beam]
    # A -inf slot holds no hypothesis (fewer than beam_size exist, e.g. with a length limit of 1).
    extends = ~jnp.take_along_axis(finished, parent, axis=1) & (log_probs > -jnp.inf)
    new_ids = jnp.where(extends, top % vocab, PAD_ID)  # [batch, beam]
    rows = (jnp.arange(batch)[:, None] * k + parent).reshape(flat)  # [batch * beam]
    take_rows = lambda x: jnp.take(x, rows, axis=0)
    attn = jnp.where(extends.reshape(flat, 1), take_rows(attn), 0.0)  # [batch * beam, src_len]
    return {
      "t": t + 1,
      "carry": jax.tree.map(take_rows, carry),
      "prev_ids": new_ids.reshape(flat),
      "finished": ~extends | (new_ids == EOS_ID),
      "log_probs": log_probs,
      "scores": scores,
      "lengths": jnp.take_along_axis(lengths, parent, axis=1) + extends,
      "tokens": jax.lax.dynamic_update_index_in_dim(
        take_rows(s["tokens"]), new_ids.reshape(flat), t, axis=1
      ),
      "attn": jax.lax.dynamic_update_index_in_dim(take_rows(s["attn"]), attn, t, axis=1),
    }

  first_beam = jnp.arange(k) == 0  # [beam]
  start = jnp.broadcast_to(jnp.where(first_beam, 0.0, -jnp.inf), (batch, k))
  init = {
    "t": jnp.array(0, jnp.int32),
    "carry": carry,
    "prev_ids": jnp.full((flat,), BOS_ID, jnp.int32),
    "finished": jnp.broadcast_to(~first_beam, (batch, k)),
    "log_probs": start,
    "scores": start,
    "lengths": jnp.zeros((batch, k), jnp.int32),
    "tokens": jnp.full((flat, max_steps), PAD_ID, jnp.int32),
    "attn": jnp.zeros((flat, max_steps, src_len), jnp.float32),
  }
  # Bounded by max_steps whatever the scores (NaN scores never compare as done).
  s = jax.lax.while_loop(lambda s: (s["t"] < max_steps) & ~jnp.all(done(s)), body, init)
  best = lambda x: x.reshape((batch, k) + x.shape[1:])[:, :n_best]  # [flat, ...] -> [b, n, ...]
  return SearchOutput(
    best(s["tokens"]),
    s["lengths"][:, :n_best],
    s["log_probs"][:, :n_best],
    s["scores"][:, :n_best],
    best(s["attn"]),
    s["t"],
  )


def decode_throughput(
  model: Seq2Seq,
  variables,
  batches: Sequence[Mapping],
  *,
  beam_size: int = 1,
  alpha: float = 0.0,
  threads: int = 1,
  repeats: int = 1,
  **search_kwargs,
) -> dict:
  """Decoding speed over `batches` (mappings with `src_ids [batch, src_len]` and
  `src_lengths [batch]`), compilation excluded: greedy search for `beam_size == 1`, else beam
  search; `search_kwargs` go to the search (`max_len_a`, `max_len_b`, `max_steps`, `n_best`).

  `threads` Python threads decode every `threads`-th batch each. A batch's decoder loop is
  sequential and its matmuls are small, so one batch leaves CPU cores idle, and JAX's CPU client
  runs asynchronously dispatched computations one at a time. To keep every core of a CPU host busy,
  set `jax.config.update('jax_cpu_enable_async_dispatch', False)` before JAX initialises its
  backend and pass `threads=os.cpu_count()` (JAX releases the GIL while a computation runs).

  Each batch shape is compiled and run once first; then all batches are decoded `repeats` times and
  the fastest pass is reported. Every row counts as a sentence except the data pipeline's dummy
  padding rows (`example_ids == -1`, when the batch has them). Returns `{'sentences', 'seconds',
  'sentences_per_second', 'tokens_per_second', 'steps'}` (output tokens include EOS; `steps` sums
  the decoder loop steps over batches).
  """
  if beam_size == 1:
    search = functools.partial(greedy_search, model, alpha=alpha, **search_kwargs)
  else:
    search = functools.partial(
      beam_search, model, beam_size=beam_size, alpha=alpha, **search_kwargs
    )
  inputs = [(jnp.asarray(b["src_ids"]), jnp.asarray(b["src_lengths"])) for b in batches]
  one_per_shape = {src_ids.shape: (src_ids, src_lengths) for src_ids, src_lengths in inputs}
  for example in one_per_shape.values():
    jax.block_until_ready(search(variables, *example))  # compile each shape
  decode = lambda share: jax.block_until_ready([search(variables, *x) for x in share])
  shares = [inputs[i::threads] for i in range(threads)]
  seconds = math.inf
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for _ in range(repeats):
      start = time.perf_counter()
      outputs = [None] * len(inputs)
      for i, share in enumerate(pool.map(decode, shares)):
        outputs[i::threads] = share  # back in batch order
      seconds = min(seconds, time.perf_counter() - start)
  real = [np.asarray(b.get("example_ids", np.zeros(len(b["src_lengths"])))) >= 0 for b in batches]
  sentences = int(sum(np.sum(r) for r in real))
  lengths = [out.lengths if beam_size == 1 else out.lengths[:, 0] for out in outputs]
  tokens = int(sum(np.sum(np.where(r, n, 0)) for r, n in zip(real, lengths, strict=True)))
  return {
    "sentences": sentences,
    "seconds": seconds,
    "sentences_per_second": sentences / seconds,
    "tokens_per_second": tokens / seconds,
    "steps": sum(int(out.steps) for out in outputs),
  }
