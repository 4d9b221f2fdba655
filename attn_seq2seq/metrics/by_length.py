"""Source-length buckets and the flat metric keys that name them.

Edges [0, 10, 20, 30] make the buckets [0, 10), [10, 20), [20, 30) and [30, inf), labelled
'0-9', '10-19', '20-29' and '30+' (lengths are integers, so labels show inclusive bounds). A
metric of a bucket is reported under `by_length/<label>/<metric>`, e.g. `by_length/10-19/bleu`,
as in the accuracy-versus-length analysis of Bahdanau et al. 2015, Figure 2.
"""

import itertools
import re
from collections.abc import Sequence

import numpy as np

BY_LENGTH = "by_length"
_LABEL = re.compile(r"(\d+)(?:-(\d+)|\+)")


def bucket_labels(edges: Sequence[int]) -> list[str]:
  """One label per bucket: 'lo-hi' (inclusive) for each pair of edges, then 'last+'."""
  _check_edges(edges)
  closed = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]
  return [*closed, f"{edges[-1]}+"]


def assign_buckets(lengths: Sequence[int], edges: Sequence[int]) -> np.ndarray:
  """[num_examples] int: index into `bucket_labels(edges)` of each length's bucket."""
  _check_edges(edges)
  lengths = np.asarray(lengths, dtype=np.int64)
  if lengths.size and lengths.min() < edges[0]:
    raise ValueError(f"source length {lengths.min()} is below the first bucket edge {edges[0]}")
  return np.searchsorted(np.asarray(edges), lengths, side="right") - 1


def parse_bucket_label(label: str) -> tuple[int, int | None]:
  """(lo, hi) inclusive bounds of a label; hi is None for the open last bucket ('30+')."""
  match = _LABEL.fullmatch(label)
  if match is None:
    raise ValueError(f"not a length-bucket label: {label!r} (expected e.g. '10-19' or '30+')")
  lo, hi = match.groups()
  return int(lo), None if hi is None else int(hi)


def by_length_key(label: str, metric: str) -> str:
  """The flat key of `metric` in the bucket `label`, e.g. 'by_length/10-19/exact_match'."""
  return f"{BY_LENGTH}/{label}/{metric}"


def _check_edges(edges: Sequence[int]) -> None:
  increasing = all(lo < hi for lo, hi in itertools.pairwise(edges))
  if len(edges) == 0 or not increasing or any(int(e) != e for e in edges):
    raise ValueError(f"bucket edges must be non-empty, increasing integers, got {edges}")
