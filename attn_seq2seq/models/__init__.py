"""Model library: cells, encoders, attention scorers, decoders and the Seq2Seq model.

All Flax-specific code of the project lives in this package.
"""

from attn_seq2seq.models.attention_ablation import ATTENTION_ABLATIONS
from attn_seq2seq.models.cells import CELLS
from attn_seq2seq.models.model_config import (
  ATTENTION_DECODERS,
  DECODERS,
  ModelConfig,
  get_model_config,
)
from attn_seq2seq.models.params import (
  abstract_params,
  count_params,
  init_params,
  matching_hidden_size,
  param_table,
)
from attn_seq2seq.models.scorers import SCORERS, masked_softmax
from attn_seq2seq.models.seq2seq import Seq2Seq, build_model

__all__ = [
  "ATTENTION_ABLATIONS",
  "ATTENTION_DECODERS",
  "CELLS",
  "DECODERS",
  "ModelConfig",
  "SCORERS",
  "Seq2Seq",
  "abstract_params",
  "build_model",
  "count_params",
  "get_model_config",
  "init_params",
  "masked_softmax",
  "matching_hidden_size",
  "param_table",
]
