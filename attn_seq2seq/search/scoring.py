"""How hypotheses are scored: the GNMT length normalisation and coverage penalty (Wu et al.
2016, eq. 14): `s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)`."""

import jax
import jax.numpy as jnp


def length_penalty(lengths: jax.Array, alpha: float) -> jax.Array:
  """GNMT length normalisation (Wu et al. 2016, eq. 14): `((5 + |Y|) / 6) ** alpha`."""
  return ((5.0 + lengths.astype(jnp.float32)) / 6.0) ** alpha


def normalise(log_probs: jax.Array, lengths: jax.Array, alpha: float) -> jax.Array:
  """`log_probs / length_penalty(lengths, alpha)` (`log_probs` itself for alpha = 0)."""
  return log_probs if alpha == 0 else log_probs / length_penalty(lengths, alpha)


def coverage_penalty(coverage: jax.Array, src_mask: jax.Array, beta: float) -> jax.Array:
  """GNMT coverage penalty (Wu et al. 2016, eq. 14): `beta * sum_j log(min(sum_i a_ij, 1.0))`.

  `coverage [..., src_len]` is `sum_i a_ij`, the attention source position j received from the
  output tokens i so far (EOS included); only real positions count (`src_mask [..., src_len]`,
  broadcastable). A real position never attended (coverage exactly 0, where eq. 14 gives -inf)
  counts as the smallest positive float32, so the penalty stays finite (about -87.3 * beta per
  such position). Returns `[...]`, <= 0.
  """
  logs = jnp.log(jnp.clip(coverage, jnp.finfo(jnp.float32).tiny, 1.0))  # [..., src_len]
  return beta * jnp.sum(jnp.where(src_mask, logs, 0.0), axis=-1)
