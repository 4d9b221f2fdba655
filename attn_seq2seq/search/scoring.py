"""How hypotheses are scored: the GNMT length normalisation (Wu et al. 2016, eq. 14)."""

import jax
import jax.numpy as jnp


def length_penalty(lengths: jax.Array, alpha: float) -> jax.Array:
  """GNMT length normalisation (Wu et al. 2016, eq. 14): `((5 + |Y|) / 6) ** alpha`."""
  return ((5.0 + lengths.astype(jnp.float32)) / 6.0) ** alpha


def normalise(log_probs: jax.Array, lengths: jax.Array, alpha: float) -> jax.Array:
  """`log_probs / length_penalty(lengths, alpha)` (`log_probs` itself for alpha = 0)."""
  return log_probs if alpha == 0 else log_probs / length_penalty(lengths, alpha)
