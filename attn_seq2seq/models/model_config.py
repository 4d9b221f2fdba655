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
from attn_seq2seq.models.cells import CELLS
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
  choices)."""

  cell: str = "gru"  # recurrent cell of encoder and decoder: gru | lstm
  embed_size: int = 128  # source and target embedding size
  hidden_size: int = 256  # state size of the decoder and of each encoder direction
  num_layers: int = 1  # stacked encoder layers (each reads both directions of the one below)
  bidirectional: bool = True  # encoder reads the source in both directions
  decoder: str = "bahdanau"  # bahdanau | luong | fixed_init (Sutskever) | fixed_context (Cho)
  scorer: str = "additive"  # dot | scaled_dot | general | additive | cosine | location
  attention_size: int = 256  # hidden size of the additive scorer's MLP
  input_feeding: bool = True  # luong only: feed the attentional state into the next step
  max_src_len: int = 128  # location scorer only: source positions it can address
  dropout: float = 0.0  # on embeddings, between encoder layers, before the output layer
  dtype: str = "float32"  # compute dtype (params stay float32): float32 | bfloat16

  def __post_init__(self):
    check_choice("cell", self.cell, CELLS)
    check_choice("decoder", self.decoder, DECODERS)
    check_choice("scorer", self.scorer, SCORERS)
    check_choice("dtype", self.dtype, DTYPES)
    if self.num_layers < 1:
      raise ConfigError(f"num_layers must be >= 1, got {self.num_layers}")

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
