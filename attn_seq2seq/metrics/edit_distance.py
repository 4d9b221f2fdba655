"""Levenshtein distance over token sequences."""

from collections.abc import Sequence


def edit_distance(hyp: Sequence[str], ref: Sequence[str]) -> int:
  """Minimum number of token insertions, deletions and substitutions turning `hyp` into `ref`.

  Levenshtein (1966) with unit costs, by the Wagner-Fischer dynamic programme over two rows:
  O(|hyp| * |ref|) time, O(|ref|) memory.

  Args:
    hyp: [hyp_len] tokens.
    ref: [ref_len] tokens.
  """
  # prev[j] = distance between hyp[:i] and ref[:j] for the previous i.
  prev = list(range(len(ref) + 1))
  for i, h in enumerate(hyp, start=1):
    curr = [i] + [0] * len(ref)
    for j, r in enumerate(ref, start=1):
      curr[j] = min(
        prev[j] + 1,  # delete h
        curr[j - 1] + 1,  # insert r
        prev[j - 1] + (h != r),  # match or substitute
      )
    prev = curr
  return prev[-1]
