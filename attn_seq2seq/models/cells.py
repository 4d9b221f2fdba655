"""Recurrent cells with the input projection hoisted out of the recurrence.

A cell here owns only its recurrent weights. Whatever feeds the cell projects its own input to the
gate pre-activations `[..., num_gates * hidden]` (for all time steps at once when the input does not
depend on the recurrence), so the body of a time scan does exactly one fused matmul
`[batch, hidden] x [hidden, num_gates * hidden]` plus elementwise gate arithmetic.

Inside `jax.lax.scan` only pure functions run: the `Cell` module hands out its weights as a plain
dict (`cell.weights()`, called outside the scan) and `cell.step(weights, carry, x_proj)` is pure.
A carry is a dict: `{'h': [batch, hidden]}` for the GRU, `{'h': ..., 'c': ...}` for the LSTM.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_seq2seq.choices import check_choice

Carry = dict[str, jax.Array]

CELLS = ("gru", "lstm")


def _recurrent_init(num_gates: int):
  """Orthogonal init per gate block of the `[hidden, num_gates * hidden]` recurrent kernel."""
  orthogonal = nn.initializers.orthogonal()

  def init(key, shape, dtype=jnp.float32):
    keys = jax.random.split(key, num_gates)
    hidden = shape[0]
    return jnp.concatenate([orthogonal(k, (hidden, hidden), dtype) for k in keys], axis=1)

  return init


class Cell(nn.Module):
  """Recurrent weights of one cell; subclasses define the gate arithmetic in `step`."""

  hidden_size: int
  num_gates: int = 0  # set by subclasses
  dtype: Any = jnp.float32  # computation dtype (params stay float32)

  @nn.compact
  def weights(self) -> dict[str, jax.Array]:
    """The recurrent kernel `[hidden, gates*hidden]` and bias `[gates*hidden]`, cast to `dtype`."""
    size = self.gates_size
    kernel = self.param(
      "recurrent_kernel", _recurrent_init(self.num_gates), (self.hidden_size, size)
    )
    bias = self.param("recurrent_bias", lambda key, shape: self.initial_bias(), (size,))
    return {"kernel": kernel.astype(self.dtype), "bias": bias.astype(self.dtype)}

  def initial_bias(self) -> jax.Array:
    return jnp.zeros((self.gates_size,))

  @property
  def gates_size(self) -> int:
    return self.num_gates * self.hidden_size

  def carry_from(self, h: jax.Array, c: jax.Array | None = None) -> Carry:
    """A carry whose output state is `h` (and memory `c` for the LSTM)."""
    raise NotImplementedError


class GRU(Cell):
  """GRU (Cho et al. 2014), in the cuDNN form where the reset gate scales the recurrent term.

    r = sigmoid(x_r + W_hr h + b_hr)          z = sigmoid(x_z + W_hz h + b_hz)
    n = tanh(x_n + r * (W_hn h + b_hn))       h' = (1 - z) * n + z * h
  where `x_proj = [x_r; x_z; x_n]` is the caller's projection of the input (with its bias).
  """

  num_gates: int = 3

  def carry_from(self, h, c=None):
    return {"h": h}

  @staticmethod
  def step(w: dict[str, jax.Array], carry: Carry, x_proj: jax.Array) -> Carry:
    """x_proj: `[batch, 3*hidden]` -> new carry."""
    h = carry["h"]
    h_proj = h @ w["kernel"] + w["bias"]  # [batch, 3*hidden]
    x_r, x_z, x_n = jnp.split(x_proj, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(h_proj, 3, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return {"h": (1.0 - z) * n + z * h}


class LSTM(Cell):
  """LSTM (Hochreiter & Schmidhuber 1997; forget gate of Gers et al. 2000), gates [i; f; g; o].

    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)      h' = sigmoid(o) * tanh(c')
  The forget-gate bias starts at 1 (Jozefowicz et al. 2015), folded into the recurrent bias.
  """

  num_gates: int = 4

  def initial_bias(self):
    return jnp.zeros((self.gates_size,)).at[self.hidden_size : 2 * self.hidden_size].set(1.0)

  def carry_from(self, h, c=None):
    return {"h": h, "c": jnp.zeros_like(h) if c is None else c}

  @staticmethod
  def step(w: dict[str, jax.Array], carry: Carry, x_proj: jax.Array) -> Carry:
    """x_proj: `[batch, 4*hidden]` -> new carry."""
    gates = x_proj + carry["h"] @ w["kernel"] + w["bias"]  # [batch, 4*hidden]
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * carry["c"] + jax.nn.sigmoid(i) * jnp.tanh(g)
    return {"h": jax.nn.sigmoid(o) * jnp.tanh(c), "c": c}


def make_cell(kind: str, hidden_size: int, dtype: Any = jnp.float32, **kwargs) -> Cell:
  """`kind` in CELLS -> a cell module; anything else is a ValueError naming the valid choices."""
  check_choice("cell", kind, CELLS)
  classes = {"gru": GRU, "lstm": LSTM}
  return classes[kind](hidden_size=hidden_size, dtype=dtype, **kwargs)
