"""Metrics as (sum, count) pairs, summed over examples and normalised once.

Averaging per-batch or per-bucket means weights small groups like large ones; summing numerators
and denominators first and dividing once gives the corpus-level value regardless of how the corpus
was split. Every decomposable metric in this package is a `SumCount` per example.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True)
class SumCount:
    """Numerator and denominator of a ratio metric, e.g. (exact matches, examples).

    Attributes:
      total: summed numerator.
      count: summed denominator (examples, tokens, phones or alignment links).
    """

    total: float
    count: float

    def __add__(self, other: SumCount) -> SumCount:
        return SumCount(self.total + other.total, self.count + other.count)

    @staticmethod
    def pooled(pairs: Iterable[SumCount]) -> SumCount:
        """The pair of summed numerators and summed denominators."""
        return sum(pairs, SumCount(0.0, 0.0))

    def value(self) -> float:
        """total / count, the one normalisation. Raises ZeroDivisionError when count is 0."""
        return self.total / self.count
