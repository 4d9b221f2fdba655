"""`split_directions`: encoder states as wide as the decoder's query, so that the dot-family
scorers are different functions (not one function class with different initialisations)."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_seq2seq.models import (
  ModelConfig,
  abstract_params,
  build_model,
  count_params,
  init_params,
  matching_hidden_size,
)

VOCAB, HIDDEN = 11, 8
BASE = ModelConfig(
  decoder="luong", split_directions=True, embed_size=6, hidden_size=HIDDEN, attention_size=7
)
DOT_FAMILY = ("dot", "scaled_dot", "general", "cosine")


def _scorer_params(config: ModelConfig) -> dict:
  """The shapes of the scorer's own parameters (`{}` when it has none)."""
  params = abstract_params(build_model(config, VOCAB, VOCAB))
  return jax.tree.map(lambda x: x.shape, params["decoder"].get("attention", {}))


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_split_directions_leave_dot_and_scaled_dot_without_parameters(decoder):
  config = dataclasses.replace(BASE, decoder=decoder)
  scorer_params = lambda scorer, **kw: _scorer_params(
    dataclasses.replace(config, scorer=scorer, **kw)
  )
  assert scorer_params("dot") == {}
  assert scorer_params("scaled_dot") == {}
  assert scorer_params("general") == {"W_a": {"kernel": (HIDDEN, HIDDEN)}}
  assert scorer_params("cosine") == {"log_scale": ()}
  # Without the split the keys are 2 * hidden wide, and dot maps them with a learned key map
  # of general's shape: the same function class as general.
  assert scorer_params("dot", split_directions=False) == {"key_map": {"kernel": (16, HIDDEN)}}
  assert scorer_params("general", split_directions=False) == {"W_a": {"kernel": (16, HIDDEN)}}


def _with_shared_weights(own: dict, shared: dict) -> dict:
  """`own` with every parameter that `shared` also has (same path) taken from `shared`."""
  flat_shared = dict(jax.tree_util.tree_leaves_with_path(shared))
  return jax.tree_util.tree_map_with_path(lambda path, x: flat_shared.get(path, x), own)


def test_dot_family_scorers_compute_different_functions_on_the_same_weights():
  """Same embeddings, encoder and decoder weights; only the scorer differs: the attention
  weights differ for every pair of dot-family scorers."""
  rng = np.random.default_rng(0)
  src, tgt = rng.integers(4, VOCAB, (2, 6)), rng.integers(4, VOCAB, (2, 5))
  src_lengths = jnp.array([6, 4])
  shared = init_params(
    build_model(dataclasses.replace(BASE, scorer="dot"), VOCAB, VOCAB), jax.random.key(0)
  )
  attn = {}
  for scorer in DOT_FAMILY:
    model = build_model(dataclasses.replace(BASE, scorer=scorer), VOCAB, VOCAB)
    own = init_params(model, jax.random.key(1))
    params = _with_shared_weights(own, shared)
    only_own = [
      jax.tree_util.keystr(p)
      for p, _ in jax.tree_util.tree_leaves_with_path(params)
      if p not in dict(jax.tree_util.tree_leaves_with_path(shared))
    ]
    assert all(p.startswith("['decoder']['attention']") for p in only_own), only_own
    attn[scorer] = np.asarray(model.apply({"params": params}, src, src_lengths, tgt)[1])
  for a, b in itertools.combinations(DOT_FAMILY, 2):
    assert np.abs(attn[a] - attn[b]).max() > 1e-3, (a, b)


def test_split_directions_need_an_even_hidden_size_and_a_bidirectional_encoder():
  with pytest.raises(ValueError, match=r"^split_directions=True needs an even hidden_size, got 7"):
    ModelConfig(split_directions=True, hidden_size=7)
  with pytest.raises(ValueError, match=r"^split_directions=True needs bidirectional=True"):
    ModelConfig(split_directions=True, bidirectional=False)


def test_matching_hidden_size_gives_an_even_size_with_split_directions():
  attention = dataclasses.replace(BASE, decoder="bahdanau", hidden_size=32, attention_size=32)
  target = count_params(abstract_params(build_model(attention, VOCAB, VOCAB)))
  baseline = dataclasses.replace(BASE, decoder="fixed_init")
  hidden = matching_hidden_size(baseline, target, VOCAB, VOCAB)
  count = lambda h: count_params(
    abstract_params(build_model(dataclasses.replace(baseline, hidden_size=h), VOCAB, VOCAB))
  )
  assert hidden % 2 == 0 and hidden > 32
  assert abs(count(hidden) - target) <= min(
    abs(count(hidden - 2) - target), abs(count(hidden + 2) - target)
  )
