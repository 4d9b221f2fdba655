"""Preparing a TFDS builder offline and reading its text features back without TensorFlow.

Splits are read through `builder.as_data_source` (array_record, random access) as raw bytes and
parsed here with TFDS's own TensorFlow-free `tf.train.Example` proto: every feature this package
reads is a `Text` or a `Sequence(Text)`, stored as one `bytes_list`. TFDS's generic per-example
numpy decoder costs ~27 us per record on this machine, which made reading 100k date pairs take
~3 s; this path takes ~0.5 s (`tests/test_data_records.py` checks both decodings agree). Records
are fetched in batches with `__getitems__`: array_record's one-at-a-time reads are ~40x slower.
A data directory that cannot be used, or a record file that cannot be read (truncated, flipped
bits), raises `DataError` naming the file and saying which directory to delete to regenerate it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
from collections.abc import Callable, Iterator, Sequence

import tensorflow_datasets as tfds
from google.protobuf import json_format
from tensorflow_datasets.proto import tf_example_pb2

from attn_seq2seq.errors import UserError


class DataError(UserError, ValueError):
  """A dataset that cannot be prepared or read; the message is one line naming the file or
  directory and the fix."""


_READ_CHUNK = 65_536  # Records fetched per `__getitems__` call (bounds the raw bytes held at once).


def prepare(
  make_builder: Callable[[], tfds.core.DatasetBuilder], data_dir: str
) -> tfds.core.DatasetBuilder:
  """The builder `make_builder()` returns, its array_record files generated on first use.

  Processes sharing a local `data_dir` (a sweep's first runs) take turns, under a file lock:
  TFDS writes into a temporary directory and renames it, so a second writer would fail on the
  rename, and a builder constructed while another process was still writing would not see the
  finished files; hence the builder is constructed under the lock too. Remote data dirs
  (gs://...) are not locked. A data directory that already holds the prepared files is only
  read, without the lock: it may be read-only.
  """
  try:
    if os.path.isdir(data_dir):
      builder = _construct(make_builder, data_dir)
      if builder.is_prepared():  # finished files are renamed into place: complete, read-only use
        return builder
    with _exclusive(data_dir):
      builder = _construct(make_builder, data_dir)
      builder.download_and_prepare(file_format="array_record")
  except OSError as e:  # Not a directory, not writable, disk full, ...
    raise DataError(
      f"cannot prepare the data in {data_dir}: {e.strerror or e}"
      + (f" ({e.filename})" if getattr(e, "filename", None) else "")
    ) from None
  return builder


def _construct(
  make_builder: Callable[[], tfds.core.DatasetBuilder], data_dir: str
) -> tfds.core.DatasetBuilder:
  """`make_builder()`; a prepared directory whose metadata cannot be read (a truncated
  dataset_info.json) is a `DataError` naming the file and the directory to delete."""
  try:
    return make_builder()
  except (ValueError, KeyError, TypeError, json_format.Error) as e:  # TFDS's JSON / proto parsers
    cause = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    bad = _unreadable_metadata(data_dir)
    raise DataError(
      f"cannot read the dataset metadata {bad or os.path.join(data_dir, '*/dataset_info.json')} "
      f"({cause}); delete the directory {os.path.dirname(bad) if bad else data_dir} to "
      "regenerate it"
    ) from None


def _unreadable_metadata(data_dir: str) -> str | None:
  """The first dataset_info.json under `data_dir` that is not valid JSON, if any."""
  for path in sorted(glob.glob(os.path.join(data_dir, "**", "dataset_info.json"), recursive=True)):
    try:
      with open(path) as f:
        json.load(f)
    except (OSError, ValueError):
      return path
  return None


@contextlib.contextmanager
def _exclusive(data_dir: str) -> Iterator[None]:
  """Holds an exclusive lock on local `data_dir` (created if missing) for the block."""
  if "://" in data_dir:
    yield
    return
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, ".prepare.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes.
    yield


def read_text_features(
  builder: tfds.core.DatasetBuilder, split: str, keys: Sequence[str]
) -> dict[str, list[list[str]]]:
  """Every record of `split`, as {feature key: [one list of strings per record]}.

  A `Text` feature gives one-element lists, a `Sequence(Text)` gives all its values in order.
  """
  try:
    source = builder.as_data_source(
      split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES
    )
    columns = {key: [] for key in keys}
    for start in range(0, len(source), _READ_CHUNK):
      for record in source.__getitems__(list(range(start, min(start + _READ_CHUNK, len(source))))):
        feature = tf_example_pb2.Example.FromString(record).features.feature
        for key in keys:
          if key not in feature:
            raise ValueError(f"a record without its {key!r} feature")
          columns[key].append([v.decode("utf-8") for v in feature[key].bytes_list.value])
  except Exception as e:  # noqa: BLE001  (array_record, protobuf and TFDS raise many types)
    files = sorted(os.path.basename(f) for f in os.listdir(builder.data_dir) if f"-{split}." in f)
    cause = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    raise DataError(
      f"corrupt dataset file {os.path.join(builder.data_dir, files[0] if files else split)} "
      f"({type(e).__name__}: {cause}); delete the directory {builder.data_dir} to regenerate "
      "it"
    ) from None
  return columns
