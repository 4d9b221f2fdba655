"""Decoders: Bahdanau and Luong attention, and the fixed-vector baselines of Sutskever and Cho.

Every decoder is split the same way, so that teacher forcing and search share one step function:
  * `step_inputs(encoded, tgt_embedded)`: everything that does not depend on the recurrence,
    computed for all target positions at once, outside the scan (the embedding's input projection);
  * `make_step(encoded)`: a pure `step(carry, x_t) -> (carry, (outputs_t, attn_t))` closed over the
    decoder's weights and the encoded source; the only thing inside `lax.scan`;
  * `readout(outputs, tgt_embedded, encoded)`: the output layers over all positions at once.
`__call__` scans `step` over the target (teacher forcing); `step` runs it once (search).

`encoded` is the dict built by `Seq2Seq.encode`: `enc_outputs [batch, src_len, key]`,
`src_mask [batch, src_len]`, `summary [batch, summary]` and the scorer's projected `keys`.
Search steps run on `rows = batch * beams` rows, the beams of sentence b being rows
b * beams ... (b + 1) * beams - 1; `beams` is passed explicitly (1 for teacher forcing and greedy
search), and every beam reads its sentence's one copy of `encoded` (never tiled).
The carry is a dict with the cell carry under `'rnn'` (plus `'attn_h'` for Luong input feeding,
`'rnn_<l>'` for stacked layers, `'coverage' [rows, src_len]` with coverage and `'step' [rows]`
with local-m attention); it starts from the learned bridge tanh(W summary + b) (Bahdanau et al.
2015, §A.2.2).

`config.decoder_layers` stacks that many cells (Sutskever et al. 2014; Luong et al. 2015 §4.1):
layer l > 0 reads the new state of layer l - 1 (its input projection `rnn_<l>_input` inside the
step, since it depends on the recurrence), and each layer starts from its own bridge. Layer 0
keeps the names of the one-layer decoder (`rnn`, `bridge_h`), so one layer is today's model;
layer l's carry is `'rnn_<l>'`. Whatever else enters the decoder (embedding, Bahdanau's context,
Luong's input feeding, Cho's summary) enters the bottom layer; everything that reads "the decoder
state" reads the top layer's: Luong's query h_t and attentional state, Bahdanau's query (the top
layer's previous state s_{i-1}) and readout, the fixed-vector readouts. No dropout between
decoder layers (the step is a pure function without random keys).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.choices import check_choice
from attn_seq2seq.models.attention_ablation import rotate_within_lengths, uniform_weights
from attn_seq2seq.models.cells import make_cell
from attn_seq2seq.models.coverage import GRUCoverage, update_coverage
from attn_seq2seq.models.local_attention import (
  PositionPredictor,
  local_weights,
  monotonic_positions,
  predicted_positions,
)
from attn_seq2seq.models.model_config import DECODERS, ModelConfig
from attn_seq2seq.models.scorers import attend, make_scorer, masked_softmax

# What the backward pass of the decoder scan keeps from the forward pass: the outputs of the plain
# matmuls ([batch, features], small). Everything else, notably the additive scorer's
# tanh [batch, src_len, attention] of every step, is recomputed. Stacking such per-step tensors
# over time made XLA:CPU copy the whole [tgt_len, batch, src_len, attention] buffer at every step
# (3 ms per step at the reference size, more than the rest of the step together).
REMAT_POLICY = jax.checkpoint_policies.dots_with_no_batch_dims_saveable


class MaxoutReadout(nn.Module):
  """Deep output with maxout (Goodfellow et al. 2013) as in Cho et al. 2014 and Bahdanau et al.
  2015, §A.2.2: t~ = U_o s + V_o E y_{i-1} + C_o c (one matmul over the concatenation),
  t = max over pairs of t~; `[..., in] -> [..., size]`."""

  size: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    t = nn.Dense(2 * self.size, dtype=self.dtype, name="U_V_C")(x)  # [..., 2*size]
    return t.reshape(t.shape[:-1] + (self.size, 2)).max(axis=-1)  # [..., size]


class Decoder(nn.Module):
  """Shared machinery: the cell, the embedding input projection, the bridge, the scan.

  Reads `config.cell`, `hidden_size`, `dropout` (before the output layer) and `dtype`; the
  attention decoders also read the scorer's options, Luong `input_feeding`."""

  config: ModelConfig
  vocab_size: int
  key_size: int  # encoder state size (`RNNEncoder.output_size`)

  @property
  def hidden_size(self) -> int:
    return self.config.hidden_size

  @property
  def dtype(self) -> Any:
    return self.config.jnp_dtype

  def setup(self):
    config, hidden = self.config, self.hidden_size
    self.rnn = make_cell(config.cell, hidden, self.dtype)
    self.embed_input = nn.Dense(self.rnn.gates_size, dtype=self.dtype)
    self.bridge_h = nn.Dense(hidden, dtype=self.dtype)
    lstm = config.cell == "lstm"
    self.bridge_c = nn.Dense(hidden, dtype=self.dtype) if lstm else None
    upper = range(1, config.decoder_layers)  # the stacked layers above the first
    self.upper_rnns = [
      make_cell(config.cell, hidden, self.dtype, name=f"rnn_{layer}") for layer in upper
    ]
    gates = self.rnn.gates_size
    init = nn.initializers.lecun_normal()
    self.upper_inputs = [self.param(f"rnn_{layer}_input", init, (hidden, gates)) for layer in upper]
    self.upper_input_biases = [
      self.param(f"rnn_{layer}_input_bias", nn.initializers.zeros_init(), (gates,))
      for layer in upper
    ]
    self.upper_bridges = [
      (
        nn.Dense(hidden, dtype=self.dtype, name=f"bridge_h_{layer}"),
        nn.Dense(hidden, dtype=self.dtype, name=f"bridge_c_{layer}") if lstm else None,
      )
      for layer in upper
    ]
    self.output = nn.Dense(self.vocab_size, dtype=self.dtype)
    self.output_dropout = nn.Dropout(self.config.dropout)

  # -- hooks of the decoder kinds -------------------------------------------------------------

  def project_keys(self, enc_outputs: jax.Array) -> jax.Array | None:
    """Once per sentence: the scorer's keys (None for the fixed-vector decoders)."""
    return None

  def per_sentence_inputs(self, enc_outputs: jax.Array) -> dict:
    """Once per sentence: other projections of the encoder states the steps read (the GRU
    coverage's source term `'coverage_sources'`), added to `encoded`."""
    return {}

  def step_inputs(self, encoded, tgt_embedded, beams=1):
    """`[rows, tgt_len, embed]` -> hoisted cell-input pre-activations `[rows, tgt_len, gates]`."""
    return self.embed_input(tgt_embedded)

  def make_step(self, encoded, beams=1):
    """A pure `step(carry, x_t [rows, gates]) -> (carry, (outputs_t, attn_t [rows, src_len]))`."""
    raise NotImplementedError

  def readout(self, outputs, tgt_embedded, encoded, train, beams=1):
    """Step outputs `[rows, tgt_len, ...]` -> logits `[rows, tgt_len, vocab]` float32."""
    raise NotImplementedError

  # -- shared ---------------------------------------------------------------------------------

  def initial_carry(self, encoded) -> dict:
    """Every layer's carry from its bridge tanh(W summary + b): `{'rnn': ..., 'rnn_1': ...}`."""
    summary = encoded["summary"]
    bridges = [(self.bridge_h, self.bridge_c), *self.upper_bridges]
    carry = {}
    for name, (bridge_h, bridge_c) in zip(self._layer_names(), bridges, strict=True):
      h = jnp.tanh(bridge_h(summary))
      c = None if bridge_c is None else jnp.tanh(bridge_c(summary))
      carry[name] = self.rnn.carry_from(h, c)
    return carry

  def _layer_names(self) -> list[str]:
    """The carry keys of the layers, bottom first: 'rnn', 'rnn_1', ..."""
    return ["rnn"] + [f"rnn_{layer}" for layer in range(1, self.config.decoder_layers)]

  def top_state(self, carry: dict) -> jax.Array:
    """The top layer's output state `[rows, hidden]` of a carry."""
    return carry[self._layer_names()[-1]]["h"]

  def make_stack_step(self):
    """A pure `stack_step(carry, x_t [rows, gates]) -> (layers, h_top [rows, hidden])`: every
    layer's new carry (a dict keyed like the carry's layers) and the top layer's new state;
    `x_t` is the bottom layer's input pre-activation. Weights are fetched here, outside the
    scan."""
    names, cell_step = self._layer_names(), self.rnn.step
    weights = [self.rnn.weights()] + [cell.weights() for cell in self.upper_rnns]
    inputs = [
      (kernel.astype(self.dtype), bias.astype(self.dtype))
      for kernel, bias in zip(self.upper_inputs, self.upper_input_biases, strict=True)
    ]

    def stack_step(carry, x_t):
      layers = {names[0]: cell_step(weights[0], carry[names[0]], x_t)}
      for layer, (kernel, bias) in enumerate(inputs, start=1):
        below = layers[names[layer - 1]]["h"]  # [rows, hidden]
        layers[names[layer]] = cell_step(weights[layer], carry[names[layer]], below @ kernel + bias)
      return layers, layers[names[-1]]["h"]

    return stack_step

  def logits(self, x, train):
    x = self.output_dropout(x, deterministic=not train)
    return self.output(x).astype(jnp.float32)  # [..., vocab]

  def __call__(self, encoded, tgt_embedded, *, train: bool = False):
    """Teacher forcing: `tgt_embedded [batch, tgt_len, embed]` ->
    `(logits [batch, tgt_len, vocab], attn_weights [batch, tgt_len, src_len])`."""
    xs = self.step_inputs(encoded, tgt_embedded).swapaxes(0, 1)  # [tgt_len, batch, gates]
    step = jax.checkpoint(self.make_step(encoded), prevent_cse=False, policy=REMAT_POLICY)
    _, (outputs, attn) = jax.lax.scan(step, self.initial_carry(encoded), xs)
    outputs = jax.tree.map(lambda x: x.swapaxes(0, 1), outputs)  # batch-major
    return self.readout(outputs, tgt_embedded, encoded, train), attn.swapaxes(0, 1)

  def step(self, encoded, carry, prev_embedded, beams=1):
    """One search step: `prev_embedded [rows, embed]` ->
    `(carry, logits [rows, vocab], attn_weights [rows, src_len])`, `rows = batch * beams` (the
    beams of a sentence, consecutive rows, share its encoded source)."""
    x = self.step_inputs(encoded, prev_embedded[:, None], beams)[:, 0]
    carry, (outputs, attn) = self.make_step(encoded, beams)(carry, x)
    outputs = jax.tree.map(lambda x: x[:, None], outputs)
    logits = self.readout(outputs, prev_embedded[:, None], encoded, False, beams)
    return carry, logits[:, 0], attn


class AttentionDecoder(Decoder):
  """Adds a scorer whose keys are projected once per sentence."""

  def setup(self):
    super().setup()
    self.attention = make_scorer(
      self.config.scorer,
      query_size=self.hidden_size,
      key_size=self.key_size,
      attention_size=self.config.attention_size,
      max_src_len=self.config.max_src_len,
      coverage=self.config.coverage != "none",
      dtype=self.dtype,
    )
    if self.config.coverage == "gru":
      self.coverage_model = GRUCoverage(self.hidden_size, self.dtype, name="coverage")
    if self.config.local_attention == "predictive":
      self.position_predictor = PositionPredictor(self.hidden_size, self.dtype, name="local_p")

  def project_keys(self, enc_outputs):
    return self.attention.project_keys(enc_outputs)

  def per_sentence_inputs(self, enc_outputs):
    if self.config.coverage != "gru":
      return {}
    return {"coverage_sources": self.coverage_model.project_sources(enc_outputs)}

  def initial_carry(self, encoded):
    carry = super().initial_carry(encoded)
    if self.config.coverage != "none":
      carry["coverage"] = jnp.zeros(encoded["src_mask"].shape, jnp.float32)  # [batch, src_len]
    if self.config.local_attention == "monotonic":  # local-m's p_t = t
      carry["step"] = jnp.zeros(encoded["src_mask"].shape[:1], jnp.int32)  # [batch]
    return carry

  def _attend(self, encoded, beams):
    """A pure `attend_fn(query [rows, hidden], carry) -> (context [rows, key],
    attn [rows, src_len], updates)`, where `rows = batch * beams`, the beams of a sentence are
    consecutive rows sharing its (untiled) encoded source, and `updates` holds the carry entries
    the attention renews (`'coverage' [rows, src_len]` with coverage, `'step' [rows]` with
    local-m). Applies `config.local_attention` (`local_attention.py`), `attention_ablation`
    (`attention_ablation.py`) and `coverage` (`coverage.py`), in that order."""
    config = self.config
    w, score = self.attention.weights(), self.attention.score
    keys, mask, values = encoded["keys"], encoded["src_mask"], encoded["enc_outputs"]
    batch, src_len = mask.shape
    src_lengths = mask.sum(-1)  # [batch]
    uniform = uniform_weights(mask)[:, None, :]  # [batch, 1, src_len], hoisted out of the scan
    coverage_w = self.coverage_model.weights() if config.coverage == "gru" else None
    coverage_sources = encoded.get("coverage_sources")  # [batch, src_len, 3] for gru coverage
    local = config.local_attention
    position_w = self.position_predictor.weights() if local == "predictive" else None

    def attend_fn(query, carry):
      rows = query.shape[0]
      q = query.reshape(batch, beams, query.shape[-1])  # [batch, beams, hidden]
      if config.coverage == "none":
        scores = score(w, q, keys)  # [batch, beams, src_len]
      else:
        coverage = carry["coverage"].reshape(batch, beams, src_len)
        scores = score(w, q, keys, coverage)
      updates = {}
      if local == "none":
        attn = masked_softmax(scores, mask)  # [batch, beams, src_len]
      else:
        if local == "monotonic":
          positions = monotonic_positions(carry["step"].reshape(batch, beams), src_lengths)
          updates["step"] = carry["step"] + 1
        else:
          positions = predicted_positions(position_w, q, src_lengths)  # [batch, beams]
        attn = local_weights(local, scores, mask, positions, config.local_window)
      if config.attention_ablation == "uniform":
        attn = jnp.broadcast_to(uniform, attn.shape)
      elif config.attention_ablation == "shuffled":
        attn = rotate_within_lengths(attn, mask)
      context = attend(attn, values)  # [batch, beams, key]
      if config.attention_ablation == "zero_context":
        context = jnp.zeros_like(context)
      if config.coverage != "none":
        new = update_coverage(
          config.coverage, coverage_w, coverage, attn, q, coverage_sources, mask
        )  # [batch, beams, src_len]
        updates["coverage"] = new.reshape(rows, src_len)
      return context.reshape(rows, -1), attn.reshape(rows, src_len), updates

    return attend_fn


class BahdanauDecoder(AttentionDecoder):
  """Bahdanau et al. 2015 (§3.1, §A.2.2): the previous state s_{i-1} is the query,

    e_ij = score(s_{i-1}, h_j),  a_i = softmax(e_i),  c_i = sum_j a_ij h_j,
    s_i = RNN(s_{i-1}, [E y_{i-1}; c_i]),  p(y_i) = softmax(W_o maxout(s_i, E y_{i-1}, c_i)).
  The readout uses s_i, as eq. (4) of the main text and the GroundHog/Nematus code do.
  """

  def setup(self):
    super().setup()
    self.context_input = self.param(
      "context_input", nn.initializers.lecun_normal(), (self.key_size, self.rnn.gates_size)
    )
    self.deep_output = MaxoutReadout(self.hidden_size, self.dtype)

  def make_step(self, encoded, beams=1):
    stack_step, top_state = self.make_stack_step(), self.top_state
    context_input = self.context_input.astype(self.dtype)
    attend_fn = self._attend(encoded, beams)

    def step(carry, x_t):
      context, attn, updates = attend_fn(top_state(carry), carry)  # query: s_{i-1} (top layer)
      layers, h = stack_step(carry, x_t + context @ context_input)
      return {**carry, **layers, **updates}, ({"h": h, "context": context}, attn)

    return step

  def readout(self, outputs, tgt_embedded, encoded, train, beams=1):
    t = self.deep_output(jnp.concatenate([outputs["h"], outputs["context"], tgt_embedded], -1))
    return self.logits(t, train)


class LuongDecoder(AttentionDecoder):
  """Luong et al. 2015 (§3, §3.3): the new state h_t is the query,

    h_t = RNN(h_{t-1}, [E y_{t-1}; h~_{t-1}]),  a_t = softmax(score(h_t, h_s)),  c_t = sum a_t h_s,
    h~_t = tanh(W_c [c_t; h_t]),  p(y_t) = softmax(W_s h~_t).
  With `input_feeding` the attentional state h~_{t-1} joins the next input (eq. 5 and §3.3);
  without it, h~_t is computed after the scan for all steps at once.
  """

  def setup(self):
    super().setup()
    self.W_c = self.param(
      "W_c", nn.initializers.lecun_normal(), (self.key_size + self.hidden_size, self.hidden_size)
    )
    if self.config.input_feeding:
      self.feed_input = self.param(
        "feed_input", nn.initializers.lecun_normal(), (self.hidden_size, self.rnn.gates_size)
      )

  def initial_carry(self, encoded):
    carry = super().initial_carry(encoded)
    if self.config.input_feeding:
      carry["attn_h"] = jnp.zeros_like(carry["rnn"]["h"])
    return carry

  def make_step(self, encoded, beams=1):
    stack_step = self.make_stack_step()
    W_c = self.W_c.astype(self.dtype)
    feed_input = self.feed_input.astype(self.dtype) if self.config.input_feeding else None
    attend_fn = self._attend(encoded, beams)

    def step(carry, x_t):
      if feed_input is not None:
        x_t = x_t + carry["attn_h"] @ feed_input
      layers, h = stack_step(carry, x_t)
      context, attn, updates = attend_fn(h, carry)  # query: h_t (of the top layer)
      if feed_input is None:
        return {**carry, **layers, **updates}, ({"h": h, "context": context}, attn)
      attn_h = jnp.tanh(jnp.concatenate([context, h], -1) @ W_c)
      return {**carry, **layers, **updates, "attn_h": attn_h}, ({"attn_h": attn_h}, attn)

    return step

  def readout(self, outputs, tgt_embedded, encoded, train, beams=1):
    attn_h = outputs.get("attn_h")
    if attn_h is None:
      W_c = self.W_c.astype(self.dtype)
      attn_h = jnp.tanh(jnp.concatenate([outputs["context"], outputs["h"]], -1) @ W_c)
    return self.logits(attn_h, train)


class FixedInitDecoder(Decoder):
  """Sutskever et al. 2014: the encoder summary only initialises the decoder (via the bridge);
  p(y_t) = softmax(W_o h_t). It never sees per-position encoder states; its attention weights are
  reported as zeros."""

  def make_step(self, encoded, beams=1):
    stack_step = self.make_stack_step()
    src_len = encoded["src_mask"].shape[1]

    def step(carry, x_t):
      layers, h = stack_step(carry, x_t)
      return {**carry, **layers}, ({"h": h}, jnp.zeros((x_t.shape[0], src_len), jnp.float32))

    return step

  def readout(self, outputs, tgt_embedded, encoded, train, beams=1):
    return self.logits(outputs["h"], train)


class FixedContextDecoder(FixedInitDecoder):
  """Cho et al. 2014 (§2.2): the summary c initialises the decoder and enters every step,

    h_t = RNN(h_{t-1}, [E y_{t-1}; c]),  p(y_t) = softmax(W_o maxout(h_t, E y_{t-1}, c)).
  c is constant over time, so its input projection is added to the hoisted step inputs.
  """

  def setup(self):
    super().setup()
    self.summary_input = nn.Dense(self.rnn.gates_size, use_bias=False, dtype=self.dtype)
    self.deep_output = MaxoutReadout(self.hidden_size, self.dtype)

  def step_inputs(self, encoded, tgt_embedded, beams=1):
    summary_proj = self.summary_input(_per_beam(encoded["summary"], beams))  # [rows, gates]
    return self.embed_input(tgt_embedded) + summary_proj[:, None, :]  # [rows, tgt_len, gates]

  def readout(self, outputs, tgt_embedded, encoded, train, beams=1):
    summary = _per_beam(encoded["summary"], beams)[:, None, :]  # [rows, 1, summary]
    summary = jnp.broadcast_to(summary, tgt_embedded.shape[:2] + summary.shape[-1:])
    t = self.deep_output(jnp.concatenate([outputs["h"], tgt_embedded, summary], -1))
    return self.logits(t, train)


def _per_beam(x: jax.Array, beams: int) -> jax.Array:
  """`[batch, ...]` -> `[batch * beams, ...]`: each sentence's entry repeated for its beams
  (consecutive rows). Only the small summary is repeated, never the per-position states."""
  return x if beams == 1 else jnp.repeat(x, beams, axis=0)


_CLASSES = {
  "bahdanau": BahdanauDecoder,
  "luong": LuongDecoder,
  "fixed_init": FixedInitDecoder,
  "fixed_context": FixedContextDecoder,
}


def make_decoder(config: ModelConfig, **kwargs) -> Decoder:
  """The decoder module of `config.decoder` (in DECODERS), built with `config` and `kwargs`
  (`vocab_size`, `key_size`, `name`)."""
  check_choice("decoder", config.decoder, DECODERS)
  return _CLASSES[config.decoder](config, **kwargs)
