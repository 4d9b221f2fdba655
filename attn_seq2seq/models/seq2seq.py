"""The encoder-decoder model and `build_model`, which maps a model config to modules.

    src_ids -> embed -> RNNEncoder -> {enc_outputs, summary, keys} -> decoder (teacher forcing
    or one search step at a time) -> logits over the target vocabulary, attention weights.

Teacher forcing (`__call__`) and search (`encode`, `initial_state`, `decode_step`) run the same
step function, so a greedy search reproduces the teacher-forced logits of its own output.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from attn_seq2seq.choices import check_choice
from attn_seq2seq.models.cells import CELLS
from attn_seq2seq.models.decoders import DECODERS, make_decoder
from attn_seq2seq.models.encoders import RNNEncoder
from attn_seq2seq.models.scorers import SCORERS

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class Seq2Seq(nn.Module):
  """RNN encoder-decoder with attention or a fixed-vector bridge (see `models/decoders.py`)."""

  src_vocab_size: int
  tgt_vocab_size: int
  cell: str = "gru"
  embed_size: int = 128
  hidden_size: int = 256
  num_layers: int = 1
  bidirectional: bool = True
  decoder: str = "bahdanau"
  scorer: str = "additive"
  attention_size: int = 256
  input_feeding: bool = True
  max_src_len: int = 128
  dropout: float = 0.0
  dtype: Any = jnp.float32

  def setup(self):
    embed = lambda n, name: nn.Embed(n, self.embed_size, dtype=self.dtype, name=name)
    self.src_embed = embed(self.src_vocab_size, "src_embed")
    self.tgt_embed = embed(self.tgt_vocab_size, "tgt_embed")
    self.embed_dropout = nn.Dropout(self.dropout)
    self.encoder = RNNEncoder(self.cell, self.hidden_size, self.num_layers, self.bidirectional,
                              self.dropout, self.dtype)
    self.dec = make_decoder(
        self.decoder,
        vocab_size=self.tgt_vocab_size,
        cell=self.cell,
        hidden_size=self.hidden_size,
        key_size=self.encoder.output_size,
        scorer=self.scorer,
        attention_size=self.attention_size,
        input_feeding=self.input_feeding,
        max_src_len=self.max_src_len,
        dropout=self.dropout,
        dtype=self.dtype,
        name="decoder",
    )

  def encode(self, src_ids: jax.Array, src_lengths: jax.Array, *, train: bool = False) -> dict:
    """`src_ids [batch, src_len]`, `src_lengths [batch]` -> the encoded source:
    `enc_outputs [batch, src_len, dirs*hidden]`, `src_mask [batch, src_len]`,
    `summary [batch, dirs*hidden]`, `keys` (projected once for the scorer; None without attention)."""
    embedded = self.embed_dropout(self.src_embed(src_ids), deterministic=not train)
    enc_outputs, summary = self.encoder(embedded, src_lengths, train=train)
    return {
        "enc_outputs": enc_outputs,
        "src_mask": jnp.arange(src_ids.shape[1])[None, :] < src_lengths[:, None],
        "summary": summary,
        "keys": self.dec.project_keys(enc_outputs),
    }

  def __call__(self, src_ids, src_lengths, tgt_in, *, train: bool = False):
    """Teacher forcing: `tgt_in [batch, tgt_len]` (BOS + target) ->
    `(logits [batch, tgt_len, tgt_vocab] float32, attn_weights [batch, tgt_len, src_len])`."""
    encoded = self.encode(src_ids, src_lengths, train=train)
    return self.decode(encoded, tgt_in, train=train)

  def decode(self, encoded: dict, tgt_in: jax.Array, *, train: bool = False):
    """Teacher-forced decoding of an already encoded source (see `__call__`)."""
    tgt_embedded = self.embed_dropout(self.tgt_embed(tgt_in), deterministic=not train)
    return self.dec(encoded, tgt_embedded, train=train)

  def initial_state(self, encoded: dict) -> dict:
    """The decoder carry before the first target token (a dict of `[batch, ...]` arrays)."""
    return self.dec.initial_carry(encoded)

  def decode_step(self, encoded: dict, carry: dict, prev_ids: jax.Array):
    """One search step: `prev_ids [rows]` ->
    `(carry, logits [rows, tgt_vocab] float32, attn_weights [rows, src_len])`, where `rows` is
    `encoded`'s batch or, for beam search, batch x beams: the beams of sentence b are rows
    b * beams ... (b + 1) * beams - 1 of `carry` and share `encoded`'s row b (never tiled)."""
    return self.dec.step(encoded, carry, self.tgt_embed(prev_ids))


def build_model(model_config: ml_collections.ConfigDict, src_vocab_size: int, tgt_vocab_size: int,
                dtype: str = "float32") -> Seq2Seq:
  """A `Seq2Seq` from the `model` section of an experiment config; unknown names are a ValueError."""
  check_choice("cell", model_config.cell, CELLS)
  check_choice("decoder", model_config.decoder, DECODERS)
  check_choice("scorer", model_config.scorer, SCORERS)
  check_choice("dtype", dtype, tuple(DTYPES))
  if model_config.num_layers < 1:
    raise ValueError(f"num_layers must be >= 1, got {model_config.num_layers}")
  fields = ("cell", "embed_size", "hidden_size", "num_layers", "bidirectional", "decoder",
            "scorer", "attention_size", "input_feeding", "max_src_len", "dropout")
  return Seq2Seq(src_vocab_size, tgt_vocab_size, **{f: model_config[f] for f in fields},
                 dtype=DTYPES[dtype])
