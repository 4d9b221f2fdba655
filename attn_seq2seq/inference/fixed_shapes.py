"""Decoding calls on a few fixed shapes, so that an output never depends on its neighbours.

A sentence's row is computed from its own data only, whatever its neighbours and its position;
but XLA:CPU matmuls of a different batch size or sequence length can differ in the last bit,
which could flip a near-tie. So every call has `rows` rows (the last call of a bucket is filled
with dummy rows) and each sequence is padded to a length on a fixed grid (8, 12, 16, 24, 32, 48,
...): whatever lines are grouped together, every sentence is computed on the same shape, and each
shape compiles once.
"""

from collections.abc import Iterator, Sequence

import numpy as np

SMALLEST_BUCKET = 8  # the shortest padded length


def length_grid(max_len: int, smallest: int = SMALLEST_BUCKET) -> tuple[int, ...]:
  """Padded lengths: powers of two and 1.5 times powers of two from `smallest`, cut at
  `max_len`, which is always the last (at most 1/3 of a padded row is padding beyond
  `smallest`). E.g. 40 -> (8, 12, 16, 24, 32, 40)."""
  grid, length = [], smallest
  while length < max_len:
    grid.append(length)
    length = _next(length)
  return (*grid, max_len)


def padded_lengths(lengths: np.ndarray, grid: Sequence[int] | None) -> np.ndarray:
  """`lengths [n]` rounded up onto `grid` (none beyond its last value); with `grid` None, onto
  the unbounded grid 8, 12, 16, 24, 32, 48, ..."""
  if grid is None:
    return np.array([_unbounded(int(n)) for n in lengths], np.int32)
  grid = np.asarray(grid)
  return grid[np.searchsorted(grid, lengths)]


def _next(length: int) -> int:
  """The grid value after `length`: x1.5 after a power of two, else x4/3 (the next power)."""
  return length * 3 // 2 if length & (length - 1) == 0 else length * 4 // 3


def _unbounded(n: int) -> int:
  length = SMALLEST_BUCKET
  while length < n:
    length = _next(length)
  return length


def fixed_shape_calls(
  columns: Sequence[Sequence[np.ndarray]], grids: Sequence[Sequence[int] | None], rows: int
) -> Iterator[tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]]:
  """Groups items into calls of fixed shapes. `columns[c][i]` is sequence c (ids `[length]`) of
  item i (e.g. c = 0: sources, c = 1: targets), padded onto `grids[c]` (see `padded_lengths`).

  Yields `(items [n <= rows], ids, lengths)` per call: the indices of its real rows' items, then
  per column `ids [rows, padded length]` (PAD after each length) and `lengths [rows]`; rows n and
  after are dummy rows (a single PAD token). Items are ordered by padded shape, then by length.
  """
  lengths = [np.array([len(s) for s in column], np.int32) for column in columns]
  padded = [padded_lengths(n, grid) for n, grid in zip(lengths, grids, strict=True)]
  shape_of = np.stack(padded, axis=1)  # [items, columns]
  order = np.lexsort((*reversed(lengths), *reversed(padded)))  # by shape, then length
  for shape in np.unique(shape_of, axis=0):
    in_bucket = order[np.all(shape_of[order] == shape, axis=1)]
    for start in range(0, len(in_bucket), rows):
      chunk = in_bucket[start : start + rows]
      call_ids, call_lengths = [], []
      for column, column_lengths, width in zip(columns, lengths, shape, strict=True):
        ids = np.zeros((rows, width), np.int32)  # dummy rows: one PAD token
        row_lengths = np.ones(rows, np.int32)
        for row, i in enumerate(chunk):
          ids[row, : column_lengths[i]] = column[i]
        row_lengths[: len(chunk)] = column_lengths[chunk]
        call_ids.append(ids)
        call_lengths.append(row_lengths)
      yield chunk, call_ids, call_lengths
