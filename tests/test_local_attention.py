"""Local attention (`ModelConfig.local_attention`, Luong et al. 2015 §3.1): local-m and local-p."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
  VOCAB,
  assert_outputs_ignore_padding,
  assert_search_steps_reproduce_teacher_forcing,
  init_variables,
  random_ids,
)

from attn_seq2seq.models import SCORERS, ModelConfig, build_model, init_params
from attn_seq2seq.models.local_attention import predicted_positions

BASE = ModelConfig(embed_size=6, hidden_size=8, attention_size=7, max_src_len=12, scorer="general")
LOCALS = ("monotonic", "predictive")


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return random_ids(rng, (3, 9)), jnp.array([9, 5, 2]), random_ids(rng, (3, 7))


def _shared_params(own, shared):
  """`own` with every parameter that `shared` also has (same path) taken from `shared`."""
  flat = dict(jax.tree_util.tree_leaves_with_path(shared))
  return jax.tree_util.tree_map_with_path(lambda path, x: flat.get(path, x), own)


@pytest.mark.parametrize(
  "local,decoder,scorer",
  [  # every scorer, the kind of local attention and the decoder alternating
    (LOCALS[i % 2], ("bahdanau", "luong")[i // 2 % 2], scorer) for i, scorer in enumerate(SCORERS)
  ],
)
def test_a_window_over_every_position_with_a_flat_gaussian_is_global_attention(
  local, decoder, scorer
):
  src, lengths, tgt = _batch()
  config = dataclasses.replace(BASE, decoder=decoder, scorer=scorer)
  params = init_params(build_model(config, VOCAB, VOCAB), jax.random.key(0))
  logits, attn = build_model(config, VOCAB, VOCAB).apply({"params": params}, src, lengths, tgt)
  wide = dataclasses.replace(config, local_attention=local, local_window=10**6)  # sigma 5e5
  model = build_model(wide, VOCAB, VOCAB)
  wide_params = _shared_params(init_params(model, jax.random.key(1)), params)
  wide_logits, wide_attn = model.apply({"params": wide_params}, src, lengths, tgt)
  np.testing.assert_allclose(wide_attn, attn, atol=1e-6)
  np.testing.assert_allclose(wide_logits, logits, atol=1e-5)
  # A narrow window is not global attention.
  narrow = build_model(dataclasses.replace(wide, local_window=1), VOCAB, VOCAB)
  assert np.abs(narrow.apply({"params": wide_params}, src, lengths, tgt)[1] - attn).max() > 1e-3


def test_predicted_positions_stay_within_each_sentences_real_length():
  rng = np.random.default_rng(1)
  hidden = 8
  w = {
    "W_p": jnp.asarray(rng.normal(size=(hidden, hidden)) * 10, jnp.float32),
    "v_p": jnp.asarray(rng.normal(size=(hidden,)) * 100, jnp.float32),  # saturates the sigmoid
  }
  lengths = jnp.array([1, 2, 7, 30])
  query = jnp.asarray(rng.normal(size=(4, 50, hidden)), jnp.float32)
  positions = np.asarray(predicted_positions(w, query, lengths))
  assert positions.shape == (4, 50)
  assert np.all(positions >= 0.0) and np.all(positions <= (np.asarray(lengths) - 1)[:, None])
  assert positions[3].min() < 1.0 and positions[3].max() > 28.0  # both ends are reachable


@pytest.mark.parametrize("local", LOCALS)
@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_local_weights_live_in_a_window_of_the_real_positions(local, decoder):
  half_width = 1
  config = dataclasses.replace(
    BASE, decoder=decoder, local_attention=local, local_window=half_width
  )
  model = build_model(config, VOCAB, VOCAB)
  src, lengths, tgt = _batch(2)
  _, attn = model.apply({"params": init_params(model, jax.random.key(0))}, src, lengths, tgt)
  attn = np.asarray(attn)
  for row, n in enumerate(lengths.tolist()):
    np.testing.assert_array_equal(attn[row, :, n:], 0.0)
    for t in range(attn.shape[1]):
      support = np.flatnonzero(attn[row, t] > 0)
      assert support.max() - support.min() <= 2 * half_width + 1, (row, t, support)
      if local == "monotonic":  # p_t = t, clamped to the last position; weights sum to 1
        p = min(t, n - 1)
        assert set(support) <= set(range(p - half_width, p + half_width + 1))
        np.testing.assert_allclose(attn[row, t].sum(), 1.0, atol=1e-6)
      else:  # the Gaussian: at most 1
        assert attn[row, t].sum() <= 1.0 + 1e-6


@pytest.mark.parametrize("local", LOCALS)
@pytest.mark.parametrize("decoder,cell", [("bahdanau", "lstm"), ("luong", "gru")])
def test_local_outputs_do_not_depend_on_padding_or_batch_neighbours(local, decoder, cell):
  config = dataclasses.replace(BASE, decoder=decoder, cell=cell, local_attention=local)
  config = dataclasses.replace(config, local_window=2)
  model = build_model(config, VOCAB, VOCAB)
  rng = np.random.default_rng(3)  # a target longer than its source:
  assert_outputs_ignore_padding(model, init_variables(model), rng, tgt_len=7, tgt_pad=8)


@pytest.mark.parametrize("local", LOCALS)
@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_a_local_search_step_reproduces_teacher_forcing(local, decoder):
  config = dataclasses.replace(
    BASE, decoder=decoder, local_attention=local, local_window=2, coverage="sum", scorer="additive"
  )
  model = build_model(config, VOCAB, VOCAB)
  assert_search_steps_reproduce_teacher_forcing(model, init_variables(model), *_batch(4))


def test_local_attention_options_are_checked():
  with pytest.raises(ValueError, match=r"^unknown local_attention 'local'; valid choices: none, "):
    ModelConfig(local_attention="local")
  with pytest.raises(ValueError, match=r"^local_window must be >= 1, got 0"):
    ModelConfig(local_attention="monotonic", local_window=0)
