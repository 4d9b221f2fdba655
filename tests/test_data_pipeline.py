"""Batches: layout, determinism, resumption, sharding, bounded shapes, exhaustive evaluation."""

import json

import numpy as np
import pytest

from attn_seq2seq.data import pipeline
from attn_seq2seq.data.bucketing import fit_bucket_shapes
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID

NUM_BUCKETS = 4


def random_split(num_pairs=1_000, max_len=30, seed=0, variants=1) -> pipeline.EncodedSplit:
  """Random-length pairs; pair r's target starts with id 4 + r, so a batch row names its pair."""
  rng = np.random.default_rng(seed)
  src_lengths = rng.integers(1, max_len + 1, num_pairs).astype(np.int32)
  example_ids = np.repeat(np.arange(num_pairs), variants)
  tgt_lengths = rng.integers(1, max_len + 1, example_ids.size).astype(np.int32)
  src_ids = np.concatenate([4 + np.arange(n) for n in src_lengths]).astype(np.int32)
  tgt_ids = np.concatenate([4 + r + np.arange(n) for r, n in enumerate(tgt_lengths)])
  tgt_ids = tgt_ids.astype(np.int32)
  return pipeline.EncodedSplit.from_flat(src_ids, src_lengths, tgt_ids, tgt_lengths, example_ids)


@pytest.fixture(scope="module")
def data():
  return random_split()


@pytest.fixture(scope="module")
def shapes(data):
  return fit_bucket_shapes(data.src_lengths, data.tgt_lengths, NUM_BUCKETS)


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b, strict=True):
    assert x.keys() == y.keys()
    for key in x:
      assert x[key].dtype == y[key].dtype and x[key].tobytes() == y[key].tobytes(), key


def check_rows(batch, data):
  """Every real row holds exactly its pair's ids; dummy rows are all padding."""
  for b, example in enumerate(batch["example_ids"]):
    if example < 0:
      assert batch["src_lengths"][b] == batch["tgt_lengths"][b] == 0
      for key in ("src_ids", "tgt_in", "tgt_out"):
        assert (batch[key][b] == PAD_ID).all()
      continue
    pair = batch["tgt_out"][b, 0] - 4
    assert data.example_ids[pair] == example
    src_len, tgt_len = data.src_lengths[pair], data.tgt_lengths[pair]
    src = data.src_ids[data.src_starts[pair] : data.src_starts[pair] + src_len]
    tgt = data.tgt_ids[data.tgt_starts[pair] : data.tgt_starts[pair] + tgt_len]
    assert batch["src_lengths"][b] == src_len and batch["tgt_lengths"][b] == tgt_len + 1
    pad_src = (0, batch["src_ids"].shape[1] - src_len)
    pad_tgt = (0, batch["tgt_in"].shape[1] - tgt_len - 1)
    np.testing.assert_array_equal(batch["src_ids"][b], np.pad(src, pad_src))
    np.testing.assert_array_equal(batch["tgt_in"][b], np.pad([BOS_ID, *tgt], pad_tgt))
    np.testing.assert_array_equal(batch["tgt_out"][b], np.pad([*tgt, EOS_ID], pad_tgt))


def test_train_batch_layout(data, shapes):
  for batch in take(pipeline.TrainBatches(data, shapes, batch_size=16), 20):
    assert set(batch) == {
      "src_ids",
      "src_lengths",
      "tgt_in",
      "tgt_out",
      "tgt_lengths",
      "example_ids",
    }
    assert all(v.dtype == np.int32 and v.shape[0] == 16 for v in batch.values())
    assert batch["tgt_in"].shape == batch["tgt_out"].shape
    assert (batch["example_ids"] >= 0).all()  # Training batches hold real rows only.
    check_rows(batch, data)


def test_same_seed_gives_byte_identical_batches_and_another_seed_differs(data, shapes):
  first = take(pipeline.TrainBatches(data, shapes, 32, seed=7), 50)
  assert_batches_equal(first, take(pipeline.TrainBatches(data, shapes, 32, seed=7), 50))
  other = take(pipeline.TrainBatches(data, shapes, 32, seed=8), 50)
  assert any(
    a["example_ids"].tobytes() != b["example_ids"].tobytes()
    for a, b in zip(first, other, strict=True)
  )


def test_every_epoch_visits_every_pair_in_a_new_order(data, shapes):
  batches = pipeline.TrainBatches(data, shapes, 32, seed=0)
  epochs = {0: [], 1: []}
  while (batch := next(batches)) and batches.get_state()["epoch"] < 2:
    epochs[batches.get_state()["epoch"]].append(batch["example_ids"])
  first, second = (np.concatenate(epochs[e]) for e in (0, 1))
  for ids in (first, second):
    assert set(ids.tolist()) == set(data.example_ids.tolist())
    assert ids.size < len(data) + NUM_BUCKETS * 32  # Only each bucket's last batch repeats pairs.
  assert first.tobytes() != second.tobytes()


@pytest.mark.parametrize("k", [0, 1, 17, 40])  # 40 crosses an epoch boundary (~35 batches).
def test_restoring_the_state_after_k_batches_yields_batches_k_plus_1_onwards(data, shapes, k):
  uninterrupted = take(pipeline.TrainBatches(data, shapes, 32, seed=3), k + 10)
  interrupted = pipeline.TrainBatches(data, shapes, 32, seed=3)
  take(interrupted, k)
  state = json.loads(json.dumps(interrupted.get_state()))
  resumed = pipeline.TrainBatches(data, shapes, 32, seed=3)
  resumed.set_state(state)
  assert_batches_equal(take(resumed, 10), uninterrupted[k:])


def test_a_state_from_another_pipeline_is_rejected(data, shapes):
  state = pipeline.TrainBatches(data, shapes, 32, seed=3).get_state()
  with pytest.raises(ValueError, match="different pipeline"):
    pipeline.TrainBatches(data, shapes, 64, seed=3).set_state(state)


def test_train_shapes_are_bounded_by_the_bucket_count(data, shapes):
  batches = take(pipeline.TrainBatches(data, shapes, 8), 400)
  seen = {(b["src_ids"].shape, b["tgt_in"].shape) for b in batches}
  assert len(seen) <= NUM_BUCKETS
  assert all(s[0][0] == 8 for s in seen)


def test_host_shards_partition_the_global_batch(data, shapes):
  global_batches = take(pipeline.TrainBatches(data, shapes, 32, seed=1), 5)
  hosts = [
    take(pipeline.TrainBatches(data, shapes, 32, seed=1, shard_index=i, num_shards=4), 5)
    for i in range(4)
  ]
  for step, batch in enumerate(global_batches):
    for key in batch:
      np.testing.assert_array_equal(np.concatenate([h[step][key] for h in hosts]), batch[key])
  with pytest.raises(ValueError, match="divisible"):
    pipeline.TrainBatches(data, shapes, 30, num_shards=4)


def test_eval_visits_every_example_once_and_pads_with_dummy_rows(data, shapes):
  batches = list(pipeline.eval_batches(data, shapes, batch_size=48))
  ids = np.concatenate([b["example_ids"] for b in batches])
  real = ids[ids >= 0]
  assert sorted(real.tolist()) == sorted(data.example_ids.tolist())
  assert 0 < (ids < 0).sum() < 48 * len(shapes)  # Only each shape's last batch is padded.
  assert all(b["src_ids"].shape[0] == 48 for b in batches)
  for batch in batches:
    check_rows(batch, data)
  assert len({b["src_ids"].shape for b in batches}) <= len(shapes)


def test_eval_adds_one_outlier_shape_only_when_needed(data, shapes):
  assert pipeline.eval_shapes(shapes, data) is shapes
  longer = random_split(num_pairs=100, max_len=60, seed=1)
  extended = pipeline.eval_shapes(shapes, longer, multiple=8)
  assert len(extended) == len(shapes) + 1 and (extended[-1] % 8 == 0).all()
  batches = list(pipeline.eval_batches(longer, extended, batch_size=16))
  ids = np.concatenate([b["example_ids"] for b in batches])
  assert sorted(ids[ids >= 0].tolist()) == list(range(100))
  with pytest.raises(ValueError, match="fit no shape"):
    pipeline.eval_batches(longer, shapes, batch_size=16)


def test_every_target_of_a_multi_target_source_is_trained_on():
  data = random_split(num_pairs=50, variants=3)  # 50 sources, three targets each.
  shapes = fit_bucket_shapes(data.src_lengths, data.tgt_lengths, 2)
  batches = take(pipeline.TrainBatches(data, shapes, 10), 17)  # An epoch: <= 15 + 2 batches.
  assert {p for b in batches for p in (b["tgt_out"][:, 0] - 4).tolist()} == set(range(150))
  for batch in batches:
    check_rows(batch, data)
