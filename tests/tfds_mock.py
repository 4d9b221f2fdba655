"""Serve toy records through `tfds.testing.mock_data`, for tests of the TFDS catalogue path.

The mock keeps the real builder (features, supervised keys, splits) and replaces download,
preparation and reading. Its default random data source lacks a working `__getitems__`
(tfds 4.9.10), so tests pass `as_data_source_fn` with serialized examples of their own.
"""

import tensorflow_datasets as tfds


class SerializedSource:
  """A random-access source of serialized records, like TFDS's array_record source."""

  def __init__(self, records):
    self._records = records

  def __len__(self):
    return len(self._records)

  def __getitem__(self, index):
    return self._records[index]

  def __getitems__(self, indices):
    return [self._records[i] for i in indices]


def serve(split_pairs: dict[str, list[dict]]):
  """A `mock_data` context in which `split` reads the examples `split_pairs[split]`."""

  def as_data_source(builder, split, **kwargs):
    assert kwargs["deserialize_method"] == tfds.decode.DeserializeMethod.RAW_BYTES
    serialize = builder.info.features.serialize_example
    return SerializedSource([serialize(pair) for pair in split_pairs[split]])

  return tfds.testing.mock_data(as_data_source_fn=as_data_source)
