"""Pure training and evaluation steps: the loss, one optimizer update, teacher-forced metrics.

Each step is a module-level pure function; `train.py` binds its static parts (model, optimizer)
with `functools.partial` and jit-compiles it over the device mesh (see `mesh.py`). The batch arrives
sharded on `'data'` and the state replicated: the loss is a mean over every real target token of
the *global* batch, so the gradient XLA computes (with its all-reduce) is exactly the
single-device gradient of the same batch; nothing is averaged or summed twice.

Metrics are `(sum, count)` pairs, summed over steps or batches and normalised once
(`normalize`), so a mean over a log interval or a split weights every token equally.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from attn_seq2seq.metrics.sum_count import SumCount
from attn_seq2seq.tokens import PAD_ID

Batch = dict[str, jax.Array]  # src_ids [B,S], src_lengths [B], tgt_in/tgt_out [B,T], ...
Metrics = dict[str, SumCount]  # name -> (sum, count), arrays inside jit


class TrainState(NamedTuple):
  """Everything a resumed run needs besides the data position and the seed (a plain pytree)."""

  step: jax.Array  # int32 scalar: updates applied so far
  params: Any  # the model's parameter pytree
  opt_state: Any  # the optax state


def create_train_state(params, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def target_weights(batch: Batch) -> jax.Array:
  """`[batch, tgt_len]` float32: 1 on real target tokens (incl. EOS), 0 on padding and on the
  dummy rows (`example_ids == -1`) that fill an evaluation split's last batch."""
  weights = batch["tgt_out"] != PAD_ID
  if "example_ids" in batch:
    weights &= (batch["example_ids"] >= 0)[:, None]
  return weights.astype(jnp.float32)


def token_losses(logits: jax.Array, targets: jax.Array, label_smoothing: float = 0.0):
  """Per-token `(loss, nll, correct)`, each `[batch, tgt_len]` float32.

  `nll` = -log p(target); `loss` is the training objective: the cross-entropy against the target
  smoothed uniformly over the vocabulary (Szegedy et al. 2016), (1 - e) nll + e mean_v(-log p_v),
  equal to `nll` when `label_smoothing` e = 0. `correct` = 1 where the argmax is the target.
  """
  logits = logits.astype(jnp.float32)
  log_probs = jax.nn.log_softmax(logits)  # [batch, tgt_len, vocab]
  nll = -jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]  # [batch, tgt_len]
  loss = nll
  if label_smoothing:
    loss = (1.0 - label_smoothing) * nll - label_smoothing * log_probs.mean(-1)
  correct = (logits.argmax(-1) == targets).astype(jnp.float32)
  return loss, nll, correct


def coverage_losses(attn_weights: jax.Array) -> jax.Array:
  """See et al. 2017 ("Get To The Point", eq. 12): the coverage loss of each target step,
  covloss_i = sum_j min(a_ij, c_ij) with c_ij = sum_{k<i} a_kj the attention source position j
  received before step i; `attn_weights [batch, tgt_len, src_len]` -> `[batch, tgt_len]`
  float32. It penalises attending again to what was already attended to, never attention as
  such (it is 0 for attention that moves to fresh positions); at most 1 per step."""
  attn = attn_weights.astype(jnp.float32)
  before = jnp.cumsum(attn, axis=1)[:, :-1]  # [batch, tgt_len - 1, src_len]
  coverage = jnp.concatenate([jnp.zeros_like(attn[:, :1]), before], axis=1)  # exclusive sum
  return jnp.minimum(attn, coverage).sum(-1)  # [batch, tgt_len]


def loss_fn(params, batch: Batch, rng: jax.Array, *, model, label_smoothing: float = 0.0):
  """Mean objective over the real target tokens of the batch, and the step's metrics.

  The objective per token is the (smoothed) cross-entropy, plus `coverage_loss_weight` (a
  `ModelConfig` field, 0 by default: then nothing is added) times its coverage loss
  (`coverage_losses`), as See et al. 2017 eq. 13; the metric `coverage_loss` reports the latter
  when the weight is positive."""
  logits, attn_weights = model.apply(
    {"params": params},
    batch["src_ids"],
    batch["src_lengths"],
    batch["tgt_in"],
    train=True,
    rngs={"dropout": rng},
  )
  loss, nll, correct = token_losses(logits, batch["tgt_out"], label_smoothing)
  weights = target_weights(batch)
  num_tokens = weights.sum()
  coverage_weight = model.config.coverage_loss_weight
  if coverage_weight:
    coverage = coverage_losses(attn_weights)  # [batch, tgt_len]
    loss = loss + coverage_weight * coverage
  loss_sum = (loss * weights).sum()
  metrics = {
    "loss": SumCount(loss_sum, num_tokens),
    "nll": SumCount((nll * weights).sum(), num_tokens),
    "accuracy": SumCount((correct * weights).sum(), num_tokens),
  }
  if coverage_weight:
    metrics["coverage_loss"] = SumCount((coverage * weights).sum(), num_tokens)
  return loss_sum / jnp.maximum(num_tokens, 1.0), metrics


def train_step(
  state: TrainState,
  batch: Batch,
  rng: jax.Array,
  *,
  model,
  tx: optax.GradientTransformation,
  label_smoothing: float = 0.0,
):
  """One update. `rng` is the run's dropout root key; the step's key is `fold_in(rng, step)`, so
  a resumed run draws the same dropout masks as an uninterrupted one.

  Returns `(new_state, metrics)`; metrics hold `(sum, count)` pairs for loss, nll, accuracy and
  grad_norm (the global norm before clipping).
  """
  step_rng = jax.random.fold_in(rng, state.step)
  grad_fn = jax.grad(
    functools.partial(loss_fn, model=model, label_smoothing=label_smoothing), has_aux=True
  )
  grads, metrics = grad_fn(state.params, batch, step_rng)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics["grad_norm"] = SumCount(optax.global_norm(grads), jnp.ones((), jnp.float32))
  return TrainState(step=state.step + 1, params=params, opt_state=opt_state), metrics


def eval_step(params, batch: Batch, *, model) -> Metrics:
  """Teacher-forced `(sum, count)` of the nll and next-token accuracy over real target tokens."""
  logits, _ = model.apply(
    {"params": params}, batch["src_ids"], batch["src_lengths"], batch["tgt_in"], train=False
  )
  _, nll, correct = token_losses(logits, batch["tgt_out"])
  weights = target_weights(batch)
  num_tokens = weights.sum()
  return {
    "nll": SumCount((nll * weights).sum(), num_tokens),
    "next_token_accuracy": SumCount((correct * weights).sum(), num_tokens),
  }


def sum_metrics(metrics_list) -> dict[str, SumCount]:
  """Sums a sequence of host-side metric dicts leaf by leaf."""
  return jax.tree.map(lambda *xs: float(sum(xs)), *metrics_list)


def normalize(metrics: dict[str, SumCount]) -> dict[str, float]:
  """`(sum, count)` -> sum / count (NaN for a zero count)."""
  return {name: SumCount(*pair).value() for name, pair in metrics.items()}
