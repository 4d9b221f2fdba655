"""Whole-model invariants for every decoder x scorer pair, for GRU and LSTM.

Each pair runs with both cells; the encoder shape (uni/bidirectional x 1/2 layers) cycles over the
pairs so every combination is exercised with attention and with the fixed-vector decoders.
"""

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax import monitoring

from attn_seq2seq.models import (
  DECODERS,
  SCORERS,
  build_model,
  count_params,
  get_model_config,
  matching_hidden_size,
)
from attn_seq2seq.models.params import abstract_params

VOCAB = 11
PAIRS = [(d, s) for d in ("bahdanau", "luong") for s in SCORERS] + [
    ("fixed_init", "additive"), ("fixed_context", "additive")]
ENCODERS = list(itertools.product((True, False), (1, 2)))  # (bidirectional, num_layers)
CASES = [(cell, d, s, *ENCODERS[(i + j) % 4])
         for i, (d, s) in enumerate(PAIRS) for j, cell in enumerate(("gru", "lstm"))]


def _config(cell, decoder, scorer, bidirectional, num_layers, **kw):
  return get_model_config(cell=cell, decoder=decoder, scorer=scorer, bidirectional=bidirectional,
                          num_layers=num_layers, embed_size=6, hidden_size=8, attention_size=7,
                          max_src_len=12, input_feeding=(len(scorer) % 2 == 0), **kw)


def _init(model, src_len=4, tgt_len=3):
  ids = lambda n: jnp.full((1, n), 5, jnp.int32)
  return model.init(jax.random.key(0), ids(src_len), jnp.array([src_len]), ids(tgt_len))


def _ids(rng, shape):
  return rng.integers(4, VOCAB, size=shape).astype(np.int32)


@pytest.mark.parametrize("cell,decoder,scorer,bidirectional,num_layers", CASES)
def test_outputs_do_not_depend_on_padding_or_batch_neighbours(cell, decoder, scorer, bidirectional,
                                                               num_layers):
  model = build_model(_config(cell, decoder, scorer, bidirectional, num_layers), VOCAB, VOCAB)
  variables = _init(model)
  apply = jax.jit(lambda *batch: model.apply(variables, *batch))
  rng = np.random.default_rng(0)
  src_len, tgt_len, src_pad, tgt_pad = 5, 4, 9, 7
  src, tgt = _ids(rng, (src_len,)), _ids(rng, (tgt_len,))

  logits, attn = apply(src[None], jnp.array([src_len]), tgt[None])
  # Row 1 holds the pair, padded with random ids (not just PAD), between longer neighbours.
  src_batch, tgt_batch = _ids(rng, (3, src_pad)), _ids(rng, (3, tgt_pad))
  src_batch[1, :src_len], tgt_batch[1, :tgt_len] = src, tgt
  batch_logits, batch_attn = apply(src_batch, jnp.array([src_pad, src_len, 7]), tgt_batch)

  np.testing.assert_allclose(batch_logits[1, :tgt_len], logits[0], atol=1e-6)
  np.testing.assert_allclose(batch_attn[1, :tgt_len, :src_len], attn[0], atol=1e-6)
  if decoder in ("bahdanau", "luong"):
    np.testing.assert_array_equal(batch_attn[1, :, src_len:], 0.0)
    np.testing.assert_allclose(batch_attn.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("cell,decoder,scorer,bidirectional,num_layers",
                         [c for i, c in enumerate(CASES) if (i // 2) % 2 == i % 2])  # one per pair
def test_every_parameter_gets_a_gradient_from_real_tokens(cell, decoder, scorer, bidirectional,
                                                           num_layers):
  model = build_model(_config(cell, decoder, scorer, bidirectional, num_layers, dropout=0.1),
                      VOCAB, VOCAB)
  params = _init(model)["params"]
  rng = np.random.default_rng(1)
  src, tgt_in, tgt_out = _ids(rng, (3, 6)), _ids(rng, (3, 5)), _ids(rng, (3, 5))
  src_lengths, tgt_lengths = jnp.array([6, 4, 2]), jnp.array([5, 3, 2])
  tgt_mask = jnp.arange(5)[None, :] < tgt_lengths[:, None]

  def loss(params):
    logits, _ = model.apply({"params": params}, src, src_lengths, tgt_in, train=True,
                            rngs={"dropout": jax.random.key(2)})
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), tgt_out[..., None], -1)[..., 0]
    return jnp.sum(nll * tgt_mask) / tgt_mask.sum()

  grads = jax.jit(jax.grad(loss))(params)
  dead = [jax.tree_util.keystr(path) for path, g in jax.tree_util.tree_leaves_with_path(grads)
          if not np.any(np.asarray(g) != 0)]
  assert not dead, f"parameters without gradient: {dead}"


def _scramble_positions(encoded, rng):
  """`encoded` with every per-position tensor (states, keys, projections) replaced by noise."""
  return {name: x if x is None or name in ("summary", "src_mask") else jnp.asarray(rng.normal(size=x.shape), x.dtype)
          for name, x in encoded.items()}


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder", ["fixed_init", "fixed_context"])
def test_fixed_vector_decoders_see_only_the_summary(cell, decoder):
  rng = np.random.default_rng(2)
  src, src_lengths, tgt = _ids(rng, (2, 6)), jnp.array([6, 3]), _ids(rng, (2, 5))
  for kind, reacts in ((decoder, False), ("bahdanau", True)):  # the attention decoder as a control
    model = build_model(_config(cell, kind, "additive", True, 1), VOCAB, VOCAB)
    variables = _init(model)
    encoded = model.apply(variables, src, src_lengths, method=model.encode)
    decode = lambda enc: model.apply(variables, enc, tgt, method=model.decode)[0]
    change = np.abs(decode(_scramble_positions(encoded, rng)) - decode(encoded)).max()
    assert (change > 1e-3) if reacts else (change == 0.0), (kind, change)


@pytest.mark.parametrize("decoder,scorer", [("bahdanau", "additive"), ("luong", "general"),
                                            ("fixed_context", "dot")])
def test_search_step_reproduces_teacher_forcing(decoder, scorer):
  """Step-by-step decoding through `decode_step` gives the teacher-forced logits and attention."""
  model = build_model(_config("lstm", decoder, scorer, True, 1), VOCAB, VOCAB)
  variables = _init(model)
  rng = np.random.default_rng(3)
  src, src_lengths, tgt = _ids(rng, (2, 6)), jnp.array([6, 4]), _ids(rng, (2, 5))
  logits, attn = model.apply(variables, src, src_lengths, tgt)
  encoded = model.apply(variables, src, src_lengths, method=model.encode)
  carry = model.apply(variables, encoded, method=model.initial_state)
  for t in range(tgt.shape[1]):
    carry, step_logits, step_attn = model.apply(variables, encoded, carry, tgt[:, t],
                                                method=model.decode_step)
    np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)
    np.testing.assert_allclose(step_attn, attn[:, t], atol=1e-6)


def test_a_jitted_batch_64_step_compiles_once():
  model = build_model(get_model_config(hidden_size=16, embed_size=8, attention_size=16), VOCAB, VOCAB)
  params = _init(model)["params"]
  rng = np.random.default_rng(4)

  @jax.jit
  def sgd_step(params, src, src_lengths, tgt):
    loss = lambda p: model.apply({"params": p}, src, src_lengths, tgt)[0].mean()
    return jax.tree.map(lambda p, g: p - 0.1 * g, params, jax.grad(loss)(params))

  compiles = []
  monitoring.register_event_duration_secs_listener(
      lambda event, _, **kw: compiles.append(event)
      if event == "/jax/core/compile/backend_compile_duration" else None)
  for _ in range(3):
    batch = _ids(rng, (64, 12)), rng.integers(1, 13, 64).astype(np.int32), _ids(rng, (64, 10))
    params = sgd_step(params, *batch)
  assert len(compiles) == 1
  assert sgd_step._cache_size() == 1


@pytest.mark.parametrize("field,value,choices", [
    ("cell", "rnn", "gru, lstm"),
    ("decoder", "transformer", ", ".join(DECODERS)),
    ("scorer", "bilinear", ", ".join(SCORERS)),
])
def test_unknown_names_raise_with_the_valid_choices(field, value, choices):
  config = get_model_config(**{field: value})
  with pytest.raises(ValueError, match=f"unknown {field} '{value}'; valid choices: {choices}$"):
    build_model(config, VOCAB, VOCAB)


def test_matching_hidden_size_equalises_parameter_counts():
  attention = get_model_config(hidden_size=32, embed_size=16, attention_size=32)
  target = count_params(abstract_params(attention, VOCAB, VOCAB))
  baseline = get_model_config(decoder="fixed_init", embed_size=16)
  hidden = matching_hidden_size(baseline, target, VOCAB, VOCAB)
  count = lambda h: count_params(abstract_params(
      ml_collections.ConfigDict(dict(baseline.to_dict(), hidden_size=h)), VOCAB, VOCAB))
  assert hidden > 32
  assert abs(count(hidden) - target) <= min(abs(count(hidden - 1) - target),
                                            abs(count(hidden + 1) - target))
