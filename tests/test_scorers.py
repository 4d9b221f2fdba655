"""Each scorer computes its paper's equation; the masked softmax is exact on padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_seq2seq.models.scorers import SCORERS, attend, make_scorer, masked_softmax

BATCH, SRC_LEN, QUERY, KEY, ATTN, MAX_LEN = 3, 5, 4, 6, 7, 8


def _numpy_scores(name, p, q, h):
  """The paper equations, written directly in NumPy. q: [b, Q], h: [b, s, K] -> [b, s]."""

  def to_query(h):
    return h @ p["key_map"]["kernel"] if "key_map" in p else h

  if name == "dot":  # Luong eq. 8: h_t^T h_s
    return np.einsum("bq,bsq->bs", q, to_query(h))
  if name == "scaled_dot":  # h_t^T h_s / sqrt(d)
    return np.einsum("bq,bsq->bs", q, to_query(h)) / np.sqrt(QUERY)
  if name == "general":  # Luong eq. 8: h_t^T W_a h_s
    W_a = p["W_a"]["kernel"].T  # [Q, K]
    return np.einsum("bq,qk,bsk->bs", q, W_a, h)
  if name == "additive":  # Bahdanau A.1.2: v^T tanh(W_a s + U_a h)
    pre = (q @ p["W_a"])[:, None, :] + h @ p["U_a"]["kernel"]
    return np.tanh(pre) @ p["v_a"]
  if name == "cosine":  # exp(g) * cos(q, k)
    k = to_query(h)
    cos = np.einsum("bq,bsq->bs", q, k) / (
      np.linalg.norm(q, axis=-1)[:, None] * np.linalg.norm(k, axis=-1)
    )
    return np.exp(p["log_scale"]) * cos
  if name == "location":  # Luong eq. 9: W_a h_t, cut to the source length
    return (q @ p["W_a"] + p["b_a"])[:, : h.shape[1]]
  raise AssertionError(name)


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize("key_size", [QUERY, KEY])
def test_scorer_matches_numpy_equation(name, key_size):
  scorer = make_scorer(
    name, query_size=QUERY, key_size=key_size, attention_size=ATTN, max_src_len=MAX_LEN
  )
  rng = np.random.default_rng(0)
  q = rng.normal(size=(BATCH, QUERY)).astype(np.float32)
  h = rng.normal(size=(BATCH, SRC_LEN, key_size)).astype(np.float32)

  def run(scorer, q, h):  # one query per sentence: [batch, 1, query] -> [batch, src_len]
    return scorer.score(scorer.weights(), q[:, None], scorer.project_keys(h))[:, 0]

  variables = scorer.init(jax.random.key(0), q, h, method=run)
  scores = scorer.apply(variables, q, h, method=run)
  params = jax.tree.map(np.asarray, variables.get("params", {}))
  if key_size == QUERY and name in ("dot", "scaled_dot"):  # Luong's h_t . h_s, nothing learned
    assert params == {}
  np.testing.assert_allclose(scores, _numpy_scores(name, params, q, h), rtol=1e-5, atol=1e-5)


def test_masked_softmax_is_zero_on_padding_and_sums_to_one():
  scores = jax.random.normal(jax.random.key(0), (4, 6)) * 30.0
  lengths = jnp.array([6, 3, 1, 0])  # the last row is a dummy row with no real position
  mask = jnp.arange(6)[None, :] < lengths[:, None]
  weights = masked_softmax(scores, mask)
  assert np.all(np.asarray(weights)[~np.asarray(mask)] == 0.0)
  np.testing.assert_allclose(weights.sum(-1), [1.0, 1.0, 1.0, 0.0], atol=1e-6)
  assert np.all(np.isfinite(weights))


def test_context_is_the_weighted_sum_of_encoder_states():
  rng = np.random.default_rng(1)
  weights = rng.dirichlet(np.ones(5), size=2).astype(np.float32)
  values = rng.normal(size=(2, 5, 3)).astype(np.float32)
  expected = np.stack([sum(weights[b, s] * values[b, s] for s in range(5)) for b in range(2)])
  np.testing.assert_allclose(attend(weights[:, None], values)[:, 0], expected, rtol=1e-6)


def test_location_scorer_gives_zero_weight_beyond_its_reach():
  scorer = make_scorer("location", query_size=QUERY, key_size=KEY, max_src_len=3)
  q, h = jnp.ones((1, QUERY)), jnp.ones((1, 5, KEY))

  def run(scorer, q, h):
    return masked_softmax(
      scorer.score(scorer.weights(), q[:, None], scorer.project_keys(h)), jnp.ones((1, 5), bool)
    )[:, 0]

  weights = scorer.apply(scorer.init(jax.random.key(0), q, h, method=run), q, h, method=run)
  np.testing.assert_array_equal(weights[0, 3:], 0.0)
  np.testing.assert_allclose(weights.sum(), 1.0, atol=1e-6)


def test_unknown_scorer_names_the_choices():
  with pytest.raises(
    ValueError,
    match="unknown scorer 'bilinear'; valid choices: dot, scaled_dot, "
    "general, additive, cosine, location",
  ):
    make_scorer("bilinear", query_size=4, key_size=4)
