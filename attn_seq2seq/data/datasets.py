"""The data config (`get_data_config`) and what each dataset name means (`dataset_spec`).

Dataset names are TFDS-style '<dataset>[/<builder config>]':
  'algorithmic/<task>_<short|medium|long>'  copy, reverse, sort, addition (algorithmic.py)
  'dates'                                    human-readable -> ISO dates (dates.py)
  'cmudict_g2p/<no_stress|with_stress>'      grapheme-to-phoneme (cmudict_g2p.py)
  '<name>_translate/<pair>'                  any translation set of the TFDS catalogue, e.g.
                                             'wmt14_translate/de-en' (tfds_translation.py; needs the
                                             network on first use)
Fields left None take the dataset's (or its builder config's) default when the task is loaded,
so overriding `name` alone (e.g. `--config.data.name=cmudict_g2p/no_stress`) stays consistent.
There is no shuffle buffer to size: training draws a full seeded permutation per epoch, seeded by
`train_batches(seed=...)`.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
from ml_collections.config_dict import placeholder

from attn_seq2seq.choices import check_choice, unknown_choice
from attn_seq2seq.data import algorithmic, cmudict_g2p, dates
from attn_seq2seq.errors import ConfigError

BASE_METRICS = ("exact_match", "token_accuracy")
TOKENIZERS = ("char", "word", "sentencepiece")
DATASET_FAMILIES = ("algorithmic", "dates", "cmudict_g2p", "*_translate")
# Synthetic-data fields of the data config, and the families whose builder config they override.
GENERATION_FIELDS = {
  "min_len": ("algorithmic",),
  "max_len": ("algorithmic",),
  "num_symbols": ("algorithmic",),
  "num_train": ("algorithmic", "dates"),
  "num_eval": ("algorithmic", "dates"),
  "data_seed": ("algorithmic", "dates", "cmudict_g2p"),
}


def get_data_config(name: str = "dates", **overrides) -> ml_collections.ConfigDict:
  """The data fields of an experiment config for dataset `name`, with `overrides` applied."""
  dataset_spec(name)  # Fails early on an unknown name.
  cfg = ml_collections.ConfigDict()
  cfg.name = name  # '<dataset>/<builder config>', see this module's docstring.
  cfg.data_dir = os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")  # Prepared on first use.
  cfg.src_tokenizer = placeholder(str)  # 'char', 'word' or 'sentencepiece'; None: dataset's.
  cfg.tgt_tokenizer = placeholder(str)  # As src_tokenizer, for targets.
  cfg.src_lang = placeholder(str)  # Translation: source language of the pair; None: builder's.
  cfg.spm_vocab_size = 8_000  # Pieces of the joint source+target SentencePiece model.
  cfg.spm_max_sentences = 1_000_000  # Training sentences sampled (seeded) to fit SentencePiece.
  cfg.max_src_len = placeholder(int)  # Longer training sources are dropped; None: dataset's.
  cfg.max_tgt_len = placeholder(int)  # Longer training targets are dropped; None: dataset's.
  cfg.reverse_source = False  # Every source read in reverse (Sutskever et al. 2014), everywhere.
  cfg.num_buckets = 8  # Most (S, T) training shapes; eval adds <= 1 outlier shape per split.
  cfg.bucket_multiple = 1  # Shapes round up to a multiple of this (8 suits TPUs).
  cfg.min_len = placeholder(int)  # algorithmic: shortest source; None: builder config's.
  cfg.max_len = placeholder(int)  # algorithmic: longest source (test_long: up to 2x).
  cfg.num_symbols = placeholder(int)  # algorithmic: symbols of copy/reverse/sort.
  cfg.num_train = placeholder(int)  # algorithmic, dates: training pairs.
  cfg.num_eval = placeholder(int)  # algorithmic, dates: pairs per evaluation split.
  cfg.data_seed = placeholder(int)  # algorithmic, dates, cmudict_g2p: generation/split seed.
  cfg.lock()  # A misspelt override is a KeyError.
  cfg.update(overrides)
  return cfg


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What a dataset name implies for the task built on it."""

  family: str  # 'algorithmic', 'dates', 'cmudict_g2p' or 'translate'.
  dataset: str  # TFDS dataset name.
  builder_config: str | None  # TFDS builder config name (None: the builder's default).
  splits: tuple[str, ...]  # All splits, 'train' first.
  eval_splits: tuple[str, ...]  # Splits scored at the end of training.
  src_tokenizer: str  # Default tokenizers.
  tgt_tokenizer: str
  metrics: tuple[str, ...]  # Metric families the task is scored with.
  gold_alignment: str | None = None  # 'copy' or 'reverse' when the gold alignment is known.
  max_src_len: int | None = None  # Default training length filters.
  max_tgt_len: int | None = None


def dataset_spec(name: str) -> DatasetSpec:
  """Resolves a dataset name; unknown datasets or builder configs raise a ValueError."""
  dataset, _, config = name.partition("/")
  if dataset == "algorithmic":
    presets = algorithmic.Algorithmic.builder_configs
    check_choice("algorithmic builder config", config, presets)
    task = presets[config].task
    tokenizer = "char" if task == "addition" else "word"
    alignment = task if task in ("copy", "reverse") else None
    return DatasetSpec(
      "algorithmic",
      dataset,
      config,
      algorithmic.SPLITS,
      ("test", "test_long"),
      tokenizer,
      tokenizer,
      BASE_METRICS + (("alignment",) if alignment else ()),
      gold_alignment=alignment,
    )
  if dataset == "dates":
    check_choice("dates builder config", config or "default", ["default"])
    return DatasetSpec(
      "dates", dataset, "default", dates.SPLITS, ("test",), "char", "char", BASE_METRICS
    )
  if dataset == "cmudict_g2p":
    presets = cmudict_g2p.CmudictG2p.builder_configs
    if config and config not in presets:
      check_choice("cmudict_g2p builder config", config, presets)
    return DatasetSpec(
      "cmudict_g2p",
      dataset,
      config or None,
      cmudict_g2p.SPLITS,
      ("test",),
      "char",
      "word",
      BASE_METRICS + ("wer", "per"),
    )
  if dataset.endswith("_translate"):
    from attn_seq2seq.data import tfds_translation  # noqa: PLC0415  (the TFDS catalogue)

    tfds_translation.check_name(dataset, config)
    return DatasetSpec(
      "translate",
      dataset,
      config or None,
      tfds_translation.SPLITS,
      ("test",),
      "sentencepiece",
      "sentencepiece",
      BASE_METRICS + ("bleu", "chrf"),
      max_src_len=128,
      max_tgt_len=128,
    )
  raise ConfigError(unknown_choice("dataset", dataset, DATASET_FAMILIES))
