"""The encoder-decoder model and `build_model`, which maps a `ModelConfig` to modules.

    src_ids -> embed -> RNNEncoder -> {enc_outputs, summary, keys} -> decoder (teacher forcing
    or one search step at a time) -> logits over the target vocabulary, attention weights.

Teacher forcing (`__call__`) and search (`encode`, `initial_state`, `decode_step`) run the same
step function, so a greedy search reproduces the teacher-forced logits of its own output.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.models.decoders import make_decoder
from attn_seq2seq.models.encoders import RNNEncoder
from attn_seq2seq.models.model_config import ModelConfig


class Seq2Seq(nn.Module):
  """RNN encoder-decoder with attention or a fixed-vector bridge (see `models/decoders.py`)."""

  config: ModelConfig
  src_vocab_size: int
  tgt_vocab_size: int

  def setup(self):
    config, dtype = self.config, self.config.jnp_dtype
    embed = lambda n, name: nn.Embed(n, config.embed_size, dtype=dtype, name=name)
    self.src_embed = embed(self.src_vocab_size, "src_embed")
    self.tgt_embed = embed(self.tgt_vocab_size, "tgt_embed")
    self.embed_dropout = nn.Dropout(config.dropout)
    self.encoder = RNNEncoder(
      config.cell,
      config.encoder_hidden_size,
      config.num_layers,
      config.bidirectional,
      config.dropout,
      dtype,
    )
    self.dec = make_decoder(
      config, vocab_size=self.tgt_vocab_size, key_size=self.encoder.output_size, name="decoder"
    )

  def encode(self, src_ids: jax.Array, src_lengths: jax.Array, *, train: bool = False) -> dict:
    """`src_ids [batch, src_len]`, `src_lengths [batch]` -> the encoded source:
    `enc_outputs [batch, src_len, dirs*hidden]`, `src_mask [batch, src_len]`,
    `summary [batch, dirs*hidden]`, `keys` (projected once for the scorer; None without
    attention), and with GRU coverage `coverage_sources [batch, src_len, 3]`."""
    embedded = self.embed_dropout(self.src_embed(src_ids), deterministic=not train)
    enc_outputs, summary = self.encoder(embedded, src_lengths, train=train)
    return {
      "enc_outputs": enc_outputs,
      "src_mask": jnp.arange(src_ids.shape[1])[None, :] < src_lengths[:, None],
      "summary": summary,
      "keys": self.dec.project_keys(enc_outputs),
      **self.dec.per_sentence_inputs(enc_outputs),
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

  def decode_step(self, encoded: dict, carry: dict, prev_ids: jax.Array, *, beams: int = 1):
    """One search step: `prev_ids [rows]` ->
    `(carry, logits [rows, tgt_vocab] float32, attn_weights [rows, src_len])`, where
    `rows = batch * beams` (`beams` = 1 for greedy search): the beams of sentence b are rows
    b * beams ... (b + 1) * beams - 1 of `carry` and share `encoded`'s row b (never tiled)."""
    return self.dec.step(encoded, carry, self.tgt_embed(prev_ids), beams)


def build_model(config: ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
  """The `Seq2Seq` of `config` (already validated: `ModelConfig` checks its names on
  construction; `ModelConfig.of_experiment(config)` builds one from an experiment config)."""
  if not isinstance(config, ModelConfig):  # a ConfigDict would fail later, less clearly
    raise TypeError(
      f"build_model takes a ModelConfig, got {type(config).__name__}; use "
      "ModelConfig.of_experiment(config)"
    )
  return Seq2Seq(config, src_vocab_size, tgt_vocab_size)
