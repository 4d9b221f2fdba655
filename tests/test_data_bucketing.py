"""Bucket shapes: optimal among nested chains, bounded in number, fitting every training pair."""

import itertools

import numpy as np
import pytest

from attn_seq2seq.data.bucketing import assign_buckets, fit_bucket_shapes


def padded_area(shapes, src_lengths, tgt_lengths):
  buckets = assign_buckets(shapes, src_lengths, tgt_lengths)
  assert (buckets >= 0).all()
  return shapes[buckets].sum()


def brute_force_area(src_lengths, tgt_lengths, num_buckets):
  """Smallest padded area over every nested chain of at most num_buckets corners."""
  corners = [(s, t) for s in np.unique(src_lengths) for t in np.unique(tgt_lengths + 1)]
  full = (src_lengths.max(), tgt_lengths.max() + 1)
  best = np.inf
  for k in range(num_buckets):
    for chain in itertools.combinations(sorted(corners), k):
      shapes = np.array([*chain, full])
      if (np.diff(shapes, axis=0) >= 0).all():  # Nested.
        best = min(best, padded_area(shapes, src_lengths, tgt_lengths))
  return best


@pytest.mark.parametrize("seed", range(4))
def test_shapes_are_optimal_among_nested_chains(seed):
  rng = np.random.default_rng(seed)
  src = rng.integers(1, 7, 60)
  tgt = np.clip(src + rng.integers(-2, 3, 60), 1, None)
  for num_buckets in (1, 2, 3):
    shapes = fit_bucket_shapes(src, tgt, num_buckets)
    assert padded_area(shapes, src, tgt) == brute_force_area(src, tgt, num_buckets)


@pytest.mark.parametrize("multiple", [1, 8])
def test_at_most_num_buckets_nested_shapes_fit_every_pair(multiple):
  rng = np.random.default_rng(0)
  src = rng.integers(1, 120, 5_000)
  tgt = np.clip((src * rng.normal(1.1, 0.3, src.size)).astype(int), 1, None)
  shapes = fit_bucket_shapes(src, tgt, num_buckets=6, multiple=multiple)
  assert 1 <= len(shapes) <= 6 and (shapes % multiple == 0).all()
  assert (np.diff(shapes, axis=0) >= 0).all()  # Nested, smallest first.
  assert tuple(shapes[-1]) >= (src.max(), tgt.max() + 1)
  assert (assign_buckets(shapes, src, tgt) >= 0).all()


def test_an_odd_pair_gets_a_larger_shape_instead_of_padding_its_neighbours():
  src = np.array([3] * 1000 + [3])
  tgt = np.array([3] * 1000 + [30])  # One 3-letter word with 30 phones.
  shapes = fit_bucket_shapes(src, tgt, num_buckets=2)
  np.testing.assert_array_equal(shapes, [[3, 4], [3, 31]])


def test_uniform_lengths_pad_under_ten_percent_with_eight_buckets():
  src = np.random.default_rng(0).integers(1, 51, 20_000)  # reverse medium: target = source.
  shapes = fit_bucket_shapes(src, src, num_buckets=8)
  real = (src + src + 1).sum()
  assert 1 - real / padded_area(shapes, src, src) < 0.10
