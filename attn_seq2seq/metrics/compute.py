"""The evaluation loop's one entry point: the requested metric families, overall and by length."""

import functools
from collections.abc import Callable, Sequence

import numpy as np

from attn_seq2seq.choices import check_choice
from attn_seq2seq.metrics.alignment import GOLD_ALIGNMENTS, alignment_quality
from attn_seq2seq.metrics.by_length import assign_buckets, bucket_labels, by_length_key
from attn_seq2seq.metrics.g2p import phone_errors, word_error
from attn_seq2seq.metrics.matching import exact_match, token_accuracy
from attn_seq2seq.metrics.sum_count import SumCount
from attn_seq2seq.metrics.translation import Detok, bleu, chrf

Tokens = Sequence[str]

# Families that decompose over examples: (hyp, refs) -> one (sum, count) pair per example.
_PER_EXAMPLE_FAMILIES: dict[str, Callable[[Tokens, Sequence[Tokens]], SumCount]] = {
  "exact_match": exact_match,
  "token_accuracy": token_accuracy,
  "wer": word_error,
  "per": phone_errors,
}
# Corpus-level families: scored afresh on each subset of examples.
_CORPUS_FAMILIES: dict[str, Callable[..., float]] = {"bleu": bleu, "chrf": chrf}
ALIGNMENT = "alignment"  # reports gold_attention_mass and alignment_error_rate
METRIC_FAMILIES = (*_PER_EXAMPLE_FAMILIES, *_CORPUS_FAMILIES, ALIGNMENT)
# Result names where lower is better (every other metric of results.json is maximised).
LOWER_IS_BETTER = ("loss", "perplexity", "wer", "per", "alignment_error_rate", "edit_rate")

# Scores a subset of examples, given as indices [subset_size]; None when the metric is undefined.
_Scorer = Callable[[np.ndarray], float | None]


def compute_metrics(
  families: Sequence[str],
  hyps: Sequence[Tokens],
  refs: Sequence[Sequence[Tokens]],
  src_lengths: Sequence[int],
  *,
  bucket_edges: Sequence[int],
  attention: Sequence[np.ndarray] | None = None,
  gold_alignment: str | None = None,
  detok: Detok = " ",
) -> dict[str, float]:
  """Every metric of `families` over the corpus and within each source-length bucket.

  Metrics that decompose over examples are kept as per-example (sum, count) pairs and each
  subset is normalised once: sum(totals) / sum(counts). BLEU and chrF are corpus-level and are
  recomputed on each subset. A metric whose denominator is 0 on a subset (e.g. every metric of
  an empty bucket) is left out rather than reported as NaN, which JSON cannot hold.

  Args:
    families: metric families to compute, from METRIC_FAMILIES: 'exact_match', 'token_accuracy',
      'wer', 'per' (fractions in [0, 1]), 'bleu', 'chrf' (0-100, sacrebleu), 'alignment'
      (gold_attention_mass and alignment_error_rate, needs `attention` and `gold_alignment`).
    hyps: [num_examples][hyp_len] predicted tokens, EOS and padding removed.
    refs: [num_examples][num_refs][ref_len] acceptable references, at least one per example.
    src_lengths: [num_examples] source lengths in tokens, used for the buckets and alignment.
    bucket_edges: increasing lower edges of the length buckets, e.g. (0, 10, 20, 30); the last
      bucket is open-ended (see `buckets.bucket_labels`).
    attention: [num_examples] arrays [tgt_len >= hyp_len, src_len >= src_length], the
      attention weights of the decoding that produced each hypothesis.
    gold_alignment: 'copy' or 'reverse', the task whose gold alignment is known.
    detok: separator ('' for characters, ' ' for words) or callable turning tokens into the
      strings BLEU and chrF score.

  Returns:
    Flat dict: 'count' and one entry per metric (e.g. 'exact_match', 'bleu'), plus
    'by_length/<lo>-<hi>/count' for every bucket and 'by_length/<lo>-<hi>/<metric>' for every
    non-empty one.
  """
  for family in families:
    check_choice("metric family", family, METRIC_FAMILIES)
  if not len(hyps) == len(refs) == len(src_lengths):
    raise ValueError(
      f"hyps, refs and src_lengths differ in length: {len(hyps)}, {len(refs)}, {len(src_lengths)}"
    )
  missing = [i for i, example_refs in enumerate(refs) if not example_refs]
  if missing:
    raise ValueError(f"examples {missing[:5]} have no reference; every example needs one")

  scorers: dict[str, _Scorer] = {}
  for family in families:
    if family in _PER_EXAMPLE_FAMILIES:
      per_example = _PER_EXAMPLE_FAMILIES[family]
      pairs = [per_example(hyp, rs) for hyp, rs in zip(hyps, refs, strict=True)]
      scorers[family] = functools.partial(_normalise, pairs)
    elif family in _CORPUS_FAMILIES:
      score = _CORPUS_FAMILIES[family]
      scorers[family] = functools.partial(_corpus_score, score, hyps, refs, detok)
    else:  # ALIGNMENT
      scorers.update(_alignment_scorers(hyps, src_lengths, attention, gold_alignment))

  def summarise(indices: np.ndarray) -> dict[str, float]:
    metrics = {"count": len(indices)}
    for name, scorer in scorers.items():
      if (value := scorer(indices)) is not None:
        metrics[name] = value
    return metrics

  results = summarise(np.arange(len(hyps)))
  bucket_of_example = assign_buckets(src_lengths, bucket_edges)  # [num_examples]
  for bucket, label in enumerate(bucket_labels(bucket_edges)):
    for name, value in summarise(np.flatnonzero(bucket_of_example == bucket)).items():
      results[by_length_key(label, name)] = value
  return results


def _normalise(pairs: Sequence[SumCount], indices: np.ndarray) -> float | None:
  """sum(totals) / sum(counts) over `indices`, None when the counts sum to 0."""
  summed = SumCount.pooled(pairs[i] for i in indices)
  return summed.value() if summed.count else None


def _corpus_score(
  score: Callable[..., float],
  hyps: Sequence[Tokens],
  refs: Sequence[Sequence[Tokens]],
  detok: Detok,
  indices: np.ndarray,
) -> float | None:
  """A corpus-level score of the examples at `indices`, None for no examples."""
  if len(indices) == 0:
    return None
  return score([hyps[i] for i in indices], [refs[i] for i in indices], detok)


def _alignment_scorers(
  hyps: Sequence[Tokens],
  src_lengths: Sequence[int],
  attention: Sequence[np.ndarray] | None,
  gold_alignment: str | None,
) -> dict[str, _Scorer]:
  """Scorers of gold_attention_mass and alignment_error_rate; each hypothesis token is a row."""
  if attention is None or gold_alignment not in GOLD_ALIGNMENTS:
    raise ValueError(
      f"the alignment family needs attention and gold_alignment in {GOLD_ALIGNMENTS}, "
      f"got attention={'None' if attention is None else 'given'}, "
      f"gold_alignment={gold_alignment!r}"
    )
  if len(attention) != len(hyps):
    raise ValueError(f"{len(attention)} attention matrices for {len(hyps)} hypotheses")
  qualities = [
    alignment_quality(attn, src_length, len(hyp), gold_alignment)
    for attn, src_length, hyp in zip(attention, src_lengths, hyps, strict=True)
  ]
  return {
    name: functools.partial(_normalise, [quality[name] for quality in qualities])
    for name in ("gold_attention_mass", "alignment_error_rate")
  }
