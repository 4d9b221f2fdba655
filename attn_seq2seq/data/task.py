"""`load_task`: a dataset name in, vocabularies and batch iterators out.

    task = load_task(get_data_config(name='dates'))
    batches = task.train_batches(batch_size=64, seed=0)
    for batch in task.eval_batches('test', batch_size=64): ...

The TFDS data are prepared offline on first use and reused after; vocabularies are built from the
train split (or passed in, e.g. restored from a run's workdir with `load_vocabs`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterator

import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from attn_seq2seq.choices import check_choice
from attn_seq2seq.data import (
  algorithmic,
  bucketing,
  cmudict_g2p,
  dates,
  pipeline,
  records,
  source_reversal,
)
from attn_seq2seq.data.datasets import (
  GENERATION_FIELDS,
  TOKENIZERS,
  DatasetSpec,
  dataset_spec,
)
from attn_seq2seq.data.vocab import SentencePieceVocabulary, TokenVocabulary, Vocabulary
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.run_files import CONFIG_FILE, SRC_VOCAB_FILE, TGT_VOCAB_FILE

_BUILDERS = {
  "algorithmic": algorithmic.Algorithmic,
  "dates": dates.Dates,
  "cmudict_g2p": cmudict_g2p.CmudictG2p,
}
_FEATURE_KEYS = {
  "algorithmic": ("source", "target"),
  "dates": ("source", "target"),
  "cmudict_g2p": ("word", "pronunciations"),
}


@dataclasses.dataclass(frozen=True)
class SplitTexts:
  """The raw text of one split: record i is sources[i] with its references targets[i]."""

  sources: list[str]
  targets: list[list[str]]  # One target per record, several for multi-pronunciation words.


def load_vocabs(workdir: epath.PathLike) -> tuple[Vocabulary, Vocabulary]:
  """(src_vocab, tgt_vocab) saved in `workdir` by `Task.save_vocabs`; the source vocabulary
  reverses every source when the run's config.json says `data.reverse_source` (see
  `source_reversal.py`), so whatever decodes with a run's vocabularies reads sources as it did."""
  workdir = epath.Path(workdir)
  src_vocab = Vocabulary.load(workdir / SRC_VOCAB_FILE)
  reverse = _reverses_source(workdir / CONFIG_FILE)
  return source_reversal.source_vocabulary(src_vocab, reverse), Vocabulary.load(
    workdir / TGT_VOCAB_FILE
  )


def _reverses_source(config_path: epath.Path) -> bool:
  """`data.reverse_source` of the run config at `config_path` (False without the file or the
  field: a run recorded before the option existed). A config.json that is not a JSON object
  with a `config` object is a ValueError naming it."""
  if not config_path.exists():
    return False
  try:
    record = json.loads(config_path.read_text())
    return bool(record["config"].get("data", {}).get("reverse_source", False))
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise ValueError(f"{config_path} is not a run config ({type(e).__name__}: {e})") from None


class Task:
  """A dataset's splits, encoded with a pair of vocabularies, with batch iterators.

  Attributes:
    name: the dataset name, e.g. 'algorithmic/reverse_medium'.
    src_vocab, tgt_vocab: the vocabularies (`Vocabulary`).
    splits: all split names, 'train' first.
    eval_splits: splits scored at the end of training.
    metrics: metric families the task is scored with.
    gold_alignment: 'copy' or 'reverse' if the gold attention alignment is known, else None
      (of the source positions the model reads: mapped through `reverse_source`).
    bucket_shapes: [K, 2] int array of the training (S, T) batch shapes.
    num_filtered: training pairs dropped by the length filter (or for being empty).
  """

  def __init__(
    self,
    spec: DatasetSpec,
    name: str,
    texts: dict[str, SplitTexts],
    src_vocab: Vocabulary,
    tgt_vocab: Vocabulary,
    max_src_len: int | None,
    max_tgt_len: int | None,
    num_buckets: int,
    bucket_multiple: int,
    reverse_source: bool = False,
  ):
    self.name = name
    self.src_vocab = source_reversal.source_vocabulary(src_vocab, reverse_source)
    self.tgt_vocab = tgt_vocab
    self.splits, self.eval_splits = spec.splits, spec.eval_splits
    self.metrics, self.gold_alignment = spec.metrics, spec.gold_alignment
    if reverse_source:
      self.gold_alignment = source_reversal.reversed_gold_alignment(spec.gold_alignment)
    self._texts = texts
    self._bucket_multiple = bucket_multiple
    self._eval_shapes = {}
    self._encoded = {split: self._encode(split) for split in self.splits}
    train = self._encoded["train"]
    no_limit = lambda limit: np.inf if limit is None else limit
    keep = (
      (train.src_lengths >= 1)
      & (train.tgt_lengths >= 1)
      & (train.src_lengths <= no_limit(max_src_len))
      & (train.tgt_lengths <= no_limit(max_tgt_len))
    )
    self.num_filtered = int((~keep).sum())
    if not keep.any():
      raise ConfigError(
        f"{name}: no training pair is within data.max_src_len={max_src_len}, "
        f"data.max_tgt_len={max_tgt_len} (the shortest source has "
        f"{train.src_lengths.min()} tokens, the shortest target {train.tgt_lengths.min()}); "
        "raise them or leave them unset"
      )
    self._train = train.select(np.flatnonzero(keep))
    self.bucket_shapes = bucketing.fit_bucket_shapes(
      self._train.src_lengths, self._train.tgt_lengths, num_buckets, bucket_multiple
    )
    logging.info(
      "%s: %d training pairs (%d dropped: empty or longer than %s/%s tokens), bucket shapes %s",
      name,
      len(self._train),
      self.num_filtered,
      max_src_len,
      max_tgt_len,
      self.bucket_shapes.tolist(),
    )

  def _encode(self, split: str) -> pipeline.EncodedSplit:
    """Ids of `split`: every (source, target) pair for train, the first target otherwise."""
    texts = self._texts[split]
    if split == "train":
      example_ids = np.repeat(np.arange(len(texts.sources)), [len(t) for t in texts.targets])
      targets = [t for targets in texts.targets for t in targets]
    else:
      example_ids = np.arange(len(texts.sources))
      targets = [targets[0] for targets in texts.targets]
    src_ids, src_lengths = self.src_vocab.encode_batch(texts.sources)
    tgt_ids, tgt_lengths = self.tgt_vocab.encode_batch(targets)
    return pipeline.EncodedSplit.from_flat(src_ids, src_lengths, tgt_ids, tgt_lengths, example_ids)

  def _check_split(self, split: str) -> None:
    check_choice(f"{self.name} split", split, self.splits)

  def train_batches(
    self, batch_size: int, seed: int = 0, shard_index: int = 0, num_shards: int = 1
  ) -> pipeline.TrainBatches:
    """Infinite training batches; `batch_size` is global: a host gets batch_size // num_shards."""
    return pipeline.TrainBatches(
      self._train, self.bucket_shapes, batch_size, seed, shard_index, num_shards
    )

  def eval_batches(
    self, split: str, batch_size: int, shard_index: int = 0, num_shards: int = 1
  ) -> Iterator[pipeline.Batch]:
    """Every example of `split` once; the last batch of a shape is padded with dummy rows."""
    shapes = self.eval_shapes(split)
    return pipeline.eval_batches(self._encoded[split], shapes, batch_size, shard_index, num_shards)

  def eval_shapes(self, split: str) -> np.ndarray:
    """[K', 2] shapes `eval_batches(split)` uses: the bucket shapes, plus one outlier shape if
    some example (e.g. of test_long) is longer than every bucket."""
    self._check_split(split)
    if split not in self._eval_shapes:
      self._eval_shapes[split] = pipeline.eval_shapes(
        self.bucket_shapes, self._encoded[split], self._bucket_multiple
      )
    return self._eval_shapes[split]

  def num_examples(self, split: str) -> int:
    self._check_split(split)
    return len(self._texts[split].sources)

  def references(self, split: str) -> list[list[list[str]]]:
    """Per example id, its reference token lists (several for multi-pronunciation words)."""
    self._check_split(split)
    return [[self.tgt_vocab.tokenize(t) for t in targets] for targets in self._texts[split].targets]

  def source_texts(self, split: str) -> list[str]:
    """Per example id, its source string (as a user would type it)."""
    self._check_split(split)
    return self._texts[split].sources

  def source_tokens(self, split: str) -> list[list[str]]:
    """Per example id, its source token strings (plot axes)."""
    self._check_split(split)
    return [self.src_vocab.tokenize(s) for s in self._texts[split].sources]

  def save_vocabs(self, workdir: epath.PathLike) -> None:
    """Writes both vocabularies into `workdir`, where `load_vocabs` finds them."""
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self.src_vocab.save(workdir / SRC_VOCAB_FILE)
    self.tgt_vocab.save(workdir / TGT_VOCAB_FILE)


def load_task(
  cfg: ml_collections.ConfigDict, vocabs: tuple[Vocabulary, Vocabulary] | None = None
) -> Task:
  """Prepares (first use) and reads the dataset of `cfg` (see `get_data_config`).

  Args:
    cfg: the data config.
    vocabs: (src_vocab, tgt_vocab) to use instead of building them from the train split, e.g.
      `load_vocabs(workdir)` when resuming a run. Whether the source vocabulary reverses the
      sources is `cfg.reverse_source`'s call, whatever the one passed in does.
  """
  spec = dataset_spec(cfg.name)
  data_dir = os.path.expanduser(cfg.data_dir)
  builder = records.prepare(_builder_factory(spec, cfg, data_dir), data_dir)
  if spec.family == "translate":
    from attn_seq2seq.data import tfds_translation  # noqa: PLC0415  (the TFDS catalogue)

    source_key, target_key = tfds_translation.language_keys(builder, cfg.src_lang)
  else:
    source_key, target_key = _FEATURE_KEYS[spec.family]
  texts = {}
  for split in spec.splits:
    columns = records.read_text_features(builder, split, (source_key, target_key))
    texts[split] = SplitTexts([s[0] for s in columns[source_key]], columns[target_key])
  empty = [split for split in spec.splits if not texts[split].sources]
  if empty:
    raise ValueError(
      f"split {empty[0]!r} of {cfg.name} is empty; non-empty splits: "
      f"{', '.join(s for s in spec.splits if s not in empty) or 'none'}"
    )
  src_vocab, tgt_vocab = vocabs or _build_vocabs(cfg, spec, texts["train"])
  return Task(
    spec,
    cfg.name,
    texts,
    src_vocab,
    tgt_vocab,
    spec.max_src_len if cfg.max_src_len is None else cfg.max_src_len,
    spec.max_tgt_len if cfg.max_tgt_len is None else cfg.max_tgt_len,
    cfg.num_buckets,
    cfg.bucket_multiple,
    reverse_source=bool(cfg.get("reverse_source", False)),
  )


def _builder_factory(
  spec: DatasetSpec, cfg: ml_collections.ConfigDict, data_dir: str
) -> Callable[[], tfds.core.DatasetBuilder]:
  """Makes the TFDS builder of `cfg.name`, its builder config adjusted by the generation fields.

  The config is checked now; the builder is made later, under `records.prepare`'s lock.
  """
  changes = {}
  for field, families in GENERATION_FIELDS.items():
    if cfg[field] is not None:
      if spec.family not in families:
        raise ValueError(
          f"{field}={cfg[field]} does not apply to {cfg.name}; it applies to: {', '.join(families)}"
        )
      changes["seed" if field == "data_seed" else field] = cfg[field]
  if spec.family == "translate":
    from attn_seq2seq.data import tfds_translation  # noqa: PLC0415  (the TFDS catalogue)

    return functools.partial(
      tfds_translation.make_builder, spec.dataset, spec.builder_config, data_dir
    )
  builder_cls = _BUILDERS[spec.family]
  config = builder_cls.builder_configs[spec.builder_config or builder_cls.DEFAULT_CONFIG_NAME]
  changes = {key: value for key, value in sorted(changes.items()) if getattr(config, key) != value}
  if changes:  # A custom config, named by its changes so its files never mix with the preset's.
    name = "-".join([config.name, *(f"{key}{value}" for key, value in changes.items())])
    config = dataclasses.replace(config, name=name, **changes)
  return functools.partial(builder_cls, config=config, data_dir=data_dir)


def _build_vocabs(
  cfg: ml_collections.ConfigDict, spec: DatasetSpec, train: SplitTexts
) -> tuple[Vocabulary, Vocabulary]:
  """Source and target vocabularies of the configured levels, built from the train split."""
  levels = (cfg.src_tokenizer or spec.src_tokenizer, cfg.tgt_tokenizer or spec.tgt_tokenizer)
  for level in levels:
    check_choice("tokenizer", level, TOKENIZERS)
  if "sentencepiece" in levels:
    if levels != ("sentencepiece", "sentencepiece"):
      raise ValueError(f"sentencepiece is one joint model: use it on both sides, got {levels}")
    vocab = SentencePieceVocabulary.train(
      _sample_sentences(train, cfg.spm_max_sentences), cfg.spm_vocab_size
    )
    return vocab, vocab
  targets = [t for targets in train.targets for t in targets]
  return TokenVocabulary.build(train.sources, levels[0]), TokenVocabulary.build(targets, levels[1])


def _sample_sentences(train: SplitTexts, max_sentences: int, seed: int = 0) -> list[str]:
  """Both sides of a seeded sample of at most max_sentences // 2 training pairs, non-empty."""
  num_pairs = min(len(train.sources), max(max_sentences // 2, 1))
  pairs = np.sort(np.random.default_rng(seed).choice(len(train.sources), num_pairs, replace=False))
  sentences = [train.sources[i] for i in pairs] + [train.targets[i][0] for i in pairs]
  return [s for s in sentences if s.strip()]
