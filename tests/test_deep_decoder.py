"""`decoder_layers`: stacked decoder RNNs for every decoder, the attention reading the top one."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
  VOCAB,
  assert_every_parameter_has_a_gradient,
  assert_outputs_ignore_padding,
  assert_search_steps_reproduce_teacher_forcing,
  init_variables,
  random_ids,
)

from attn_seq2seq.models import (
  DECODERS,
  ModelConfig,
  abstract_params,
  build_model,
  count_params,
  matching_hidden_size,
)
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.training import train

BASE = ModelConfig(embed_size=6, hidden_size=8, attention_size=7, decoder_layers=2)


@pytest.mark.parametrize(
  "decoder,cell", [(d, ("gru", "lstm")[i % 2]) for i, d in enumerate(DECODERS)]
)
def test_two_layer_decoder_outputs_do_not_depend_on_padding_or_batch_neighbours(decoder, cell):
  model = build_model(dataclasses.replace(BASE, decoder=decoder, cell=cell), VOCAB, VOCAB)
  assert_outputs_ignore_padding(model, init_variables(model), np.random.default_rng(0))


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_two_layer_search_step_reproduces_teacher_forcing(decoder):
  model = build_model(dataclasses.replace(BASE, decoder=decoder, cell="lstm"), VOCAB, VOCAB)
  rng = np.random.default_rng(1)
  src, src_lengths, tgt = random_ids(rng, (2, 6)), jnp.array([6, 4]), random_ids(rng, (2, 5))
  _, carry = assert_search_steps_reproduce_teacher_forcing(
    model, init_variables(model), src, src_lengths, tgt
  )
  assert set(carry) >= {"rnn", "rnn_1"}


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_every_layer_gets_a_gradient_and_the_top_layer_queries(decoder):
  """Every parameter of a 3-layer decoder gets a gradient; the first step's attention depends on
  the top layer's bridge (the top layer queries)."""
  config = dataclasses.replace(BASE, decoder=decoder, decoder_layers=3)
  model = build_model(config, VOCAB, VOCAB)
  params = init_variables(model)["params"]
  rng = np.random.default_rng(2)
  src, tgt = random_ids(rng, (2, 6)), random_ids(rng, (2, 5))
  src_lengths = jnp.array([6, 3])

  def loss(params):
    logits, _ = model.apply({"params": params}, src, src_lengths, tgt)
    return jnp.mean(jax.nn.log_softmax(logits)[..., 5])

  assert_every_parameter_has_a_gradient(jax.grad(loss)(params))
  top_bridge = jax.tree_util.tree_map_with_path(
    lambda path, x: x + 0.5 if "bridge_h_2" in jax.tree_util.keystr(path) else x, params
  )
  first = [model.apply({"params": p}, src, src_lengths, tgt)[1][:, 0] for p in (params, top_bridge)]
  # Bahdanau's first query is the top layer's initial state, Luong's the top layer's first state:
  # both depend on the top layer's bridge (a bottom-layer query would not).
  assert np.abs(first[0] - first[1]).max() > 1e-4


def test_matching_hidden_size_handles_a_deep_decoder():
  attention = ModelConfig(hidden_size=32, embed_size=16, attention_size=32)
  target = count_params(abstract_params(build_model(attention, VOCAB, VOCAB)))
  hidden = {}
  for layers in (1, 2):
    baseline = ModelConfig(decoder="fixed_init", embed_size=16, decoder_layers=layers)
    hidden[layers] = matching_hidden_size(baseline, target, VOCAB, VOCAB)
    count = lambda h, b=baseline: count_params(
      abstract_params(build_model(dataclasses.replace(b, hidden_size=h), VOCAB, VOCAB))
    )
    h = hidden[layers]
    assert abs(count(h) - target) <= min(abs(count(h - 1) - target), abs(count(h + 1) - target))
  assert hidden[2] < hidden[1]  # more weights per hidden unit: a smaller size


def test_a_one_layer_decoder_has_no_stacked_parameters():
  params = abstract_params(build_model(dataclasses.replace(BASE, decoder_layers=1), VOCAB, VOCAB))
  assert not [name for name in params["decoder"] if name.startswith(("rnn_", "bridge_h_"))]


def test_a_two_layer_decoder_with_local_m_trains_a_quick_config(tmp_path, quick_config):
  config = quick_config(decoder_layers=2, decoder="luong", local_attention="monotonic")
  train.train_and_evaluate(config, tmp_path / "run")
  results = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
  assert results["step"] == 3 and np.isfinite(results["test"]["exact_match"])
