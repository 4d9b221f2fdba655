"""What coverage does when its weight is not zero (Tu et al. 2016): with the coverage feature
weighted against attended positions, the decoder attends less where it has already attended
(the model at weight 0 is the model without coverage: tests/test_coverage.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_seq2seq.models import ModelConfig, build_model, init_params

VOCAB = 9
CONFIG = ModelConfig(
  embed_size=8, hidden_size=8, attention_size=8, decoder="bahdanau", coverage="sum"
)
MODEL = build_model(CONFIG, VOCAB, VOCAB)
PARAMS = init_params(MODEL, jax.random.key(0))


@jax.jit
def _attention(v_c, src):
  scorer = {**PARAMS["decoder"]["attention"], "V_c": v_c}
  params = {**PARAMS, "decoder": {**PARAMS["decoder"], "attention": scorer}}
  lengths = jnp.full((src.shape[0],), src.shape[1])
  return MODEL.apply({"params": params}, src, lengths, jnp.full_like(src, 5))[1]


def attention(weight: float, src: jax.Array) -> np.ndarray:
  """`[batch, tgt_len, src_len]` teacher-forced attention with V_c = -weight * sign(v_a): each
  unit of coverage lowers every term of the additive score v_a . tanh(...)."""
  return np.asarray(_attention(-weight * jnp.sign(PARAMS["decoder"]["attention"]["v_a"]), src))


@pytest.mark.parametrize("weight", [1.0, 4.0])
def test_coverage_moves_attention_off_the_position_just_attended(weight):
  """A source that repeats one symbol (the case coverage is for: over-translation). The first
  step has no coverage yet, so it attends as without coverage; at the second step the position
  the first step attended most gets less attention than without coverage."""
  src = jnp.array([[5] * 6, [5, 6, 5, 6, 5, 6]], jnp.int32)
  plain, covered = attention(0.0, src), attention(weight, src)
  np.testing.assert_allclose(covered[:, 0], plain[:, 0], rtol=1e-6)  # nothing covered yet
  most = plain[:, 0].argmax(-1)  # [batch]
  rows = np.arange(len(most))
  assert (covered[rows, 1, most] < plain[rows, 1, most]).all()


def test_at_weight_zero_the_attention_is_unchanged_and_grows_with_the_weight():
  src = jnp.array([[5] * 6], jnp.int32)
  plain = attention(0.0, src)
  most = plain[0, 0].argmax()
  second = [attention(w, src)[0, 1, most] for w in (0.0, 1.0, 4.0)]
  assert second[0] == pytest.approx(plain[0, 1, most])
  assert second == sorted(second, reverse=True) and second[-1] < second[0]
