"""Translation corpora of the TFDS catalogue (`*_translate`) and their SentencePiece model.

Any `<name>_translate/<pair>` builder works, e.g. 'wmt14_translate/de-en': the source and target are
the builder's supervised keys ('de' -> 'en'), or the other way round with `src_lang='en'`. The first
`load_task` downloads the corpus (network needed) and converts it to array_record in the data dir;
later loads read it offline. Their default tokenizer is one joint SentencePiece model fitted on the
training split (task.py), saved with the run's vocabularies, so decoding never needs the corpus.
"""

from __future__ import annotations

import tensorflow_datasets as tfds
import tensorflow_datasets.translate  # registers the catalogue's translation builders

from attn_seq2seq.choices import check_choice

SPLITS = ("train", "validation", "test")  # The splits of every `*_translate` builder.


def _translation_datasets() -> list[str]:
  names = tfds.core.registered.list_imported_builders()
  return sorted(name for name in names if name.endswith("_translate"))


def check_name(dataset: str, config: str) -> None:
  """Raises a ValueError naming the valid choices if `dataset/config` is not in the catalogue."""
  valid = _translation_datasets()
  check_choice("translation dataset", dataset, valid)
  if config:
    check_choice(f"{dataset} builder config", config, tfds.builder_cls(dataset).builder_configs)


def make_builder(dataset: str, config: str | None, data_dir: str) -> tfds.core.DatasetBuilder:
  """The catalogue builder for `dataset/config` writing to `data_dir`."""
  return tfds.builder(f"{dataset}/{config}" if config else dataset, data_dir=data_dir)


def language_keys(
  builder: tfds.core.DatasetBuilder, src_lang: str | None = None
) -> tuple[str, str]:
  """(source, target) feature keys: the builder's supervised keys, e.g. ('de', 'en') for
  wmt14_translate/de-en, or the pair in the direction that starts from `src_lang`."""
  keys = builder.info.supervised_keys
  if not keys or len(keys) != 2:
    raise ValueError(f"{builder.info.full_name} has no (source, target) supervised keys")
  if src_lang is None or src_lang == keys[0]:
    return tuple(keys)
  if src_lang == keys[1]:
    return keys[1], keys[0]
  raise ValueError(
    f"unknown src_lang {src_lang!r} for {builder.info.full_name}; valid: {', '.join(keys)}"
  )
