"""Attention ablations (`ModelConfig.attention_ablation`): what each replaces, that it changes no
parameter, leaves the fixed-vector decoders alone and keeps every padding guarantee."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
  VOCAB,
  assert_outputs_ignore_padding,
  assert_search_steps_reproduce_teacher_forcing,
  random_ids,
)

from attn_seq2seq.models import (
  ATTENTION_ABLATIONS,
  ModelConfig,
  abstract_params,
  build_model,
  init_params,
)
from attn_seq2seq.models.attention_ablation import rotate_within_lengths, uniform_weights

ABLATED = [a for a in ATTENTION_ABLATIONS if a != "none"]
BASE = ModelConfig(embed_size=6, hidden_size=8, attention_size=7, scorer="general")


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  return random_ids(rng, (3, 7)), jnp.array([7, 4, 1]), random_ids(rng, (3, 5))


def _apply(config, params, batch):
  """`(logits, attn)` of `config`'s model under `params`."""
  return build_model(config, VOCAB, VOCAB).apply({"params": params}, *batch)


def _params(config):
  return init_params(build_model(config, VOCAB, VOCAB), jax.random.key(0))


def test_rotation_is_a_permutation_within_each_length_that_moves_every_weight():
  lengths = jnp.array([6, 5, 2, 1, 0])
  mask = jnp.arange(6)[None, :] < lengths[:, None]
  weights = jnp.arange(1, 31, dtype=jnp.float32).reshape(5, 1, 6) * mask[:, None, :]
  rotated = np.asarray(rotate_within_lengths(weights, mask))
  for row, n in enumerate(lengths.tolist()):
    real, out = np.asarray(weights[row, 0, :n]), rotated[row, 0]
    np.testing.assert_array_equal(np.sort(out[:n]), np.sort(real))  # a permutation
    np.testing.assert_array_equal(out[n:], 0.0)  # padding stays 0
    if n >= 2:
      assert not np.any(out[:n] == real), (n, out[:n], real)  # nothing stays in place
  np.testing.assert_allclose(uniform_weights(mask).sum(-1), [1, 1, 1, 1, 0])


@pytest.mark.parametrize("decoder", ["fixed_init", "fixed_context"])
def test_ablations_leave_a_fixed_vector_decoder_bitwise_unchanged(decoder):
  config = dataclasses.replace(BASE, decoder=decoder)
  params, batch = _params(config), _batch()
  logits, attn = _apply(config, params, batch)
  for ablation in ABLATED:
    ablated = _apply(dataclasses.replace(config, attention_ablation=ablation), params, batch)
    np.testing.assert_array_equal(ablated[0], logits)
    np.testing.assert_array_equal(ablated[1], attn)


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_an_ablated_model_has_the_parameters_of_the_unablated_one(decoder):
  config = dataclasses.replace(BASE, decoder=decoder)
  shapes = lambda c: jax.tree.map(lambda x: x.shape, abstract_params(build_model(c, VOCAB, VOCAB)))
  for ablation in ABLATED:
    assert shapes(dataclasses.replace(config, attention_ablation=ablation)) == shapes(config)


def test_uniform_weights_are_equal_on_real_positions_and_zero_on_padding():
  config = dataclasses.replace(BASE, attention_ablation="uniform")
  src, lengths, tgt = _batch()
  _, attn = _apply(config, _params(config), (src, lengths, tgt))
  for row, n in enumerate(lengths.tolist()):
    np.testing.assert_allclose(attn[row, :, :n], 1.0 / n, rtol=1e-6)
    np.testing.assert_array_equal(attn[row, :, n:], 0.0)


def test_shuffled_weights_are_the_models_own_weights_permuted():
  """Luong without input feeding: the query h_t does not depend on the context, so the ablated
  model's weights before the shuffle are the unablated model's."""
  config = dataclasses.replace(BASE, decoder="luong", input_feeding=False)
  params, (src, lengths, tgt) = _params(config), _batch()
  _, attn = _apply(config, params, (src, lengths, tgt))
  shuffled = dataclasses.replace(config, attention_ablation="shuffled")
  _, shuffled_attn = _apply(shuffled, params, (src, lengths, tgt))
  mask = jnp.arange(src.shape[1])[None, :] < lengths[:, None]
  np.testing.assert_array_equal(shuffled_attn, rotate_within_lengths(attn, mask))
  assert np.abs(shuffled_attn - attn).max() > 1e-3


def _scramble(encoded, names, rng):
  return {
    k: jnp.asarray(rng.normal(size=v.shape), v.dtype) if k in names else v
    for k, v in encoded.items()
  }


@pytest.mark.parametrize(
  "ablation,scrambled",
  [("zero_context", ("keys", "enc_outputs")), ("uniform", ("keys",))],
)
@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_ablated_outputs_ignore_what_the_ablation_removes(decoder, ablation, scrambled):
  """zero_context: the per-position states never reach the logits; uniform: the scorer's keys
  never do (the unablated model reacts to both, as a control)."""
  rng = np.random.default_rng(1)
  src, lengths, tgt = _batch()
  config = dataclasses.replace(BASE, decoder=decoder)
  params = _params(config)
  for kind, reacts in ((ablation, False), ("none", True)):
    model = build_model(dataclasses.replace(config, attention_ablation=kind), VOCAB, VOCAB)
    variables = {"params": params}
    encoded = model.apply(variables, src, lengths, method=model.encode)
    noisy = _scramble(encoded, scrambled, rng)
    logits = [model.apply(variables, e, tgt, method=model.decode)[0] for e in (encoded, noisy)]
    change = np.abs(logits[0] - logits[1]).max()
    assert (change > 1e-3) if reacts else (change == 0.0), (kind, change)


@pytest.mark.parametrize(
  "decoder,ablation", [(("bahdanau", "luong")[i % 2], a) for i, a in enumerate(ABLATED)]
)
def test_ablated_outputs_do_not_depend_on_padding_or_batch_neighbours(decoder, ablation):
  config = dataclasses.replace(BASE, decoder=decoder, attention_ablation=ablation)
  model, variables = build_model(config, VOCAB, VOCAB), {"params": _params(config)}
  assert_outputs_ignore_padding(model, variables, np.random.default_rng(2))


@pytest.mark.parametrize("ablation", ABLATED)
def test_search_step_reproduces_teacher_forcing_under_each_ablation(ablation):
  config = dataclasses.replace(BASE, decoder="luong", attention_ablation=ablation, cell="lstm")
  model = build_model(config, VOCAB, VOCAB)
  variables = {"params": _params(config)}
  assert_search_steps_reproduce_teacher_forcing(model, variables, *_batch(3))


def test_an_unknown_ablation_names_the_choices():
  with pytest.raises(
    ValueError, match=r"^unknown attention_ablation 'mean'; valid choices: none, "
  ):
    ModelConfig(attention_ablation="mean")
