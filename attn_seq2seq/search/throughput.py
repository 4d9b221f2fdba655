"""`decode_throughput`: how fast `decode` runs over a set of batches, compilation excluded."""

import concurrent.futures
import math
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from attn_seq2seq.search.decoding import decode
from attn_seq2seq.search.spec import SearchSpec


def decode_throughput(
  model,
  variables,
  batches: Sequence[Mapping],
  spec: SearchSpec | None = None,
  *,
  threads: int = 1,
  repeats: int = 1,
  **spec_fields,
) -> dict:
  """Decoding speed of `spec` over `batches` (mappings with `src_ids [batch, src_len]` and
  `src_lengths [batch]`), compilation excluded. Without `spec`, `spec_fields` (SearchSpec
  fields: `beam_size`, `alpha`, `max_len_a`, ...) make one.

  `threads` Python threads decode every `threads`-th batch each. A batch's decoder loop is
  sequential and its matmuls are small, so one batch leaves CPU cores idle, and JAX's CPU client
  runs asynchronously dispatched computations one at a time. To keep every core of a CPU host busy,
  set `jax.config.update('jax_cpu_enable_async_dispatch', False)` before JAX initialises its
  backend and pass `threads=os.cpu_count()` (JAX releases the GIL while a computation runs).

  Each batch shape is compiled and run once first; then all batches are decoded `repeats` times and
  the fastest pass is reported. Every row counts as a sentence except the data pipeline's dummy
  padding rows (`example_ids == -1`, when the batch has them). Returns `{'sentences', 'seconds',
  'sentences_per_second', 'tokens_per_second', 'steps'}` (output tokens are the best hypothesis'
  and include EOS; `steps` sums the decoder loop steps over batches).
  """
  if spec is None:
    spec = SearchSpec(**spec_fields)
  elif spec_fields:
    raise TypeError(f"pass a spec or SearchSpec fields, not both: {sorted(spec_fields)}")
  search = lambda src_ids, src_lengths: decode(model, variables, src_ids, src_lengths, spec)
  inputs = [(jnp.asarray(b["src_ids"]), jnp.asarray(b["src_lengths"])) for b in batches]
  one_per_shape = {src_ids.shape: (src_ids, src_lengths) for src_ids, src_lengths in inputs}
  for example in one_per_shape.values():
    jax.block_until_ready(search(*example))  # compile each shape
  run = lambda share: jax.block_until_ready([search(*x) for x in share])
  shares = [inputs[i::threads] for i in range(threads)]
  seconds = math.inf
  with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for _ in range(repeats):
      start = time.perf_counter()
      outputs = [None] * len(inputs)
      for i, share in enumerate(pool.map(run, shares)):
        outputs[i::threads] = share  # back in batch order
      seconds = min(seconds, time.perf_counter() - start)
  real = [np.asarray(b.get("example_ids", np.zeros(len(b["src_lengths"])))) >= 0 for b in batches]
  sentences = int(sum(np.sum(r) for r in real))
  lengths = [out.lengths[:, 0] for out in outputs]  # [batch]: the best hypothesis
  tokens = int(sum(np.sum(np.where(r, n, 0)) for r, n in zip(real, lengths, strict=True)))
  return {
    "sentences": sentences,
    "seconds": seconds,
    "sentences_per_second": sentences / seconds,
    "tokens_per_second": tokens / seconds,
    "steps": sum(int(out.steps) for out in outputs),
  }
