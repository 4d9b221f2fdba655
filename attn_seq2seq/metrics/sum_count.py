"""Metrics as (sum, count) pairs, summed over examples, batches or steps and normalised once.

Averaging per-batch or per-bucket means weights small groups like large ones; summing numerators
and denominators first and dividing once gives the corpus-level value regardless of how the corpus
was split. Every decomposable metric in this package is a `SumCount`: the host-side metrics per
example, and the train and eval steps' metrics inside jit (a NamedTuple is a JAX pytree, so its
fields may be arrays, e.g. `[members]` in a stacked run).
"""

from collections.abc import Iterable
from typing import Any, NamedTuple


class SumCount(NamedTuple):
  """Numerator and denominator of a ratio metric, e.g. (exact matches, examples).

  Attributes:
    total: summed numerator (a float, or an array inside a jitted step).
    count: summed denominator (examples, tokens, phones or alignment links).
  """

  total: Any
  count: Any

  @staticmethod
  def pooled(pairs: Iterable["SumCount"]) -> "SumCount":
    """The pair of summed numerators and summed denominators."""
    pairs = list(pairs)
    return SumCount(sum(p.total for p in pairs), sum(p.count for p in pairs))

  def value(self) -> float:
    """Total / count, the one normalisation; NaN when nothing was counted."""
    return float(self.total) / float(self.count) if self.count else float("nan")
