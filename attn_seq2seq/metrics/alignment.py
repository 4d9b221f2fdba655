"""Alignment quality of attention where the gold alignment is known (the copy and reverse tasks).

For `copy` output token i is source token i; for `reverse` it is source token src_len-1-i. The
gold links are therefore {(i, gold(i)) : i < src_len}: one per source token, none for the EOS
step. The rows scored are the output tokens of the hypothesis (EOS step excluded); when the
hypothesis is longer than the source, rows i >= src_len have no gold link.
"""

from collections.abc import Set

import numpy as np

from attn_seq2seq.choices import unknown_choice
from attn_seq2seq.metrics.sum_count import SumCount

GOLD_ALIGNMENTS = ("copy", "reverse")

Link = tuple[int, int]  # (output position, source position)


def gold_source_positions(gold_alignment: str, src_length: int) -> np.ndarray:
  """[src_length] int: the source position of output i, i for copy, src_length-1-i for reverse."""
  if gold_alignment == "copy":
    return np.arange(src_length)
  if gold_alignment == "reverse":
    return np.arange(src_length)[::-1]
  raise ValueError(unknown_choice("gold_alignment", gold_alignment, GOLD_ALIGNMENTS))


def argmax_links(attn_weights: np.ndarray, num_outputs: int) -> set[Link]:
  """{(i, argmax_j attn_weights[i, j]) : i < num_outputs}: each output's most attended source.

  Args:
    attn_weights: [tgt_len, src_len] attention of each decoder step over the source;
      tgt_len >= num_outputs.
    num_outputs: output tokens to align (EOS step excluded).
  """
  return {(i, int(j)) for i, j in enumerate(np.argmax(attn_weights[:num_outputs], axis=-1))}


def alignment_error_rate(predicted: Set[Link], sure: Set[Link], possible: Set[Link]) -> SumCount:
  """AER of Och & Ney 2003 ("A systematic comparison of various statistical alignment models").

  AER = 1 - (|A & S| + |A & P|) / (|A| + |S|), with A the predicted, S the sure and P the
  possible links (S a subset of P). Returned as (|A| + |S| - |A & S| - |A & P|, |A| + |S|) so
  that summing over sentences and normalising once gives the corpus AER, as in the paper.
  """
  count = len(predicted) + len(sure)
  return SumCount(float(count - len(predicted & sure) - len(predicted & possible)), float(count))


def alignment_quality(
  attn_weights: np.ndarray, src_length: int, num_outputs: int, gold_alignment: str
) -> dict[str, SumCount]:
  """Gold attention mass and AER of one example's attention.

  - gold_attention_mass: (sum of attn_weights[i, gold(i)], number of such rows) over output
    rows i < min(num_outputs, src_length), the rows that have a gold link. 1.0 when every
    output puts all its attention on its gold source token.
  - alignment_error_rate: AER of the argmax alignment of the num_outputs rows against the gold
    links, with sure = possible = gold. Outputs past the source are wrong links (precision);
    source tokens the hypothesis stopped short of are missed links (recall).

  Args:
    attn_weights: [tgt_len, src_len_padded] attention weights of the decoding that produced
      the hypothesis, row k for the step emitting output token k; each row sums to 1 over the
      source (padding columns carry ~0 when attention is masked).
    src_length: true source length, <= src_len_padded.
    num_outputs: output tokens that correspond to source tokens (hypothesis length without
      EOS), <= tgt_len.
    gold_alignment: one of GOLD_ALIGNMENTS.
  """
  attn_weights = np.asarray(attn_weights)
  if attn_weights.ndim != 2:
    raise ValueError(f"attn_weights must be [tgt_len, src_len], got shape {attn_weights.shape}")
  if attn_weights.shape[0] < num_outputs or attn_weights.shape[1] < src_length:
    raise ValueError(
      f"attn_weights of shape {attn_weights.shape} cannot cover {num_outputs} outputs "
      f"over {src_length} source tokens"
    )
  gold_positions = gold_source_positions(gold_alignment, src_length)  # [src_length]
  scored = min(num_outputs, src_length)  # output rows that have a gold link
  mass = attn_weights[np.arange(scored), gold_positions[:scored]].sum()  # sum over [scored]
  gold = {(i, int(j)) for i, j in enumerate(gold_positions)}
  return {
    "gold_attention_mass": SumCount(float(mass), float(scored)),
    "alignment_error_rate": alignment_error_rate(
      argmax_links(attn_weights, num_outputs), sure=gold, possible=gold
    ),
  }
