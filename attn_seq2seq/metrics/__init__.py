"""Evaluation metrics for every task, on token sequences, overall and by source length.

`compute_metrics` is what the evaluation loop calls; the per-concept modules hold the metrics:
  compute        compute_metrics: the requested metric families in one call
  matching       exact match, token accuracy
  edit_distance  Levenshtein distance over tokens
  g2p            word and phone error rates (any listed pronunciation counts)
  translation    corpus BLEU and chrF through sacrebleu
  alignment      gold attention mass and alignment error rate for copy / reverse
  by_length      source-length buckets and their flat `by_length/<lo>-<hi>/<metric>` keys
  sum_count      the (sum, count) pair every decomposable metric is accumulated as
  outcomes       per-example outcomes of an evaluated split (outcomes/<key>.json), paired by id
  plots          attention heatmaps, metric-versus-length curves
The names below come from the first eight; `outcomes` and `plots` (matplotlib) are imported as
modules: `from attn_seq2seq.metrics import outcomes`.
"""

from attn_seq2seq.metrics.alignment import (
  GOLD_ALIGNMENTS,
  alignment_error_rate,
  alignment_quality,
  argmax_links,
  gold_source_positions,
)
from attn_seq2seq.metrics.by_length import (
  BY_LENGTH,
  assign_buckets,
  bucket_labels,
  by_length_key,
  parse_bucket_label,
)
from attn_seq2seq.metrics.compute import LOWER_IS_BETTER, METRIC_FAMILIES, compute_metrics
from attn_seq2seq.metrics.edit_distance import edit_distance
from attn_seq2seq.metrics.g2p import phone_errors, word_error
from attn_seq2seq.metrics.matching import exact_match, token_accuracy
from attn_seq2seq.metrics.sum_count import SumCount
from attn_seq2seq.metrics.translation import Detok, bleu, chrf, detokenize

__all__ = [
  "BY_LENGTH",
  "LOWER_IS_BETTER",
  "METRIC_FAMILIES",
  "GOLD_ALIGNMENTS",
  "Detok",
  "SumCount",
  "alignment_error_rate",
  "alignment_quality",
  "argmax_links",
  "assign_buckets",
  "bleu",
  "bucket_labels",
  "by_length_key",
  "chrf",
  "compute_metrics",
  "detokenize",
  "edit_distance",
  "exact_match",
  "gold_source_positions",
  "parse_bucket_label",
  "phone_errors",
  "token_accuracy",
  "word_error",
]
