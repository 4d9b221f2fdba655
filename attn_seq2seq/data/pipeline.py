"""Batches from encoded splits: seeded, bucketed, resumable for training; exhaustive for evaluation.

A batch is a dict of numpy int32 arrays, padded with PAD_ID (0):
  src_ids      [B, S]  source token ids
  src_lengths  [B]     source lengths
  tgt_in       [B, T]  BOS followed by the target ids (decoder input)
  tgt_out      [B, T]  the target ids followed by EOS (decoder labels)
  tgt_lengths  [B]     target length + 1 (the EOS counts)
  example_ids  [B]     index of the example in its split; -1 marks a dummy padding row, whose ids
                       are all PAD_ID and whose lengths are 0
(S, T) is one of a few bucket shapes, so a jitted step compiles a bounded number of times.

Training (`TrainBatches`) draws, each epoch, a fresh seeded permutation of the pairs, groups it by
bucket, cuts each group into global batches (the last one of a bucket filled up cyclically with
that bucket's first pairs of the epoch, so no batch has dummy rows) and shuffles the batch order.
The position is just (epoch, batch in epoch): restoring it replays exactly the batches an
uninterrupted run would have seen. With several hosts, every host plans the same global batches and
keeps its own contiguous slice of rows.

Evaluation (`eval_batches`) puts every pair in the smallest bucket shape that fits it, in example
order, and pads each shape's last batch with dummy rows; pairs longer than every training shape
(e.g. all of `test_long`) share one extra outlier shape (`eval_shapes`), added only when needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from attn_seq2seq.data import bucketing
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class EncodedSplit:
  """Token ids of a split's pairs as ragged arrays: pair r has source ids
  `src_ids[src_starts[r] : src_starts[r] + src_lengths[r]]`, and likewise for the target."""

  src_ids: np.ndarray  # [total source tokens + 1] int32, a PAD_ID sentinel last
  src_starts: np.ndarray  # [N] int64
  src_lengths: np.ndarray  # [N] int32
  tgt_ids: np.ndarray  # [total target tokens + 1] int32, a PAD_ID sentinel last
  tgt_starts: np.ndarray  # [N] int64
  tgt_lengths: np.ndarray  # [N] int32
  example_ids: np.ndarray  # [N] int32, the split record each pair comes from

  @classmethod
  def from_flat(
    cls,
    src_ids: np.ndarray,
    src_lengths: np.ndarray,
    tgt_ids: np.ndarray,
    tgt_lengths: np.ndarray,
    example_ids: np.ndarray,
  ) -> EncodedSplit:
    """Pairs from concatenated ids: sources per record, targets per pair.

    Args:
      src_ids: [sum(src_lengths)] the split's source ids, record after record.
      src_lengths: [R] source length of each record.
      tgt_ids: [sum(tgt_lengths)] target ids, pair after pair.
      tgt_lengths: [N] target length of each pair.
      example_ids: [N] the record of each pair (several pairs share a record with several targets).
    """
    offsets = lambda lengths: np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]])
    with_sentinel = lambda ids: np.append(ids, PAD_ID).astype(np.int32)  # Padding reads it.
    example_ids = np.asarray(example_ids, np.int32)
    return cls(
      with_sentinel(src_ids),
      offsets(src_lengths)[example_ids],
      src_lengths[example_ids],
      with_sentinel(tgt_ids),
      offsets(tgt_lengths),
      tgt_lengths,
      example_ids,
    )

  def __len__(self) -> int:
    return self.example_ids.size

  def select(self, rows: np.ndarray) -> EncodedSplit:
    """The pairs at `rows` (a view on the same token arrays)."""
    return dataclasses.replace(
      self,
      src_starts=self.src_starts[rows],
      src_lengths=self.src_lengths[rows],
      tgt_starts=self.tgt_starts[rows],
      tgt_lengths=self.tgt_lengths[rows],
      example_ids=self.example_ids[rows],
    )


def _gather(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
  """[B, width] rows `ids[starts[b] : starts[b] + lengths[b]]`, right-padded with PAD_ID.

  `ids` ends with a PAD_ID sentinel (see `EncodedSplit.from_flat`), which padded cells read.
  """
  columns = np.arange(width)
  valid = columns < lengths[:, None]  # [B, width]
  return ids[np.where(valid, starts[:, None] + columns, ids.size - 1)]


def make_batch(data: EncodedSplit, rows: np.ndarray, shape: tuple[int, int]) -> Batch:
  """The batch of pairs `rows` [B] (-1: dummy row) padded to `shape` = (S, T)."""
  src_width, tgt_width = int(shape[0]), int(shape[1])
  real = rows >= 0
  rows = np.where(real, rows, 0)
  src_lengths = np.where(real, data.src_lengths[rows], 0).astype(np.int32)
  tgt_lengths = np.where(real, data.tgt_lengths[rows], 0).astype(np.int32)
  src_ids = _gather(data.src_ids, data.src_starts[rows], src_lengths, src_width)
  tgt_ids = _gather(data.tgt_ids, data.tgt_starts[rows], tgt_lengths, tgt_width)  # [B, T]
  tgt_in = np.concatenate([np.full((rows.size, 1), BOS_ID, np.int32), tgt_ids[:, :-1]], axis=1)
  tgt_in[~real, 0] = PAD_ID
  tgt_out = tgt_ids
  tgt_out[real, tgt_lengths[real]] = EOS_ID
  return {
    "src_ids": src_ids,
    "src_lengths": src_lengths,
    "tgt_in": tgt_in,
    "tgt_out": tgt_out,
    "tgt_lengths": np.where(real, tgt_lengths + 1, 0).astype(np.int32),
    "example_ids": np.where(real, data.example_ids[rows], -1).astype(np.int32),
  }


def _shard(rows: np.ndarray, shard_index: int, num_shards: int) -> np.ndarray:
  """Host `shard_index`'s contiguous slice of a global batch's rows."""
  per_host = rows.size // num_shards
  return rows[shard_index * per_host : (shard_index + 1) * per_host]


def _check_sharding(batch_size: int, shard_index: int, num_shards: int) -> None:
  if batch_size < 1 or num_shards < 1 or batch_size % num_shards:
    raise ValueError(
      f"global batch_size={batch_size} must be >= 1 and divisible by num_shards={num_shards}"
    )
  if not 0 <= shard_index < num_shards:
    raise ValueError(f"shard_index={shard_index} not in [0, num_shards={num_shards})")


class TrainBatches(Iterator[Batch]):
  """Infinite, seeded, epoch-reshuffled training batches of `batch_size // num_shards` rows.

  `get_state()` is a JSON-serialisable position; after `set_state(s)` the iterator yields the
  batches that followed when `s` was taken.
  """

  def __init__(
    self,
    data: EncodedSplit,
    shapes: np.ndarray,
    batch_size: int,
    seed: int = 0,
    shard_index: int = 0,
    num_shards: int = 1,
  ):
    _check_sharding(batch_size, shard_index, num_shards)
    buckets = bucketing.assign_buckets(shapes, data.src_lengths, data.tgt_lengths)
    if (buckets < 0).any():
      raise ValueError(f"{(buckets < 0).sum()} training pairs fit no bucket shape")
    self._data, self._shapes, self._buckets = data, shapes, buckets
    self._batch_size, self._seed = int(batch_size), int(seed)  # Plain ints: JSON state.
    self._shard_index, self._num_shards = shard_index, num_shards
    self._epoch, self._batch = 0, 0
    self._plan_epoch, self._plan = -1, None

  def _epoch_plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(bucket of each batch [num_batches], rows of each batch [num_batches, batch_size])."""
    if epoch != self._plan_epoch:
      rng = np.random.default_rng([self._seed, epoch])
      order = rng.permutation(len(self._data))
      batch_buckets, batch_rows = [], []
      for bucket in range(len(self._shapes)):
        rows = order[self._buckets[order] == bucket]  # This bucket's pairs, in shuffled order.
        if rows.size:
          num_batches = -(-rows.size // self._batch_size)
          batch_rows.append(np.resize(rows, (num_batches, self._batch_size)))  # Cyclic fill.
          batch_buckets.append(np.full(num_batches, bucket))
      batch_order = rng.permutation(sum(b.size for b in batch_buckets))
      self._plan = (
        np.concatenate(batch_buckets)[batch_order],
        np.concatenate(batch_rows)[batch_order],
      )
      self._plan_epoch = epoch
    return self._plan

  def __next__(self) -> Batch:
    buckets, rows = self._epoch_plan(self._epoch)
    if self._batch >= buckets.size:
      self._epoch, self._batch = self._epoch + 1, 0
      buckets, rows = self._epoch_plan(self._epoch)
    bucket, batch_rows = buckets[self._batch], rows[self._batch]
    self._batch += 1
    return make_batch(
      self._data, _shard(batch_rows, self._shard_index, self._num_shards), self._shapes[bucket]
    )

  def get_state(self) -> dict:
    return {
      "epoch": self._epoch,
      "batch": self._batch,
      "seed": self._seed,
      "batch_size": self._batch_size,
      "num_pairs": len(self._data),
    }

  def set_state(self, state: dict) -> None:
    expected = {"seed": self._seed, "batch_size": self._batch_size, "num_pairs": len(self._data)}
    found = {key: state.get(key) for key in expected}
    if found != expected:
      raise ValueError(f"pipeline state {found} was saved by a different pipeline {expected}")
    self._epoch, self._batch = int(state["epoch"]), int(state["batch"])


def eval_shapes(shapes: np.ndarray, data: EncodedSplit, multiple: int = 1) -> np.ndarray:
  """`shapes` plus, only if some pair fits none of them, one outlier shape that fits all pairs.

  The outlier shape is the longest source and target (+1) of the split, rounded up to `multiple`.
  """
  if (bucketing.assign_buckets(shapes, data.src_lengths, data.tgt_lengths) >= 0).all():
    return shapes
  round_up = lambda x: -(-int(x) // multiple) * multiple
  outlier = (round_up(max(data.src_lengths.max(), 1)), round_up(data.tgt_lengths.max() + 1))
  return np.concatenate([shapes, np.array([outlier], shapes.dtype)])


def eval_batches(
  data: EncodedSplit, shapes: np.ndarray, batch_size: int, shard_index: int = 0, num_shards: int = 1
) -> Iterator[Batch]:
  """Every pair of `data` exactly once, bucket by bucket in example order; nothing dropped.

  Each pair goes to the smallest shape that fits it; a bucket's last batch is completed with
  dummy rows (example_ids -1). `shapes` must fit every pair (see `eval_shapes`).
  """
  _check_sharding(batch_size, shard_index, num_shards)
  buckets = bucketing.assign_buckets(shapes, data.src_lengths, data.tgt_lengths)
  if (buckets < 0).any():
    raise ValueError(f"{(buckets < 0).sum()} pairs fit no shape; extend shapes with eval_shapes")
  plan = []  # (shape, rows [batch_size], -1 for dummy rows) of every batch.
  for bucket, shape in enumerate(shapes):
    rows = np.flatnonzero(buckets == bucket)
    num_batches = -(-rows.size // batch_size)
    padded = np.full(num_batches * batch_size, -1)
    padded[: rows.size] = rows
    plan.extend((shape, batch_rows) for batch_rows in padded.reshape(num_batches, batch_size))
  return (make_batch(data, _shard(rows, shard_index, num_shards), shape) for shape, rows in plan)
