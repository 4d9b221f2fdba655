"""`ModelConfig`: every model option, declared once with its default and what it does.

    config = ModelConfig.of_experiment(experiment)  # validated
    model = build_model(config, src_vocab_size, tgt_vocab_size)

The `model` section of an experiment config (`get_model_config`, overridden on the command line
with `--config.model.X=`) is derived from these fields, so adding an option is one field here plus
its use in the module that reads it. `Seq2Seq` and the decoders hold the object as their `config`
field (a frozen dataclass is hashable, as Linen module fields must be) and each reads only what it
uses (as flax's examples/wmt does with `TransformerConfig`).
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import ml_collections

from attn_seq2seq.choices import check_choice
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models.attention_ablation import ATTENTION_ABLATIONS
from attn_seq2seq.models.cells import CELLS
from attn_seq2seq.models.coverage import COVERAGES
from attn_seq2seq.models.local_attention import LOCAL_ATTENTIONS
from attn_seq2seq.models.scorers import SCORERS

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
DECODERS = ("bahdanau", "luong", "fixed_init", "fixed_context")  # decoders.py builds each
ATTENTION_DECODERS = ("bahdanau", "luong")  # the others never read the scorer options
# Fields that the experiment config keeps at its top level (one knob for the whole run), not in
# its `model` section; `from_config` takes them as keyword arguments.
OUTSIDE_SECTION = ("dtype",)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The model's options. Defaults: a bidirectional GRU encoder and a Bahdanau decoder with
  additive attention. Construction validates the names (a one-line ConfigError listing the
  choices).

  `split_directions` (OpenNMT-py's `brnn` convention) gives each encoder direction
  `hidden_size / 2` units, so the encoder states (the attention keys) are `hidden_size` wide like
  the decoder's query: `dot` and `scaled_dot` then have no parameters of their own (Luong's
  h_t . h_s), `general` its `W_a` `[hidden, hidden]`, `cosine` its temperature. Without it the
  keys are `2 * hidden_size` wide and the dot family first maps them to the query size with a
  learned `key_map`, which makes `dot` and `general` one function class.

  `attention_ablation` (see `attention_ablation.py`) replaces the attention weights or context
  at every step, to measure how much a trained model relies on its attention; it changes no
  parameter, so a trained run's parameters load into the ablated model.

  `coverage` (see `coverage.py`) feeds a per-position record of past attention to the additive
  scorer; `coverage_loss_weight` is a training option kept here so the loss reads it from the
  model it trains (`training/steps.py`): See et al. 2017's coverage loss, for any attention model.
  The fixed-vector decoders ignore both, as they ignore every scorer option.

  `local_attention` (see `local_attention.py`) restricts each step's attention to a window of
  half-width `local_window` around a monotonic or predicted source position (Luong et al. 2015).
  """

  cell: str = "gru"  # recurrent cell of encoder and decoder: gru | lstm
  embed_size: int = 128  # source and target embedding size
  hidden_size: int = 256  # decoder state size; each encoder direction's too (unless split)
  num_layers: int = 1  # stacked encoder layers (each reads both directions of the one below)
  bidirectional: bool = True  # encoder reads the source in both directions
  split_directions: bool = False  # bidirectional: hidden_size/2 units per direction (brnn)
  decoder: str = "bahdanau"  # bahdanau | luong | fixed_init (Sutskever) | fixed_context (Cho)
  decoder_layers: int = 1  # stacked decoder RNN layers; attention reads the top one
  scorer: str = "additive"  # dot | scaled_dot | general | additive | cosine | location
  attention_size: int = 256  # hidden size of the additive scorer's MLP
  input_feeding: bool = True  # luong only: feed the attentional state into the next step
  max_src_len: int = 128  # location scorer only: source positions it can address
  attention_ablation: str = "none"  # at every step: none | uniform | shuffled | zero_context
  coverage: str = "none"  # additive scorer: none | sum | gru (Tu et al. 2016), see coverage.py
  coverage_loss_weight: float = 0.0  # loss + weight * sum_j min(a_ij, sum_{k<i} a_kj) (See 2017)
  local_attention: str = "none"  # Luong 3.1: none | monotonic (local-m) | predictive (local-p)
  local_window: int = 10  # local attention's half-width D (Gaussian sigma = D / 2 for local-p)
  dropout: float = 0.0  # on embeddings, between encoder layers, before the output layer
  dtype: str = "float32"  # compute dtype (params stay float32): float32 | bfloat16

  def __post_init__(self):
    check_choice("cell", self.cell, CELLS)
    check_choice("decoder", self.decoder, DECODERS)
    check_choice("scorer", self.scorer, SCORERS)
    check_choice("dtype", self.dtype, DTYPES)
    check_choice("attention_ablation", self.attention_ablation, ATTENTION_ABLATIONS)
    check_choice("coverage", self.coverage, COVERAGES)
    check_choice("local_attention", self.local_attention, LOCAL_ATTENTIONS)
    if self.local_window < 1:
      raise ConfigError(f"local_window must be >= 1, got {self.local_window}")
    if self.coverage != "none" and self.decoder in ATTENTION_DECODERS and self.scorer != "additive":
      raise ConfigError(
        f"coverage={self.coverage!r} feeds the additive scorer, got scorer={self.scorer!r}; "
        "allowed: scorer='additive', or coverage='none'"
      )
    if self.num_layers < 1:
      raise ConfigError(f"num_layers must be >= 1, got {self.num_layers}")
    if self.decoder_layers < 1:
      raise ConfigError(f"decoder_layers must be >= 1, got {self.decoder_layers}")
    if self.split_directions and not self.bidirectional:
      raise ConfigError(
        "split_directions=True needs bidirectional=True; allowed: a bidirectional "
        "encoder, or split_directions=False"
      )
    if self.split_directions and self.hidden_size % 2:
      raise ConfigError(
        f"split_directions=True needs an even hidden_size, got {self.hidden_size}; allowed: "
        "an even hidden_size (each direction gets half)"
      )

  @property
  def encoder_hidden_size(self) -> int:
    """Units of each encoder direction: `hidden_size`, or half of it with `split_directions`."""
    return self.hidden_size // 2 if self.split_directions else self.hidden_size

  @property
  def jnp_dtype(self) -> Any:
    """The compute dtype as a JAX dtype (`jnp.float32` or `jnp.bfloat16`)."""
    return DTYPES[self.dtype]

  @classmethod
  def from_config(cls, section: ml_collections.ConfigDict | Mapping, **outside) -> "ModelConfig":
    """The validated options of an experiment config's `model` section, plus the fields it keeps
    at its top level (`OUTSIDE_SECTION`, e.g. `dtype=config.dtype`). A field the section lacks
    takes its default (a run recorded before the field existed still loads); an unknown field is
    a one-line ConfigError."""
    values = section.to_dict() if isinstance(section, ml_collections.ConfigDict) else dict(section)
    values.update(outside)
    _check_fields(values)
    return cls(**values)

  @classmethod
  def of_experiment(cls, config: ml_collections.ConfigDict) -> "ModelConfig":
    """The model of a whole experiment config: its `model` section plus the fields it keeps at
    its top level (`OUTSIDE_SECTION`), i.e. `from_config(config.model, dtype=config.dtype)`."""
    return cls.from_config(config.model, **{name: config[name] for name in OUTSIDE_SECTION})


def get_model_config(**overrides) -> ml_collections.ConfigDict:
  """The `model` section of an experiment config: every `ModelConfig` field not in
  `OUTSIDE_SECTION`, at its default, then `overrides`; an unknown name is a one-line ConfigError."""
  _check_fields(overrides, section_only=True)
  config = ml_collections.ConfigDict(
    {
      field.name: field.default
      for field in dataclasses.fields(ModelConfig)
      if field.name not in OUTSIDE_SECTION
    }
  )
  config.update(overrides)
  return config


def _check_fields(values: Mapping, section_only: bool = False) -> None:
  valid = [
    f.name
    for f in dataclasses.fields(ModelConfig)
    if not (section_only and f.name in OUTSIDE_SECTION)
  ]
  unknown = [name for name in values if name not in valid]
  if unknown:
    raise ConfigError(f"unknown model field {unknown[0]!r}; valid fields: {', '.join(valid)}")
