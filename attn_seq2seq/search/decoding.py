"""`decode`: the one entry point of every search (translate, evaluate, the Evaluator, benchmarks).

    out = decode(model, variables, src_ids, src_lengths, SearchSpec(beam_size=5, n_best=2))
    out.tokens          # [batch, 2, max_steps]; greedy (beam_size 1): [batch, 1, max_steps]
    out.best().tokens   # [batch, max_steps], the best hypothesis of each sentence

Jitted with the model and the spec static: one compilation per (model, spec, batch shape). The
spec's `algorithm` picks greedy or beam search; `algorithm=` overrides it only to run beam search
with one beam (what proves that beam search with beam_size 1 is greedy search).
"""

import functools

import jax

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models.model_config import ATTENTION_DECODERS
from attn_seq2seq.search import stepping
from attn_seq2seq.search.beam import beam_search
from attn_seq2seq.search.greedy import greedy_search
from attn_seq2seq.search.spec import SearchOutput, SearchSpec

_SEARCHES = {"greedy": greedy_search, "beam": beam_search}


@functools.partial(jax.jit, static_argnames=("model", "spec", "algorithm"))
def decode(
  model,
  variables,
  src_ids: jax.Array,
  src_lengths: jax.Array,
  spec: SearchSpec,
  *,
  algorithm: str | None = None,
) -> SearchOutput:
  """Searches `model` (a `Seq2Seq`, or an ensemble's tuple of them) with `variables`
  (`{'params': ...}`, or a tuple of them: `stepping.start`) for outputs of
  `src_ids [batch, src_len]` (PAD after `src_lengths [batch]`), as `spec` says: a `SearchOutput`
  of `[batch, spec.n_best, ...]` arrays (see `SearchOutput`). Every output is computed from its
  own sentence only, whatever the rest of the batch and the padding. A coverage penalty on a
  model without attention is a one-line ConfigError."""
  check_model(model, spec)
  search = _SEARCHES[algorithm or spec.algorithm]
  return search(stepping.start(model, variables, src_ids, src_lengths, spec), spec)


def check_model(model, spec: SearchSpec) -> None:
  """A one-line ConfigError for a spec the model (or an ensemble's models) cannot serve: a
  coverage penalty needs the attention of attention decoders (a fixed-vector decoder reports
  zeros); an ensemble's members must share the target vocabulary size."""
  models = model if isinstance(model, tuple) else (model,)
  for member in models:
    decoder = member.config.decoder
    if spec.coverage_penalty and decoder not in ATTENTION_DECODERS:
      raise ConfigError(
        f"coverage_penalty={spec.coverage_penalty} needs an attention decoder "
        f"({', '.join(ATTENTION_DECODERS)}); this model's decoder is {decoder}"
      )
  sizes = {getattr(member, "tgt_vocab_size", None) for member in models}
  if len(sizes) > 1:
    raise ConfigError(f"an ensemble's models differ in target vocabulary size: {sorted(sizes)}")
