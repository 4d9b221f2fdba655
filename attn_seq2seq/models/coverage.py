"""Coverage: a per-source-position record of past attention, fed back to the additive scorer.

`ModelConfig.coverage` (Tu et al. 2016, "Modeling Coverage for Neural Machine Translation";
Sockeye's `--coverage-type`): the decoder carry gains `'coverage' [rows, src_len]` (float32,
zeros at the start), the additive scorer reads it (Tu et al. eq. 4; See et al. 2017 eq. 11),

    e_ij = v_a^T tanh(W_a s + U_a h_j + V_c C_{i-1,j}),      V_c [attention], zero-initialised,
and after the step's attention a_i the coverage is updated:
  * `sum`: C_ij = C_{i-1,j} + a_ij, the attention received so far (Tu's linguistic coverage
    without fertility; See et al.'s coverage vector; Sockeye's `count`);
  * `gru`: Tu et al.'s NN-based coverage (§3.1.2) with a 1-dimensional coverage per position,
    a GRU whose input is (a_ij, h_j, s) and whose state is C_{i-1,j}:
      r, z = sigmoid(x_{r,z} + u_{r,z} C),   n = tanh(x_n + u_n (r C)),   C' = (1 - z) C + z n,
      x = w a_ij + B h_j + V s + b  (B h_j once per sentence, before the decoder scan).
  s is the decoder state that queried the attention (Bahdanau's s_{i-1}, Luong's h_t). With V_c
  zero at initialisation, a coverage model starts as the model without coverage. Coverage is
  zero on padded positions.
The coverage loss (`coverage_loss_weight`, See et al. 2017 eq. 12-13) is computed by the training
loss from the attention weights the model returns (`training/steps.py::coverage_losses`).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

COVERAGES = ("none", "sum", "gru")


class GRUCoverage(nn.Module):
  """Tu et al.'s NN-based coverage with a 1-dimensional state per source position."""

  query_size: int  # the decoder state's size
  dtype: Any = jnp.float32

  def setup(self):
    self.source = nn.Dense(3, dtype=self.dtype, name="source")  # B h_j + b: [key] -> [3]
    self.state = self.param("state", nn.initializers.lecun_normal(), (self.query_size, 3))
    self.coverage_kernel = self.param("coverage", nn.initializers.normal(0.1), (3,))
    self.attention_kernel = self.param("attention", nn.initializers.normal(1.0), (3,))

  def project_sources(self, enc_outputs: jax.Array) -> jax.Array:
    """`[batch, src_len, key] -> [batch, src_len, 3]`: the gates' source term, once per
    sentence."""
    return self.source(enc_outputs)

  def weights(self) -> dict[str, jax.Array]:
    """The per-step weights, fetched outside the scan."""
    return {
      "state": self.state.astype(self.dtype),
      "coverage": self.coverage_kernel.astype(jnp.float32),
      "attention": self.attention_kernel.astype(jnp.float32),
    }

  @staticmethod
  def update(w, coverage, attn, query, sources):
    """`coverage, attn [batch, q, src_len]`, `query [batch, q, hidden]`, `sources [batch,
    src_len, 3]` -> the new coverage `[batch, q, src_len]` float32."""
    x = (sources[:, None] + (query @ w["state"])[:, :, None, :]).astype(jnp.float32)  # [b,q,s,3]
    x = x + attn[..., None] * w["attention"]  # [batch, q, src_len, 3]
    u = w["coverage"]
    r = jax.nn.sigmoid(x[..., 0] + u[0] * coverage)
    z = jax.nn.sigmoid(x[..., 1] + u[1] * coverage)
    n = jnp.tanh(x[..., 2] + u[2] * (r * coverage))
    return (1.0 - z) * coverage + z * n


def update_coverage(kind: str, w, coverage, attn, query, sources, src_mask):
  """The coverage after a step's attention `attn [batch, q, src_len]` (see the module
  docstring), zero on padding (`src_mask [batch, src_len]`)."""
  if kind == "sum":
    return coverage + attn
  new = GRUCoverage.update(w, coverage, attn, query, sources)
  return new * src_mask[:, None, :]
