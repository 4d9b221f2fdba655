"""Greedy and beam search: behaviour on a tiny model trained here to reverse digit strings.

One model shape (hidden 32) serves every test, so each search compiles once per option set. The
training run (70 Adam steps in one jitted `lax.scan`) is deliberately short: the model reverses most
strings but greedy search still errs, so beam search has something to find (trained to convergence,
the two agree everywhere and the beam-versus-greedy test would prove nothing).
"""

import dataclasses
import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models import ModelConfig, build_model, init_params
from attn_seq2seq.models.encoders import reverse_within_lengths
from attn_seq2seq.search import SearchSpec, decode, decode_throughput, length_penalty
from attn_seq2seq.tokens import BOS_ID, EOS_ID, PAD_ID

VOCAB = 14  # PAD, BOS, EOS, UNK and the digits 4..13
MIN_LEN, MAX_LEN = 2, 7
CONFIG = dict(embed_size=16, hidden_size=32, attention_size=32)
MODEL = build_model(ModelConfig(**CONFIG), VOCAB, VOCAB)
LIMITS = dict(max_len_a=1.0, max_len_b=3.0)  # a reversal needs src_len + 1 tokens
GREEDY = SearchSpec(alpha=0.6, **LIMITS)
BEAM5 = SearchSpec(beam_size=5, alpha=0.0, n_best=1, **LIMITS)
NBEST = SearchSpec(beam_size=5, alpha=0.6, n_best=5, **LIMITS)


def reversal_batch(key, batch, src_len=MAX_LEN):
  """Random digit strings and their reversals: `src_ids, src_lengths, tgt_in, tgt_out`, with
  `tgt_in = BOS + reversed` and `tgt_out = reversed + EOS`, both `[batch, src_len + 1]`."""
  len_key, digit_key = jax.random.split(key)
  src_lengths = jax.random.randint(len_key, (batch,), MIN_LEN, MAX_LEN + 1)
  digits = jax.random.randint(digit_key, (batch, src_len), 4, VOCAB)
  src_ids = jnp.where(jnp.arange(src_len) < src_lengths[:, None], digits, PAD_ID)
  reversed_ids = reverse_within_lengths(src_ids, src_lengths)  # padding stays at the end
  tgt_in = jnp.concatenate([jnp.full((batch, 1), BOS_ID), reversed_ids], axis=1)
  tgt_out = jnp.concatenate([reversed_ids, jnp.full((batch, 1), PAD_ID)], axis=1)
  tgt_out = jnp.where(jnp.arange(src_len + 1) == src_lengths[:, None], EOS_ID, tgt_out)
  return src_ids, src_lengths, tgt_in, tgt_out


@functools.partial(jax.jit, static_argnums=0)
def rescore(model, variables, src_ids, src_lengths, tokens):
  """Teacher-forced rescoring of search outputs `tokens [n, steps]` (PAD after EOS): per-token
  log-probabilities `[n, steps]` and attention `[n, steps, src_len]`."""
  tgt_in = jnp.concatenate([jnp.full_like(tokens[:, :1], BOS_ID), tokens[:, :-1]], axis=1)
  logits, attn = model.apply(variables, src_ids, src_lengths, tgt_in)
  lp = jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[..., None], axis=-1)[..., 0]
  return lp, attn


def assert_rescores_exactly(model, variables, src_ids, src_lengths, out):
  """The search's log-probabilities and attention of every returned output equal teacher forcing's
  (`out` has `[batch, n_best, ...]` outputs)."""
  per_source = out.lengths[0].size
  tokens = out.tokens.reshape(-1, out.tokens.shape[-1])  # [batch * n_best, steps]
  src_ids, src_lengths = (jnp.repeat(x, per_source, axis=0) for x in (src_ids, src_lengths))
  lp, attn = rescore(model, variables, src_ids, src_lengths, tokens)
  valid = np.arange(tokens.shape[1]) < np.asarray(out.lengths).reshape(-1, 1)  # [n, steps]
  np.testing.assert_allclose(
    out.log_probs.reshape(-1), np.sum(np.where(valid, lp, 0.0), axis=1), atol=1e-5, rtol=1e-5
  )
  np.testing.assert_allclose(
    out.attn_weights.reshape(attn.shape), np.where(valid[..., None], attn, 0.0), atol=1e-6
  )


@pytest.fixture(scope="module")
def trained():
  params = jax.jit(init_params, static_argnums=0)(MODEL, jax.random.key(1))
  optimizer = optax.adam(3e-3)

  def loss_fn(params, batch):
    src_ids, src_lengths, tgt_in, tgt_out = batch
    logits, _ = MODEL.apply({"params": params}, src_ids, src_lengths, tgt_in)
    mask = jnp.arange(tgt_out.shape[1]) <= src_lengths[:, None]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, tgt_out)
    return jnp.sum(losses * mask) / jnp.sum(mask)

  def train_step(state, key):
    params, opt_state = state
    loss, grads = jax.value_and_grad(loss_fn)(params, reversal_batch(key, 64))
    updates, opt_state = optimizer.update(grads, opt_state)
    return (optax.apply_updates(params, updates), opt_state), loss

  @jax.jit
  def train(params):
    keys = jax.random.split(jax.random.key(2), 70)
    (params, _), losses = jax.lax.scan(train_step, (params, optimizer.init(params)), keys)
    return params, losses

  params, losses = train(params)
  assert losses[-20:].mean() < 0.3 * losses[:20].mean()
  return {"params": params}


@pytest.fixture(scope="module")
def test_set():
  return reversal_batch(jax.random.key(3), 200, src_len=MAX_LEN + 1)  # one column of extra padding


@pytest.fixture(scope="module")
def data(test_set):
  return test_set[:2]  # src_ids, src_lengths


@pytest.fixture(scope="module")
def greedy(trained, data):
  return decode(MODEL, trained, *data, GREEDY)


@pytest.fixture(scope="module")
def nbest(trained, data):
  return decode(MODEL, trained, *data, NBEST)


def with_eos_bias(variables, bias):
  """`variables` with the output bias of EOS set to `bias` (+big: always ends; -big: never)."""
  params = jax.tree.map(lambda x: x, variables["params"])
  params["decoder"]["output"]["bias"] = params["decoder"]["output"]["bias"].at[EOS_ID].set(bias)
  return {"params": params}


def max_lens(src_lengths):
  return np.ceil(LIMITS["max_len_a"] * np.asarray(src_lengths) + LIMITS["max_len_b"]).astype(int)


def assert_well_formed(out):
  """Every output ends with its first EOS at `lengths - 1`, PAD after it, no attention after it."""
  tokens, lengths = np.asarray(out.tokens), np.asarray(out.lengths)
  steps = np.arange(tokens.shape[-1])
  is_eos = tokens == EOS_ID
  np.testing.assert_array_equal(np.argmax(is_eos, axis=-1), lengths - 1)
  np.testing.assert_array_equal(tokens[steps >= lengths[..., None]], PAD_ID)
  np.testing.assert_array_equal(np.asarray(out.attn_weights)[steps >= lengths[..., None]], 0.0)


def test_trained_model_reverses_most_strings(greedy, test_set):
  tgt_out = test_set[3]
  tokens = np.asarray(greedy.best().tokens[:, : tgt_out.shape[1]])
  correct = np.all(tokens == np.asarray(tgt_out), axis=1)
  assert correct.mean() > 0.5  # the tests below need a model that is far from random


def test_greedy_and_beam_search_return_one_shape():
  assert GREEDY.algorithm == "greedy" and BEAM5.algorithm == "beam"
  src_ids, src_lengths = np.full((3, 4), 5, np.int32), np.array([4, 2, 1], np.int32)
  variables = {"params": jax.jit(init_params, static_argnums=0)(MODEL, jax.random.key(0))}
  for spec in (GREEDY, BEAM5, NBEST):
    out = decode(MODEL, variables, src_ids, src_lengths, spec)
    steps = out.tokens.shape[-1]
    assert out.tokens.shape == (3, spec.n_best, steps)
    assert out.attn_weights.shape == (3, spec.n_best, steps, 4)
    assert out.lengths.shape == out.log_probs.shape == out.scores.shape == (3, spec.n_best)
    best = out.best()
    assert best.tokens.shape == (3, steps) and best.attn_weights.shape == (3, steps, 4)
    np.testing.assert_array_equal(best.lengths, out.lengths[:, 0])


def test_beam_size_one_is_exactly_greedy(trained, data, greedy):
  beam = decode(MODEL, trained, *data, GREEDY, algorithm="beam")
  for name in ("tokens", "lengths", "log_probs", "scores", "attn_weights"):
    np.testing.assert_array_equal(getattr(beam, name), getattr(greedy, name), err_msg=name)
  assert int(beam.steps) == int(greedy.steps)


def test_greedy_log_prob_and_attention_match_teacher_forcing(trained, data, greedy):
  assert_well_formed(greedy)
  assert_rescores_exactly(MODEL, trained, *data, greedy)
  assert int(greedy.steps) == int(np.max(greedy.lengths))  # stopped when the last sentence ended


def test_n_best_is_sorted_distinct_and_rescores_exactly(trained, data, nbest):
  assert_well_formed(nbest)
  scores = np.asarray(nbest.scores)
  assert np.all(np.diff(scores, axis=1) <= 0)
  penalty = length_penalty(nbest.lengths, NBEST.alpha)
  np.testing.assert_allclose(scores, nbest.log_probs / penalty, rtol=1e-6)
  tokens = np.asarray(nbest.tokens)
  for hyps in tokens:
    assert len({h.tobytes() for h in hyps}) == len(hyps)
  assert_rescores_exactly(MODEL, trained, *data, nbest)  # checks the reordered attention histories


def test_beam_finds_at_least_greedy_log_prob(trained, data, greedy):
  beam = decode(MODEL, trained, *data, BEAM5)
  beam_lp, greedy_lp = np.asarray(beam.log_probs[:, 0]), np.asarray(greedy.log_probs[:, 0])
  tol = 1e-5  # the same path scored in batches of another shape
  assert beam_lp.mean() >= greedy_lp.mean() - tol
  assert np.mean(beam_lp >= greedy_lp - tol) >= 0.99
  assert np.any(beam_lp > greedy_lp + 1e-3)  # not vacuous: beam search found better outputs


def test_search_stops_at_length_limit(trained, data):
  never_ends = with_eos_bias(trained, -1e4)
  limit = max_lens(data[1])
  greedy = decode(MODEL, never_ends, *data, GREEDY)
  beam = decode(MODEL, never_ends, *data, BEAM5)
  for out in (greedy, beam):
    assert_well_formed(out)
    np.testing.assert_array_equal(out.lengths[:, 0], limit)
    assert int(out.steps) == limit.max()
  assert np.all(np.isfinite(beam.log_probs))


def test_length_limit_of_one_leaves_only_eos(trained, data):
  out = decode(
    MODEL,
    trained,
    *data,
    SearchSpec(beam_size=5, alpha=0.0, n_best=2, max_len_a=0.0, max_len_b=1.0),
  )
  assert int(out.steps) == 1
  np.testing.assert_array_equal(out.tokens[:, 0, 0], EOS_ID)
  np.testing.assert_array_equal(out.lengths, [[1, 0]] * len(data[1]))  # the second slot is empty
  np.testing.assert_array_equal(out.tokens[:, 1], PAD_ID)
  assert np.all(np.isneginf(out.log_probs[:, 1]))


@pytest.mark.parametrize("eos_bias", [None, 1e4], ids=["random", "always_ends"])
def test_oracle_length_never_ends_before_the_source_length(data, eos_bias):
  """Neither EOS nor PAD (which the metrics read as the end of an output) before the source's
  length, in greedy search and in every n-best hypothesis of beam search."""
  variables = {"params": jax.jit(init_params, static_argnums=0)(MODEL, jax.random.key(7))}
  if eos_bias is not None:
    variables = with_eos_bias(variables, eos_bias)
  src_lengths = np.asarray(data[1])
  for spec in (GREEDY, NBEST):
    oracle = dataclasses.replace(spec, min_len_a=1.0, min_len_b=0.0)
    assert oracle.oracle_length
    out = decode(MODEL, variables, *data, oracle)
    assert_well_formed(out)
    lengths = np.asarray(out.lengths)  # [batch, n_best], EOS included (0: an empty slot)
    tokens = np.asarray(out.tokens)
    before_min = np.arange(tokens.shape[-1]) < src_lengths[:, None, None]  # [batch, 1, steps]
    assert not np.any((tokens == PAD_ID) & before_min & (lengths[..., None] > 0))
    assert np.all((lengths == 0) | (lengths - 1 >= src_lengths[:, None]))
    assert np.all(lengths[:, 0] - 1 >= src_lengths)
    if eos_bias is not None:  # the model ends as soon as it may
      np.testing.assert_array_equal(lengths[:, 0] - 1, src_lengths)
    assert_rescores_exactly(MODEL, variables, *data, out)  # model log-probabilities, unmasked
    if eos_bias is None:  # not vacuous: without the minimum, some outputs end early
      plain = decode(MODEL, variables, *data, spec)
      assert np.any(np.asarray(plain.lengths[:, 0]) - 1 < src_lengths)


def test_a_minimum_length_every_output_meets_changes_nothing(trained, data, greedy):
  assert np.all(np.asarray(greedy.lengths) >= 2)  # no output ends at its first position
  out = decode(MODEL, trained, *data, dataclasses.replace(GREEDY, min_len_b=1.0))
  for name in ("tokens", "lengths", "log_probs", "scores", "attn_weights"):
    np.testing.assert_array_equal(getattr(out, name), getattr(greedy, name), err_msg=name)


def numpy_coverage_penalty(attn_weights, src_lengths, beta):
  """Wu et al. 2016, eq. 14 over `attn_weights [batch, n, steps, src_len]` (0 after EOS), real
  source positions only; a position never attended counts as the smallest positive float32."""
  coverage = np.asarray(attn_weights, np.float64).sum(axis=2)  # [batch, n, src_len]
  logs = np.log(np.clip(coverage, np.finfo(np.float32).tiny, 1.0))
  real = np.arange(coverage.shape[-1]) < np.asarray(src_lengths)[:, None, None]
  return beta * np.sum(np.where(real, logs, 0.0), axis=-1)


def test_coverage_penalty_zero_is_the_search_without_it(trained, data, nbest):
  out = decode(MODEL, trained, *data, dataclasses.replace(NBEST, coverage_penalty=0.0))
  for name in ("tokens", "lengths", "log_probs", "scores", "attn_weights"):
    np.testing.assert_array_equal(getattr(out, name), getattr(nbest, name), err_msg=name)


def test_coverage_penalty_joins_the_scores_that_rank_the_n_best(trained, data, nbest):
  spec = dataclasses.replace(NBEST, coverage_penalty=0.5)
  out = decode(MODEL, trained, *data, spec)
  assert_well_formed(out)
  assert_rescores_exactly(MODEL, trained, *data, out)  # log_probs stay the model's
  lengths, scores = np.asarray(out.lengths), np.asarray(out.scores)
  penalty = numpy_coverage_penalty(out.attn_weights, data[1], 0.5)
  normalised = np.asarray(out.log_probs) / np.asarray(length_penalty(out.lengths, NBEST.alpha))
  np.testing.assert_allclose(scores, normalised + penalty, rtol=1e-5, atol=1e-5)
  assert np.all(np.diff(scores, axis=1) <= 0) and np.all(lengths > 0)
  assert not np.array_equal(out.tokens, nbest.tokens)  # not vacuous: the ranking changed
  greedy_spec = dataclasses.replace(GREEDY, coverage_penalty=0.5)  # beam 1 is still greedy
  greedy, beam = (
    decode(MODEL, trained, *data, greedy_spec, algorithm=a) for a in ("greedy", "beam")
  )
  for name in ("tokens", "lengths", "log_probs", "scores", "attn_weights"):
    np.testing.assert_array_equal(getattr(beam, name), getattr(greedy, name), err_msg=name)


class ScriptedModel:
  """A stand-in for `Seq2Seq` (the methods a search calls) with scripted probabilities and
  attention over a 2-symbol source, vocabulary PAD BOS EOS UNK A B:
  step 0: A 0.45, B 0.55, both attending source position 0;
  step 1: the same token again (0.98): after A attending position 1, after B mostly position 0
  again (0.9, 0.1);
  step 2: EOS (0.98), attending both positions equally.
  So "B B" is the more probable output, but only "A A" gives every source position its due."""

  config = types.SimpleNamespace(decoder="bahdanau")
  A, B = 4, 5

  def apply(self, variables, *args, method, **kwargs):
    return method(*args, **kwargs)

  def encode(self, src_ids, src_lengths):
    return {"src_ids": src_ids}

  def initial_state(self, encoded):
    return {"t": jnp.zeros(encoded["src_ids"].shape[0], jnp.int32)}

  def decode_step(self, encoded, carry, prev_ids, beams=1):
    t, src_len = carry["t"], encoded["src_ids"].shape[1]
    at = lambda j: jax.nn.one_hot(j, src_len)  # attention on source position j
    probs = jnp.full((t.shape[0], 6), 1e-4)
    probs = jnp.where(
      (t == 0)[:, None], probs.at[:, self.A].set(0.45).at[:, self.B].set(0.55), probs
    )
    repeat = jax.nn.one_hot(prev_ids, 6) * 0.98
    probs = jnp.where((t == 1)[:, None], probs + repeat, probs)
    probs = jnp.where((t >= 2)[:, None], probs.at[:, EOS_ID].set(0.98), probs)
    attn = jnp.where((t == 0)[:, None], at(0), 0.5 * (at(0) + at(1)))
    attn = jnp.where(((t == 1) & (prev_ids == self.A))[:, None], at(1), attn)
    attn = jnp.where(((t == 1) & (prev_ids == self.B))[:, None], 0.9 * at(0) + 0.1 * at(1), attn)
    return {"t": t + 1}, jnp.log(probs), attn


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_hypotheses_that_leave_source_positions_unattended_rank_lower(beta):
  model = ScriptedModel()
  src_ids, src_lengths = np.array([[7, 7, 0]], np.int32), np.array([2], np.int32)  # "x x", padded
  spec = SearchSpec(beam_size=6, n_best=6, coverage_penalty=beta, max_len_a=0.0, max_len_b=5.0)
  out = decode(model, {}, src_ids, src_lengths, spec)
  tokens, lengths = np.asarray(out.tokens[0]), np.asarray(out.lengths[0])
  outputs = [tuple(int(x) for x in t[:n]) for t, n in zip(tokens, lengths, strict=True)]
  covering, uncovering = (model.A, model.A, EOS_ID), (model.B, model.B, EOS_ID)
  assert covering in outputs and uncovering in outputs
  rank = outputs.index
  if beta == 0:  # ranked by probability alone
    assert rank(uncovering) == 0 and rank(uncovering) < rank(covering)
  else:  # "B B" leaves position 1 under-attended (0.1 + 0.5 after EOS): cp = beta log 0.6
    assert rank(covering) == 0 and rank(covering) < rank(uncovering)
    scores, log_probs = np.asarray(out.scores[0]), np.asarray(out.log_probs[0])
    assert scores[rank(covering)] == pytest.approx(log_probs[rank(covering)], abs=1e-6)
    want = log_probs[rank(uncovering)] + beta * np.log(0.6)
    assert scores[rank(uncovering)] == pytest.approx(want, rel=1e-5)


def test_coverage_penalty_on_a_model_without_attention_is_a_one_line_error():
  model = build_model(ModelConfig(decoder="fixed_init", **CONFIG), VOCAB, VOCAB)
  variables = {"params": jax.jit(init_params, static_argnums=0)(model, jax.random.key(0))}
  spec = SearchSpec(beam_size=2, coverage_penalty=0.5)
  with pytest.raises(ConfigError, match=r"^coverage_penalty=0.5 needs an attention decoder"):
    decode(model, variables, np.ones((1, 3), np.int32), np.array([3]), spec)


def test_search_stops_when_every_sentence_has_ended(trained, data):
  always_ends = with_eos_bias(trained, 1e4)
  for out in (
    decode(MODEL, always_ends, *data, GREEDY),
    decode(MODEL, always_ends, *data, BEAM5),
  ):
    assert int(out.steps) == 1
    np.testing.assert_array_equal(out.tokens[..., 0], EOS_ID)


def test_outputs_do_not_depend_on_batch_neighbours_or_padding(trained, data, nbest):
  src_ids, src_lengths = data
  order = np.random.default_rng(0).permutation(len(src_lengths))
  padded = jnp.pad(src_ids[order], ((0, 0), (0, 5)))  # 5 more padding columns
  other = decode(MODEL, trained, padded, src_lengths[order], NBEST)
  steps, src_len = nbest.tokens.shape[-1], src_ids.shape[1]
  np.testing.assert_array_equal(other.tokens[..., :steps], nbest.tokens[order])
  np.testing.assert_array_equal(other.tokens[..., steps:], PAD_ID)
  np.testing.assert_allclose(other.log_probs, nbest.log_probs[order], atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(
    other.attn_weights[..., :steps, :src_len], nbest.attn_weights[order], atol=1e-6
  )
  np.testing.assert_array_equal(other.attn_weights[..., src_len:], 0.0)


def test_jit_compiles_once_per_shape(trained, data):
  decode(MODEL, trained, *data, GREEDY)
  compiled = decode._cache_size()
  src_ids, src_lengths, _, _ = reversal_batch(jax.random.key(4), *data[0].shape)
  decode(MODEL, with_eos_bias(trained, 0.0), src_ids, src_lengths, GREEDY)
  assert decode._cache_size() == compiled


@pytest.mark.parametrize("decoder, cell", [("luong", "lstm"), ("fixed_context", "gru")])
def test_other_decoders_rescore_exactly(decoder, cell):
  """Beam reordering of every carry layout (Luong's input feeding, LSTM memory, no attention)."""
  model = build_model(
    ModelConfig(decoder=decoder, cell=cell, embed_size=8, hidden_size=16, attention_size=16),
    VOCAB,
    VOCAB,
  )
  src_ids, src_lengths, _, _ = reversal_batch(jax.random.key(5), 8)
  variables = {"params": jax.jit(init_params, static_argnums=0)(model, jax.random.key(6))}
  out = decode(model, variables, src_ids, src_lengths, SearchSpec(beam_size=3, n_best=3, **LIMITS))
  assert_well_formed(out)
  assert_rescores_exactly(model, variables, src_ids, src_lengths, out)


def test_decode_throughput_counts_real_sentences(trained, data, greedy):
  real = np.arange(len(data[1])) < 190  # the last 10 rows play the data pipeline's dummy rows
  example_ids = np.where(real, np.arange(len(data[1])), -1)
  batches = [{"src_ids": data[0], "src_lengths": data[1], "example_ids": example_ids}] * 3
  greedy_stats = decode_throughput(MODEL, trained, batches, GREEDY, threads=2)
  assert greedy_stats["steps"] == 3 * int(greedy.steps)
  tokens = greedy_stats["tokens_per_second"] * greedy_stats["seconds"]
  assert tokens == pytest.approx(3 * np.sum(greedy.lengths[real, 0]))
  # SearchSpec fields as keywords (how scripts/benchmark.py calls it) make the same spec
  beam_stats = decode_throughput(MODEL, trained, batches, beam_size=5, alpha=0.0, **LIMITS)
  for stats in (greedy_stats, beam_stats):
    assert stats["sentences"] == 3 * 190
    assert stats["sentences_per_second"] > 0
