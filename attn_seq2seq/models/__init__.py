"""Model library: cells, encoders, attention scorers, decoders and the Seq2Seq model.

All Flax-specific code of the project lives in this package.
"""

from attn_seq2seq.models.cells import CELLS
from attn_seq2seq.models.decoders import DECODERS
from attn_seq2seq.models.model_config import get_model_config
from attn_seq2seq.models.params import count_params, matching_hidden_size, param_table
from attn_seq2seq.models.scorers import SCORERS, masked_softmax
from attn_seq2seq.models.seq2seq import Seq2Seq, build_model

__all__ = [
    "CELLS", "DECODERS", "SCORERS", "Seq2Seq", "build_model", "count_params", "get_model_config",
    "masked_softmax", "matching_hidden_size", "param_table",
]
