"""The encoder honours every sentence's own length: padding and batch neighbours never leak in."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_seq2seq.models.cells import make_cell
from attn_seq2seq.models.encoders import RNNEncoder, reverse_within_lengths

EMBED, HIDDEN = 6, 8
CONFIGS = list(itertools.product(("gru", "lstm"), (False, True), (1, 2)))


def _encode_fn(cell, bidirectional, num_layers):
  encoder = RNNEncoder(cell, HIDDEN, num_layers, bidirectional, dropout=0.3)
  x = jnp.zeros((1, 3, EMBED))
  variables = encoder.init(jax.random.key(0), x, jnp.array([3]))
  return jax.jit(lambda x, lengths: encoder.apply(variables, x, lengths))


@pytest.mark.parametrize("cell,bidirectional,num_layers", CONFIGS)
def test_states_do_not_depend_on_padding_or_batch_neighbours(cell, bidirectional, num_layers):
  encode = _encode_fn(cell, bidirectional, num_layers)
  rng = np.random.default_rng(0)
  length, padded_len = 5, 9
  sentence = rng.normal(size=(length, EMBED)).astype(np.float32)

  alone_out, alone_sum = encode(sentence[None], jnp.array([length]))
  # The sentence padded to 9 positions with garbage, between two longer neighbours.
  batch = rng.normal(size=(3, padded_len, EMBED)).astype(np.float32)
  batch[1, :length] = sentence
  batch_out, batch_sum = encode(batch, jnp.array([padded_len, length, 7]))

  np.testing.assert_allclose(batch_out[1, :length], alone_out[0], atol=1e-6)
  np.testing.assert_allclose(batch_sum[1], alone_sum[0], atol=1e-6)
  np.testing.assert_array_equal(batch_out[1, length:], 0.0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_backward_direction_starts_at_the_last_real_token(cell):
  """The backward half of the summary equals a forward pass over the reversed sentence."""
  bi = RNNEncoder(cell, HIDDEN, 1, bidirectional=True)
  uni = RNNEncoder(cell, HIDDEN, 1, bidirectional=False)
  x = jax.random.normal(jax.random.key(1), (2, 6, EMBED))
  lengths = jnp.array([6, 4])
  params = bi.init(jax.random.key(0), x, lengths)["params"]
  # Build the unidirectional backward encoder from the bidirectional one's backward weights.
  kernel_in, bias_in = params["l0_input"]["kernel"], params["l0_input"]["bias"]
  gates = kernel_in.shape[1] // 2
  uni_params = {
    "l0_fwd": params["l0_bwd"],
    "l0_input": {"kernel": kernel_in[:, gates:], "bias": bias_in[gates:]},
  }
  _, summary = bi.apply({"params": params}, x, lengths)
  rev_out, rev_summary = uni.apply(
    {"params": uni_params}, reverse_within_lengths(x, lengths), lengths
  )
  np.testing.assert_allclose(summary[:, HIDDEN:], rev_summary, atol=1e-6)
  bi_out, _ = bi.apply({"params": params}, x, lengths)
  np.testing.assert_allclose(
    bi_out[:, :, HIDDEN:], reverse_within_lengths(rev_out, lengths), atol=1e-6
  )


def test_reverse_within_lengths_keeps_padding_in_place():
  x = jnp.array([[1, 2, 3, 0, 0], [1, 2, 3, 4, 5]])
  out = reverse_within_lengths(x, jnp.array([3, 5]))
  np.testing.assert_array_equal(out, [[3, 2, 1, 0, 0], [5, 4, 3, 2, 1]])


def test_unknown_cell_names_the_choices():
  with pytest.raises(ValueError, match=r"unknown cell 'rnn'; valid choices: gru, lstm"):
    make_cell("rnn", 4)
