"""Bucket shapes: a few (S, T) paddings chosen to minimise the padding of the training pairs.

A pair (source length s, target length t) fits a shape if S >= s and T >= t + 1 (T holds BOS or
EOS too) and goes to the smallest shape it fits. `fit_bucket_shapes` chooses a nested chain of
shapes, (S_1, T_1) <= (S_2, T_2) <= ... <= (S_max, T_max) in both sides, minimising the padded
area sum(S + T) over all pairs, by dynamic programming over the chain's corners. Nesting is what
makes this exact and cheap: the pairs fitting shape k are then all pairs fitting shape k - 1 plus
the new ones, so a chain's cost adds up link by link. Shapes are searched among (at most 64 per
side) quantiles of the lengths; the last shape always fits the longest source and target, so every
training pair fits, and a batch built per shape holds only real rows.

Why two sides: bucketing on source length alone gives each source-length range the longest
target in it, so one odd pair (the 3-letter word with 12 phones, the short sentence with a long
translation) pads its whole bucket; here it goes to a larger shape instead.
"""

from __future__ import annotations

import numpy as np

_MAX_CANDIDATES = 64  # Corner values tried per side (all distinct lengths if fewer).


def _round_up(x, multiple: int):
  return -(-x // multiple) * multiple


def _candidates(lengths: np.ndarray) -> np.ndarray:
  """Sorted candidate widths: every distinct length, or quantiles of them (max included)."""
  values = np.unique(lengths)
  if values.size <= _MAX_CANDIDATES:
    return values
  return np.unique(np.quantile(lengths, np.linspace(0, 1, _MAX_CANDIDATES), method="higher"))


def fit_bucket_shapes(
  src_lengths: np.ndarray, tgt_lengths: np.ndarray, num_buckets: int, multiple: int = 1
) -> np.ndarray:
  """Padded shapes [K, 2] (S, T), K <= num_buckets, nested and sorted, the last fitting all.

  Args:
    src_lengths: [N] source lengths in tokens of the training pairs.
    tgt_lengths: [N] target lengths in tokens (T counts one more, for BOS/EOS).
    num_buckets: the most shapes allowed.
    multiple: S and T are rounded up to a multiple of this (8 suits TPUs; 1 is tightest).
  """
  if num_buckets < 1 or multiple < 1:
    raise ValueError(f"need num_buckets >= 1 and multiple >= 1, got {num_buckets}, {multiple}")
  src = _round_up(np.maximum(src_lengths, 1), multiple)
  tgt = _round_up(tgt_lengths + 1, multiple)
  src_widths, tgt_widths = _candidates(src), _candidates(tgt)  # [A], [B]
  src_index = np.searchsorted(src_widths, src)  # [N] smallest candidate S that fits.
  tgt_index = np.searchsorted(tgt_widths, tgt)  # [N]
  counts = np.zeros((src_widths.size, tgt_widths.size), np.int64)  # [A, B] pairs per cell.
  np.add.at(counts, (src_index, tgt_index), 1)
  fitting = counts.cumsum(0).cumsum(1)  # [A, B] pairs fitting each corner.
  # Corners worth trying: a corner whose last row or column holds no pair it fits is beaten by
  # the smaller corner next to it. The full corner is always kept.
  occupied = counts > 0
  row_first = np.where(occupied.any(1), occupied.argmax(1), tgt_widths.size)  # [A] 1st pair's col.
  col_first = np.where(occupied.any(0), occupied.argmax(0), src_widths.size)  # [B] 1st pair's row.
  a, b = np.meshgrid(np.arange(src_widths.size), np.arange(tgt_widths.size), indexing="ij")
  useful = (row_first[a] <= b) & (col_first[b] <= a)  # [A, B]
  a, b = a[useful], b[useful]  # [C] corners, the full corner last (row-major order).
  fits = fitting[a, b].astype(np.float64)  # [C]
  area = (src_widths[a] + tgt_widths[b]).astype(np.float64)  # [C] padded positions per row.

  cost = fits * area  # [C] best chain ending at each corner, one shape.
  parents = []  # parents[k][c]: previous corner of the best chain with k + 2 shapes, or -1.
  for _ in range(1, num_buckets):
    new_cost, parent = cost.copy(), np.full(a.size, -1)
    for c in range(a.size):
      inner = np.flatnonzero((a <= a[c]) & (b <= b[c]) & (np.arange(a.size) != c))
      if inner.size:
        chained = cost[inner] + (fits[c] - fits[inner]) * area[c]
        best = int(np.argmin(chained))
        if chained[best] < new_cost[c]:
          new_cost[c], parent[c] = chained[best], inner[best]
    cost = new_cost
    parents.append(parent)
  corners, c = [a.size - 1], a.size - 1
  for parent in reversed(parents):
    if parent[c] < 0:
      continue
    c = int(parent[c])
    corners.append(c)
  return np.stack([src_widths[a[corners]], tgt_widths[b[corners]]], axis=1)[::-1].astype(np.int64)


def assign_buckets(
  shapes: np.ndarray, src_lengths: np.ndarray, tgt_lengths: np.ndarray
) -> np.ndarray:
  """[N] index of the first shape each pair fits (S >= src, T >= tgt + 1), or -1 if none."""
  fits = (src_lengths[:, None] <= shapes[None, :, 0]) & (
    tgt_lengths[:, None] + 1 <= shapes[None, :, 1]
  )  # [N, K]
  return np.where(fits.any(axis=1), fits.argmax(axis=1), -1)
