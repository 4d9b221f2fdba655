"""Coverage (`ModelConfig.coverage`, Tu et al. 2016) and the coverage loss (See et al. 2017)."""

import dataclasses
import itertools
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
  random_ids,
)

from attn_seq2seq.models import ModelConfig, build_model, init_params
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.training import steps, train

BASE = ModelConfig(embed_size=6, hidden_size=8, attention_size=7, max_src_len=12)
CASES = list(itertools.product(("bahdanau", "luong"), ("sum", "gru")))
# Half of the cases each (the other half where the other one is tested): every decoder and every
# coverage; the local attention search test adds sum coverage with both decoders.
HALF, OTHER_HALF = [CASES[0], CASES[3]], [CASES[1], CASES[2]]


def _with_v_c(params, v_c):
  """`params` with the additive scorer's coverage weight V_c replaced."""
  attention = {**params["decoder"]["attention"], "V_c": v_c}
  return {**params, "decoder": {**params["decoder"], "attention": attention}}


def _model_and_params(decoder, coverage, cell="gru", seed=0):
  """A coverage model whose V_c (zero at initialisation) is random, so the coverage matters."""
  config = dataclasses.replace(BASE, decoder=decoder, coverage=coverage, cell=cell)
  model = build_model(config, VOCAB, VOCAB)
  params = init_params(model, jax.random.key(seed))
  v_c = params["decoder"]["attention"]["V_c"]
  np.testing.assert_array_equal(v_c, 0.0)
  return model, _with_v_c(params, jax.random.normal(jax.random.key(seed + 1), v_c.shape))


@pytest.mark.parametrize("decoder,coverage", HALF)
def test_coverage_at_initialisation_is_the_model_without_coverage(decoder, coverage):
  """V_c starts at zero: with the other weights shared, the logits and attention are bitwise
  those of the model without coverage (whose parameter tree has no coverage weight)."""
  rng = np.random.default_rng(0)
  src, lengths, tgt = random_ids(rng, (3, 7)), jnp.array([7, 4, 1]), random_ids(rng, (3, 5))
  plain = build_model(dataclasses.replace(BASE, decoder=decoder), VOCAB, VOCAB)
  plain_params = init_params(plain, jax.random.key(0))
  model = build_model(dataclasses.replace(BASE, decoder=decoder, coverage=coverage), VOCAB, VOCAB)
  params = init_params(model, jax.random.key(1))
  shared = _with_v_c(plain_params, params["decoder"]["attention"]["V_c"])  # zeros
  if coverage == "gru":
    shared["decoder"]["coverage"] = params["decoder"]["coverage"]
  assert jax.tree.structure(shared) == jax.tree.structure(params)
  want = plain.apply({"params": plain_params}, src, lengths, tgt)
  got = model.apply({"params": shared}, src, lengths, tgt)
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("decoder,coverage", OTHER_HALF)
def test_coverage_outputs_do_not_depend_on_padding_or_batch_neighbours(decoder, coverage):
  model, params = _model_and_params(decoder, coverage, cell="lstm")
  assert_outputs_ignore_padding(model, {"params": params}, np.random.default_rng(1))


@pytest.mark.parametrize("decoder,coverage", [c for c in CASES if c[1] == "gru"])  # sum: local
def test_a_coverage_search_step_reproduces_teacher_forcing(decoder, coverage):
  model, params = _model_and_params(decoder, coverage)
  variables = {"params": params}
  rng = np.random.default_rng(2)
  src, lengths, tgt = random_ids(rng, (2, 6)), jnp.array([6, 4]), random_ids(rng, (2, 5))
  logits, _ = model.apply(variables, src, lengths, tgt)
  zero_v_c = _with_v_c(params, jnp.zeros_like(params["decoder"]["attention"]["V_c"]))
  plain_logits, _ = model.apply({"params": zero_v_c}, src, lengths, tgt)  # V_c matters
  assert np.abs(plain_logits - logits).max() > 1e-4
  attn, carry = assert_search_steps_reproduce_teacher_forcing(model, variables, src, lengths, tgt)
  assert carry["coverage"].shape == (2, 6)
  if coverage == "sum":  # the attention received so far
    np.testing.assert_allclose(carry["coverage"], attn.sum(1), atol=1e-6)
  else:
    np.testing.assert_array_equal(carry["coverage"][1, 4:], 0.0)  # zero on padding


@pytest.mark.parametrize("decoder,coverage", HALF)
def test_every_coverage_parameter_gets_a_gradient(decoder, coverage):
  model, params = _model_and_params(decoder, coverage)
  rng = np.random.default_rng(3)
  src, lengths, tgt = random_ids(rng, (2, 6)), jnp.array([6, 3]), random_ids(rng, (2, 5))
  loss = lambda p: jax.nn.log_softmax(model.apply({"params": p}, src, lengths, tgt)[0])[
    ..., 5
  ].mean()
  assert_every_parameter_has_a_gradient(jax.grad(loss)(params))


def _numpy_coverage_losses(attn):
  """See et al. 2017 eq. 12, loop by loop: sum_j min(a_ij, sum_{k<i} a_kj)."""
  batch, tgt_len, src_len = attn.shape
  out = np.zeros((batch, tgt_len))
  for b, i in itertools.product(range(batch), range(tgt_len)):
    out[b, i] = sum(min(attn[b, i, j], attn[b, :i, j].sum()) for j in range(src_len))
  return out


def _batch(seed=4):
  rng = np.random.default_rng(seed)
  src_lengths, tgt_lengths = np.array([6, 4, 2]), np.array([5, 3, 4])
  tgt_out = random_ids(rng, (3, 5))
  tgt_out[np.arange(5)[None, :] >= tgt_lengths[:, None]] = 0  # PAD
  return {
    "src_ids": random_ids(rng, (3, 6)),
    "src_lengths": src_lengths,
    "tgt_in": random_ids(rng, (3, 5)),
    "tgt_out": tgt_out,
  }


@pytest.mark.parametrize("coverage", ["none", "sum"])
def test_the_coverage_loss_adds_its_weight_times_see_et_al_eq_12(coverage):
  batch = _batch()
  config = dataclasses.replace(BASE, coverage=coverage)
  params = init_params(build_model(config, VOCAB, VOCAB), jax.random.key(0))
  rng = jax.random.key(5)

  def loss(weight):
    model = build_model(dataclasses.replace(config, coverage_loss_weight=weight), VOCAB, VOCAB)
    return steps.loss_fn(params, batch, rng, model=model)

  plain, plain_metrics = loss(0.0)
  assert "coverage_loss" not in plain_metrics  # weight 0: the loss of a model without the term
  weighted, metrics = loss(0.5)
  _, attn = build_model(config, VOCAB, VOCAB).apply(
    {"params": params}, batch["src_ids"], batch["src_lengths"], batch["tgt_in"]
  )
  np.testing.assert_allclose(
    steps.coverage_losses(attn), _numpy_coverage_losses(np.asarray(attn)), atol=1e-6
  )
  mask = batch["tgt_out"] != 0
  expected = _numpy_coverage_losses(np.asarray(attn))[mask].mean()
  assert expected > 0.05
  np.testing.assert_allclose(weighted, plain + 0.5 * expected, rtol=1e-5)
  np.testing.assert_allclose(metrics["coverage_loss"].value(), expected, rtol=1e-5)
  np.testing.assert_allclose(metrics["nll"].value(), plain_metrics["nll"].value(), rtol=1e-6)


def test_coverage_needs_the_additive_scorer_and_a_nonnegative_weight():
  with pytest.raises(
    ValueError, match=r"^coverage='sum' feeds the additive scorer, got scorer='dot'"
  ):
    ModelConfig(coverage="sum", scorer="dot")
  with pytest.raises(
    ValueError, match=r"^unknown coverage 'fertility'; valid choices: none, sum, gru"
  ):
    ModelConfig(coverage="fertility")
  ModelConfig(
    coverage="sum", scorer="dot", decoder="fixed_init"
  )  # ignored, like every scorer option


def test_gru_coverage_with_its_loss_and_local_p_trains_a_quick_config(tmp_path, quick_config):
  config = quick_config(
    coverage="gru", coverage_loss_weight=1.0, local_attention="predictive", local_window=3
  )
  train.train_and_evaluate(config, tmp_path / "run")
  results = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
  assert results["step"] == 3 and np.isfinite(results["test"]["exact_match"])
  logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
  assert any("train/coverage_loss" in record for record in logged)
