"""Exact match and token accuracy of a hypothesis against its acceptable references.

Tokens are strings so every task fits: characters (dates, copy, reverse), phones (G2P) or
subwords (translation). An example may list several acceptable references (a G2P word with
several pronunciations); a hypothesis is scored against the reference that suits it best.
"""

from collections.abc import Sequence

from attn_seq2seq.metrics.sum_count import SumCount

Tokens = Sequence[str]


def exact_match(hyp: Tokens, refs: Sequence[Tokens]) -> SumCount:
  """(1, 1) if `hyp` equals any reference token for token, else (0, 1).

  Args:
    hyp: [hyp_len] predicted tokens, EOS and padding removed.
    refs: [num_refs][ref_len] acceptable reference token lists.
  """
  return SumCount(float(any(list(hyp) == list(ref) for ref in refs)), 1.0)


def _position_matches(hyp: Tokens, ref: Tokens) -> int:
  """|{i < min(|hyp|, |ref|) : hyp[i] == ref[i]}|."""
  return sum(h == r for h, r in zip(hyp, ref, strict=False))  # stops at the shorter


def token_accuracy(hyp: Tokens, refs: Sequence[Tokens]) -> SumCount:
  """Position-wise matches against the best-matching reference, over that reference's length.

  For a reference r, matches(hyp, r) = |{i < min(|hyp|, |r|) : hyp[i] == r[i]}|: position i of
  the hypothesis is compared with position i of the reference, with no realignment, so one
  inserted or deleted token shifts and mismatches everything after it. The best-matching
  reference r* maximises matches(hyp, r) / |r| (the first listed wins ties; an empty r scores 1
  if hyp is empty, else 0). The pair is (matches(hyp, r*), |r*|), so the corpus value
  sum(matches) / sum(|r*|) is a per-token (micro) average. Tokens the hypothesis emits past |r*|
  are not penalised here; `exact_match` catches them.

  Args:
    hyp: [hyp_len] predicted tokens, EOS and padding removed.
    refs: [num_refs][ref_len] acceptable reference token lists, at least one.
  """
  if not refs:
    raise ValueError("token_accuracy needs at least one reference")

  def rate(ref: Tokens) -> float:
    return _position_matches(hyp, ref) / len(ref) if ref else float(not hyp)

  best = max(refs, key=rate)  # max keeps the first of equal keys
  return SumCount(float(_position_matches(hyp, best)), float(len(best)))
