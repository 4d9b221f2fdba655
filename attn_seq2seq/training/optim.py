"""Optimizers and learning-rate schedules, chosen by name from the experiment config.

  make_schedule(config)   -> optax schedule: step -> learning rate
  make_optimizer(config)  -> (optax.GradientTransformation, schedule); global-norm clipping first
  make_optimizer(config, per_member_learning_rate=True)
                          -> the same with the peak learning rate a value of the optimizer state
                             (`optax.inject_hyperparams`), set per member (`with_learning_rate`)

Unknown names are a one-line ValueError that lists the valid choices.
"""

import jax.numpy as jnp
import ml_collections
import optax

from attn_seq2seq.choices import check_choice

OPTIMIZERS = ("adam", "adamw", "adadelta", "sgd")
SCHEDULES = ("constant", "warmup_rsqrt", "cosine")
# The config fields `make_optimizer` reads.
OPTIMIZER_FIELDS = (
  "optimizer",
  "learning_rate",
  "lr_schedule",
  "warmup_steps",
  "num_train_steps",
  "grad_clip_norm",
  "weight_decay",
  "momentum",
  "adam_b1",
  "adam_b2",
  "adam_eps",
)


def make_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  """The learning rate at each step, from `lr_schedule`, `learning_rate`, `warmup_steps` and
  `num_train_steps`. Every schedule starts with a linear warmup from 0 when `warmup_steps > 0`:

    constant      lr after the warmup
    warmup_rsqrt  lr * sqrt(warmup / step) after the warmup (Vaswani et al. 2017, peak = lr)
    cosine        cosine decay from lr to 0 at `num_train_steps` (Loshchilov & Hutter 2017)
  """
  check_choice("lr_schedule", config.lr_schedule, SCHEDULES)
  lr, warmup = config.learning_rate, max(int(config.warmup_steps), 0)
  if config.lr_schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
      init_value=0.0,
      peak_value=lr,
      warmup_steps=warmup,
      decay_steps=max(config.num_train_steps, warmup + 1),
      end_value=0.0,
    )
  if config.lr_schedule == "constant":
    after = optax.constant_schedule(lr)
  else:  # warmup_rsqrt
    w = max(warmup, 1)
    after = lambda step: lr * jnp.sqrt(w / jnp.maximum(step + w, w))  # step >= 0 after warmup
  if warmup == 0:
    return after
  ramp = optax.linear_schedule(0.0, lr, warmup)
  # The rsqrt part is shifted by `warmup` by join_schedules: lr * sqrt(w / (w + s)) = lr at s=0.
  return optax.join_schedules([ramp, after], boundaries=[warmup])


def make_optimizer(config: ml_collections.ConfigDict, per_member_learning_rate: bool = False):
  """`(tx, schedule)`: global-norm clipping (`grad_clip_norm`, 0 = off), then the optimizer.

  `per_member_learning_rate`: the optimizer runs the schedule of peak 1, and its updates are
  then scaled by the peak `learning_rate`, an injected hyperparameter of the optimizer state
  (`optax.inject_hyperparams`): the members of a stack (each its own state, see members.py) each
  train at their own learning rate, set by `with_learning_rate`, with the schedule's shape
  scaled to it. Every optimizer here ends with `scale_by_learning_rate(schedule)`, so the update
  is -lr * unit_schedule(step) * direction, the solo run's -schedule(step) * direction up to
  float rounding. The returned schedule is then the unit one.

  adam      Kingma & Ba 2015 (b1, b2, eps from `adam_b1`, `adam_b2`, `adam_eps`)
  adamw     adam with decoupled weight decay `weight_decay` (Loshchilov & Hutter 2019)
  adadelta  Zeiler 2012 with rho 0.95, eps 1e-6 (Bahdanau et al. 2015; use learning_rate 1.0)
  sgd       with optional Nesterov-free `momentum` (0 = plain SGD, Sutskever et al. 2014)
  """
  check_choice("optimizer", config.optimizer, OPTIMIZERS)
  if per_member_learning_rate:
    unit = ml_collections.ConfigDict({**config.to_dict(), "learning_rate": 1.0})
    tx, schedule = make_optimizer(unit)
    peak = optax.inject_hyperparams(optax.scale)(step_size=config.learning_rate)
    return optax.chain(tx, peak), schedule
  schedule = make_schedule(config)
  name = config.optimizer
  if name == "adam":
    opt = optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
  elif name == "adamw":
    opt = optax.adamw(
      schedule,
      b1=config.adam_b1,
      b2=config.adam_b2,
      eps=config.adam_eps,
      weight_decay=config.weight_decay,
    )
  elif name == "adadelta":
    opt = optax.adadelta(schedule, rho=0.95, eps=1e-6)
  else:  # sgd
    opt = optax.sgd(schedule, momentum=config.momentum or None)
  clip = [optax.clip_by_global_norm(config.grad_clip_norm)] if config.grad_clip_norm > 0 else []
  return optax.chain(*clip, opt), schedule


def with_learning_rate(opt_state, learning_rate):
  """`opt_state` of `make_optimizer(..., per_member_learning_rate=True)` with its peak learning
  rate set to `learning_rate` (a scalar; traced inside a stacked init)."""
  *inner, peak = opt_state
  hyperparams = {**peak.hyperparams, "step_size": jnp.asarray(learning_rate, jnp.float32)}
  return (*inner, peak._replace(hyperparams=hyperparams))
