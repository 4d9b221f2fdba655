"""Multiply-adds of the model's forward pass, from its `ModelConfig` and a batch's real lengths.

    train_flops(model_config, src_lengths, tgt_lengths, src_vocab, tgt_vocab)   # float, numpy only
    forward_flops(model_config, src_lengths, tgt_lengths, src_vocab, tgt_vocab, beams=5)
    forward_macs(model_config, src_vocab, tgt_vocab)  # ForwardMacs: the four coefficients below

`src_lengths [batch]` and `tgt_lengths [batch]` hold real sentences only (no dummy rows); a
target length counts the decoder steps, i.e. the target tokens plus EOS (the pipeline's
`tgt_lengths`). Padding is never counted: the figure is the work the batch needs, not what a
padded bucket shape makes the hardware do. FLOPs = 2 x multiply-adds; training = 3 x forward
(the backward pass costs two forward passes: the gradients of the inputs and of the weights).

What is counted: every matrix product of the forward pass (in the jaxpr, every `dot_general`),
term by term below. What is not: elementwise and reduction work, i.e. the cells' gate
nonlinearities and products, the additive scorer's tanh over `[src_len, attention]` per step, the
softmax, the cosine scorer's L2 norms, the maxout's max, bias additions, the loss, and the
embedding lookups (gathers, so `src_vocab` does not enter the count). That work grows with the
elements of a tensor, not with an inner dimension, it is memory-bound rather than bound by the
matmul units, and leaving it out is the convention that makes a FLOP rate comparable with a
matmul peak (and with the model-FLOP rates other toolkits report). Nor is the backward pass's
recomputation of the decoder step (`decoders.REMAT_POLICY`): that is how it is implemented, not
work the model needs. tests/test_flops.py checks the count exactly against the `dot_general`s of
the jaxpr of `model.apply` on unpadded batches, for every decoder x scorer x cell and every other
model option away from its default.

Notation: e embed_size, h hidden_size, d directions (2 if bidirectional), u the units of each
encoder direction (h, or h/2 with split_directions), k = d u the encoder state size (keys,
context, summary; h with split_directions), G the gates of the cell (3 for the GRU, 4 for the
LSTM), g = G h the decoder's gate pre-activations and g_e = G u an encoder direction's,
a attention_size, P max_src_len, V the target vocabulary, L num_layers, D decoder_layers; S source
tokens and T decoder steps of one sentence.

Once per sentence (`per_sentence`):
  bridge of each decoder layer            h0 = tanh(W summary)               D k h (LSTM: 2 D k h,
  (decoders.py, initial_carry)                                               c0 too)
  fixed_context: summary input            W_c c, added to every step         k g
Per source token (`per_src_token`):
  encoder layer 1 (encoders.py)           input projection, recurrence       d (e g_e + u g_e)
  encoder layer l > 1                     input projection, recurrence       d (k g_e + u g_e)
  key projection, once per sentence       dot, scaled_dot, cosine: k h if k != h (key map; never
                                          with split_directions, where k = h), else 0;
  (attention decoders, scorers.py)        general: k h (W_a); additive: k a (U_a); location: 0
  coverage=gru: source term B h_j         once per sentence (coverage.py)    3 k
Per decoder step (`per_tgt_step`):
  every decoder                           embedding input, recurrence        e g + h g
                                          upper layers (decoder_layers):
                                          input from below, recurrence       (D - 1) 2 h g
                                          output layer                       h V
  bahdanau                                context input (`context_input`)    k g
                                          maxout readout of [s_i; c_i; E y]  (h + k + e) 2h
  luong                                   attentional state tanh(W_c[c; h])  (k + h) h
                                          input feeding (h~_{t-1} input)     h g if input_feeding
  fixed_context                           maxout readout of [h_t; E y; c]    (h + e + k) 2h
  scorer, query side                      additive: h a (W_a s); location: h P (W_a h_t, every
                                          addressable position); others: 0
  coverage=gru: state term V s            (coverage.py)                      3 h
  local_attention=predictive: p_t         v_p^T tanh(W_p h_t)                h h + h
Per decoder step and source token (`per_tgt_step_src_token`, attention decoders):
  scores                                  dot, scaled_dot, general, cosine: h; additive: a
                                          (v_a^T tanh(.)); location: 0
  context c = sum_s a_s h_s               k
The forward multiply-adds of a sentence are then
  per_sentence + S per_src_token + T (per_tgt_step + S per_tgt_step_src_token),
with beam search multiplying the decoder terms by the beam size (the source is encoded once).

Options that add no product (so, by the convention above, nothing to the count):
  * `coverage=sum` (C + a, and V_c C in the additive scorer's tanh: elementwise);
    `coverage_loss_weight` (the loss); GRU coverage's gate arithmetic.
  * `local_attention` and `local_window`: the window is a mask. The scorer still scores every
    source position and the context still sums over every one (weights outside the window are
    0), so the products are global attention's, however the window falls; local-m adds no
    product, local-p only its position predictor (above; its Gaussian is elementwise). The count
    therefore does not depend on the data even where local-p's window does. (An implementation
    that scored only the 2 D + 1 positions of the window would do less work; this one does not.)
  * `attention_ablation`: it replaces the weights (`uniform`, `shuffled`, a gather) or the
    context (`zero_context`) with no product of its own and removes none from the traced forward
    pass: under `uniform` the scores (and the keys, and local-p's predictor) are computed and
    left unused, under `zero_context` the context sum, so XLA may prune them from the compiled
    program. The count of an ablated model is that of the model it ablates (ablations are meant
    for evaluating a trained model).
  * `dropout` (elementwise) and `dtype` (the same products in any precision).
The fixed-vector decoders ignore every attention option (scorer, coverage, local attention,
ablation): they add nothing to their count.

Model options this count does not know (a new decoder, cell, scorer, coverage, local attention or
ablation name, or a new ModelConfig field away from its default) are a one-line ConfigError
"no FLOP model for ..." (`check_flop_model`), never a wrong number.
"""

import dataclasses
import functools

import numpy as np

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models.model_config import ModelConfig

# What the count covers (tests/test_flops.py checks it against every choice models/ offers).
GATES = {"gru": 3, "lstm": 4}  # the cells counted: gate blocks of their `[.., G * hidden]`
COUNTED_DECODERS = ("bahdanau", "luong", "fixed_init", "fixed_context")
COUNTED_SCORERS = ("dot", "scaled_dot", "general", "additive", "cosine", "location")
COUNTED_COVERAGES = ("none", "sum", "gru")  # coverage.py: gru adds products, sum none
COUNTED_LOCAL_ATTENTIONS = ("none", "monotonic", "predictive")  # predictive adds its predictor
COUNTED_ATTENTION_ABLATIONS = ("none", "uniform", "shuffled", "zero_context")  # no products
# ModelConfig fields whose every value this count covers (the others must keep their default).
COUNTED_FIELDS = (
  "cell",
  "embed_size",
  "hidden_size",
  "num_layers",
  "bidirectional",
  "split_directions",
  "decoder",
  "decoder_layers",
  "scorer",
  "attention_size",
  "input_feeding",
  "max_src_len",
  "attention_ablation",  # replaces weights or context: no product added or removed
  "coverage",
  "coverage_loss_weight",  # the loss: no matmul
  "local_attention",
  "local_window",  # a mask over every scored position: no product added or removed
  "dropout",  # no matmul
  "dtype",  # the same products in any precision
)


@dataclasses.dataclass(frozen=True)
class ForwardMacs:
  """The forward multiply-adds of one sentence of `S` source tokens and `T` decoder steps are
  `per_sentence + S * per_src_token + T * (per_tgt_step + S * per_tgt_step_src_token)`."""

  per_sentence: int  # bridge; fixed_context's summary input projection
  per_src_token: int  # encoder layers (all directions), the scorer's key projection
  per_tgt_step: int  # decoder cell input and recurrence, attention query side, readout, output
  per_tgt_step_src_token: int  # attention scores and context, per step and source token

  def total(self, src_lengths: np.ndarray, tgt_lengths: np.ndarray, beams: int = 1) -> int:
    """Multiply-adds of sentences `src_lengths [n]` x `tgt_lengths [n]` (decoder steps, EOS
    included), the decoder terms run for each of `beams` hypotheses."""
    src = np.asarray(src_lengths, np.int64)
    tgt = np.asarray(tgt_lengths, np.int64)
    if src.shape != tgt.shape or src.ndim != 1:
      raise ValueError(f"src_lengths {src.shape} and tgt_lengths {tgt.shape}: two [n] arrays")
    return int(
      self.per_sentence * src.size
      + self.per_src_token * src.sum()
      + beams * (self.per_tgt_step * tgt.sum() + self.per_tgt_step_src_token * int(src @ tgt))
    )


def check_flop_model(model_config: ModelConfig) -> None:
  """Raises a one-line ConfigError "no FLOP model for ..." if the count does not cover
  `model_config`: a decoder, cell, scorer, coverage, local attention or ablation it does not
  know, or a ModelConfig field outside `COUNTED_FIELDS` away from its default."""
  if not isinstance(model_config, ModelConfig):
    raise TypeError(f"a ModelConfig, not {type(model_config).__name__}")
  choices = [("decoder", COUNTED_DECODERS), ("cell", tuple(GATES))]
  if model_config.decoder in ("bahdanau", "luong"):  # the others never read attention options
    choices += [
      ("scorer", COUNTED_SCORERS),
      ("coverage", COUNTED_COVERAGES),
      ("local_attention", COUNTED_LOCAL_ATTENTIONS),
      ("attention_ablation", COUNTED_ATTENTION_ABLATIONS),
    ]
  for kind, known in choices:
    value = getattr(model_config, kind)
    if value not in known:
      raise ConfigError(
        f"no FLOP model for model.{kind}={value!r}; counted: {', '.join(known)} "
        "(attn_seq2seq/models/flops.py)"
      )
  for field in dataclasses.fields(model_config):
    value = getattr(model_config, field.name)
    if field.name not in COUNTED_FIELDS and value != field.default:
      raise ConfigError(
        f"no FLOP model for model.{field.name}={value!r}; the count covers it only at its "
        f"default {field.default!r} (attn_seq2seq/models/flops.py)"
      )


@functools.lru_cache(maxsize=64)
def forward_macs(model_config: ModelConfig, src_vocab: int, tgt_vocab: int) -> ForwardMacs:
  """The forward pass's multiply-adds of `model_config` as `ForwardMacs` (see the module
  docstring, term by term). `src_vocab` is accepted for symmetry and does not enter the count
  (embeddings are lookups). A model the count does not cover: ConfigError (`check_flop_model`)."""
  del src_vocab  # embeddings are gathers, not matmuls
  check_flop_model(model_config)
  c = model_config
  e, h, layers = c.embed_size, c.hidden_size, c.decoder_layers
  k = (2 if c.bidirectional else 1) * c.encoder_hidden_size  # keys, context, summary
  g = GATES[c.cell] * h  # the decoder's gate pre-activations
  encoder = _encoder_macs(c)
  per_sentence = layers * k * h * (2 if c.cell == "lstm" else 1)  # bridges (h0; LSTM: and c0)
  per_step = e * g + h * g + h * tgt_vocab  # embedding input, bottom recurrence, output layer
  per_step += (layers - 1) * 2 * h * g  # each upper decoder layer: input from below, recurrence
  if c.decoder == "fixed_context":
    return ForwardMacs(per_sentence + k * g, encoder, per_step + (h + e + k) * 2 * h, 0)
  if c.decoder == "fixed_init":
    return ForwardMacs(per_sentence, encoder, per_step, 0)
  keys, query, score = _attention_macs(c, k)
  if c.decoder == "bahdanau":
    per_step += k * g + (h + k + e) * 2 * h  # context input, maxout readout
  else:  # luong
    per_step += (k + h) * h + (h * g if c.input_feeding else 0)  # W_c, input feeding
  return ForwardMacs(per_sentence, encoder + keys, per_step + query, score + k)


def _encoder_macs(c: ModelConfig) -> int:
  """Encoder multiply-adds per source token: every layer's input projection and recurrence, in
  every direction, of `u = c.encoder_hidden_size` units each (h, or h/2 with split_directions)."""
  dirs, u = (2 if c.bidirectional else 1), c.encoder_hidden_size
  g = GATES[c.cell] * u  # the encoder's gate pre-activations (per direction)
  return dirs * (c.embed_size * g + u * g) + (c.num_layers - 1) * dirs * (dirs * u * g + u * g)


def _attention_macs(c: ModelConfig, k: int) -> tuple[int, int, int]:
  """The attention's (per source token, per step, per step and source token) multiply-adds of
  an attention decoder with keys of size `k`: the scorer, GRU coverage and local-p's predictor."""
  keys, query, score = _scorer_macs(c.scorer, k, c.hidden_size, c.attention_size, c.max_src_len)
  if c.coverage == "gru":  # B h_j once per sentence, V s per step (coverage.py); sum: no product
    keys, query = keys + k * 3, query + c.hidden_size * 3
  if c.local_attention == "predictive":  # p_t = S sigmoid(v_p^T tanh(W_p h_t)), local_attention.py
    query += c.hidden_size * c.hidden_size + c.hidden_size
  return keys, query, score


def _scorer_macs(scorer: str, k: int, h: int, a: int, max_src_len: int) -> tuple[int, int, int]:
  """(key projection per source token, query side per step, score per step and source token)."""
  if scorer == "additive":
    return k * a, h * a, a  # U_a h_j; W_a s_{i-1}; v_a^T tanh(.)
  if scorer == "location":
    return 0, h * max_src_len, 0  # W_a h_t over every addressable position
  key_map = k * h if scorer == "general" or k != h else 0  # W_a, or keys mapped to h
  return key_map, 0, h  # dot, scaled_dot, general, cosine: q . key over h


def forward_flops(
  model_config: ModelConfig,
  src_lengths: np.ndarray,
  tgt_lengths: np.ndarray,
  src_vocab: int,
  tgt_vocab: int,
  *,
  beams: int = 1,
) -> float:
  """FLOPs (2 x multiply-adds) of the forward pass over real sentences `src_lengths [n]`,
  `tgt_lengths [n]` (decoder steps, EOS included); `beams` hypotheses per sentence in search."""
  return 2.0 * forward_macs(model_config, src_vocab, tgt_vocab).total(
    src_lengths, tgt_lengths, beams
  )


def train_flops(
  model_config: ModelConfig,
  src_lengths: np.ndarray,
  tgt_lengths: np.ndarray,
  src_vocab: int,
  tgt_vocab: int,
) -> float:
  """Training FLOPs of a batch of real sentences: 3 x the forward pass (backward = 2 forward).
  Plain numpy on the host, a few microseconds per batch (the config's count is cached)."""
  return 3.0 * forward_flops(model_config, src_lengths, tgt_lengths, src_vocab, tgt_vocab)
