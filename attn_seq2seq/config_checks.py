"""Range checks of every value of an experiment config, before anything is created or compiled.

    check_values(config)  # one-line ConfigError: "model.hidden_size=0 is out of range; ..."

`FIELD_RANGES` lists every numeric field of `experiment_config.base_config` with what it may
hold; names (optimizer, decoder, scorer, cell, dtype, schedule) are checked where they are used
(`optim`, `models.ModelConfig`), the dataset name by `data.datasets.dataset_spec`.
`train.check_config` runs all of them; `scripts/run_sweep.py` runs it for every run of a sweep.
"""

import math
import os

import ml_collections

from attn_seq2seq.errors import ConfigError


class _Range:
  """What a numeric field may hold: an int or a (finite) float within bounds; None if optional."""

  def __init__(
    self,
    kind: type,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
  ):
    self.kind, self.low, self.high = kind, low, high
    self.low_open, self.high_open, self.optional = low_open, high_open, optional

  def allows(self, value) -> bool:
    if value is None:
      return self.optional
    if isinstance(value, bool) or not isinstance(
      value, (int, float) if self.kind is float else int
    ):
      return False
    if not math.isfinite(value):
      return False
    if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
      return False
    return not (
      self.high is not None and (value > self.high or (self.high_open and value == self.high))
    )

  def __str__(self) -> str:
    kind = "an integer" if self.kind is int else "a finite number"
    bounds = []
    if self.low is not None:
      bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
    if self.high is not None:
      bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
    return f"{kind} {' and '.join(bounds)}".strip() + (" (or None)" if self.optional else "")


_POSITIVE_INT, _COUNT = _Range(int, 1), _Range(int, 0)
_RATE = _Range(float, 0, 1, high_open=True)  # dropout, label smoothing, momentum, betas
# Every numeric field of the experiment config (dotted path -> allowed values). Fields added
# elsewhere and not listed here are not range-checked.
FIELD_RANGES = {
  "seed": _COUNT,
  "batch_size": _POSITIVE_INT,
  "eval_batch_size": _POSITIVE_INT,
  "num_train_steps": _POSITIVE_INT,
  "learning_rate": _Range(float, 0, low_open=True),
  "warmup_steps": _COUNT,
  "grad_clip_norm": _Range(float, 0),
  "weight_decay": _Range(float, 0),
  "momentum": _RATE,
  "adam_b1": _RATE,
  "adam_b2": _RATE,
  "adam_eps": _Range(float, 0, low_open=True),
  "label_smoothing": _RATE,
  "dropout": _RATE,
  "log_every_steps": _POSITIVE_INT,
  "eval_every_steps": _POSITIVE_INT,
  "checkpoint_every_steps": _POSITIVE_INT,
  "max_checkpoints_to_keep": _POSITIVE_INT,
  "num_attention_plots": _COUNT,
  "length_bucket_width": _POSITIVE_INT,
  "decode_max_len_a": _Range(float, 0),
  "decode_max_len_b": _Range(float, 0),
  "early_stopping.patience": _COUNT,
  "early_stopping.min_delta": _Range(float, 0),
  # One per numeric field of `models.ModelConfig` (tests/test_seq2seq.py checks that none is
  # missing), checked here so that the message names the config path.
  "model.embed_size": _POSITIVE_INT,
  "model.hidden_size": _POSITIVE_INT,
  "model.num_layers": _POSITIVE_INT,
  "model.decoder_layers": _POSITIVE_INT,
  "model.attention_size": _POSITIVE_INT,
  "model.max_src_len": _POSITIVE_INT,
  "model.dropout": _RATE,
  "model.coverage_loss_weight": _Range(float, 0),
  "model.local_window": _POSITIVE_INT,
  "data.spm_vocab_size": _Range(int, 8),
  "data.spm_max_sentences": _POSITIVE_INT,
  "data.max_src_len": _Range(int, 1, optional=True),
  "data.max_tgt_len": _Range(int, 1, optional=True),
  "data.num_buckets": _POSITIVE_INT,
  "data.bucket_multiple": _POSITIVE_INT,
  "data.min_len": _Range(int, 1, optional=True),
  "data.max_len": _Range(int, 1, optional=True),
  "data.num_symbols": _Range(int, 1, optional=True),
  "data.num_train": _Range(int, 1, optional=True),
  "data.num_eval": _Range(int, 1, optional=True),
  "data.data_seed": _Range(int, 0, optional=True),
}
BOOL_FIELDS = (  # every bool of models.ModelConfig and of the data config
  "model.bidirectional",
  "model.split_directions",
  "model.input_feeding",
  "data.reverse_source",
)

# Which way every validation metric improves: the early-stopping `mode` each one implies.
METRIC_MODES = {
  "loss": "min",
  "perplexity": "min",
  "next_token_accuracy": "max",
  "exact_match": "max",
  "token_accuracy": "max",
  "wer": "min",
  "per": "min",
  "bleu": "max",
  "chrf": "max",
  "gold_attention_mass": "max",
  "alignment_error_rate": "min",
}
# The metrics of every task (teacher-forced), and those of each metric family
# (`metrics.compute.METRIC_FAMILIES`; a family not listed here is its own metric).
_TEACHER_FORCED_METRICS = ("loss", "perplexity", "next_token_accuracy")
_FAMILY_METRICS = {"alignment": ("gold_attention_mass", "alignment_error_rate")}
EARLY_STOPPING_MODES = ("auto", "max", "min")


def check_values(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line ConfigError naming the field, its value and what is allowed, for the first
  numeric field out of range (FIELD_RANGES), a non-boolean flag, an unknown dataset name, a
  data field that does not apply to the dataset, a min_len above max_len or a data directory
  that is a file. Names (optimizer, decoder, ...) are checked where they are used."""
  for path, allowed in FIELD_RANGES.items():
    found, value = _lookup(config, path)
    if found and not allowed.allows(value):
      raise ConfigError(f"{path}={value!r} is out of range; allowed: {allowed}")
  for path in BOOL_FIELDS:
    found, value = _lookup(config, path)
    if found and not isinstance(value, bool):
      raise ConfigError(f"{path}={value!r} is not a boolean; allowed: true, false")
  if "data" not in config:
    return
  from attn_seq2seq.data.datasets import (  # noqa: PLC0415  (TFDS: only to check a data section)
    GENERATION_FIELDS,
    dataset_spec,
  )

  data = config.data
  try:
    spec = dataset_spec(data.name)
  except ValueError as e:
    raise ConfigError(f"data.name={data.name!r}: {e}") from None
  for field, families in GENERATION_FIELDS.items():
    if data.get(field) is not None and spec.family not in families:
      raise ConfigError(
        f"data.{field}={data[field]!r} does not apply to {data.name}; it applies "
        f"to: {', '.join(families)}"
      )
  _check_early_stopping(config, data.name, spec.metrics)
  lengths = (data.get("min_len"), data.get("max_len"))
  if None not in lengths and data.min_len > data.max_len:
    raise ConfigError(
      f"data.min_len={data.min_len} is above data.max_len={data.max_len}; "
      "allowed: min_len <= max_len"
    )
  data_dir = os.path.expanduser(str(data.data_dir))
  if "://" not in data_dir and os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise ConfigError(
      f"data.data_dir={data.data_dir!r} is a file; allowed: a directory (created "
      "if missing; default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    )


def validation_metrics(metric_families: tuple[str, ...]) -> tuple[str, ...]:
  """The headline metrics of an evaluation of a task scored with `metric_families`."""
  family_metrics = [_FAMILY_METRICS.get(family, (family,)) for family in metric_families]
  return (*_TEACHER_FORCED_METRICS, *(m for metrics in family_metrics for m in metrics))


def early_stopping_mode(section: ml_collections.ConfigDict) -> str:
  """'max' or 'min': the `mode` of `config.early_stopping`, derived from its metric when 'auto';
  a one-line ConfigError for a mode that is none of EARLY_STOPPING_MODES or contradicts the
  metric (e.g. 'max' for 'loss')."""
  metric, mode = section.metric, section.mode
  if mode not in EARLY_STOPPING_MODES:
    raise ConfigError(
      f"early_stopping.mode={mode!r} is not a mode; allowed: {', '.join(EARLY_STOPPING_MODES)}"
    )
  implied = METRIC_MODES.get(metric)
  if implied is None:
    raise ConfigError(
      f"early_stopping.metric={metric!r} is not a validation metric; allowed: "
      + ", ".join(METRIC_MODES)
    )
  if mode not in ("auto", implied):
    better = "higher" if implied == "max" else "lower"
    raise ConfigError(
      f"early_stopping.mode={mode!r} contradicts early_stopping.metric={metric!r} ({better} is "
      f"better); allowed: {implied} or auto"
    )
  return implied


def _check_early_stopping(
  config: ml_collections.ConfigDict, dataset: str, metric_families: tuple[str, ...]
) -> None:
  """`config.early_stopping` (if the config has one): a mode that fits its metric, and a metric
  that the dataset's evaluation reports."""
  section = config.get("early_stopping")
  if section is None:
    return
  early_stopping_mode(section)
  allowed = validation_metrics(metric_families)
  if section.metric not in allowed:
    raise ConfigError(
      f"early_stopping.metric={section.metric!r} is not a validation metric of {dataset}; "
      f"allowed: {', '.join(allowed)}"
    )


def _lookup(config: ml_collections.ConfigDict, path: str) -> tuple[bool, object]:
  node = config
  for part in path.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return False, None
    node = node[part]
  return True, node
