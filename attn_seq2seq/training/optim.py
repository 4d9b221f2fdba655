"""Optimizers and learning-rate schedules, chosen by name from the experiment config.

  make_schedule(config)   -> optax schedule: step -> learning rate
  make_optimizer(config)  -> (optax.GradientTransformation, schedule); global-norm clipping first

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


def make_optimizer(config: ml_collections.ConfigDict):
  """`(tx, schedule)`: global-norm clipping (`grad_clip_norm`, 0 = off), then the optimizer.

  adam      Kingma & Ba 2015 (b1, b2, eps from `adam_b1`, `adam_b2`, `adam_eps`)
  adamw     adam with decoupled weight decay `weight_decay` (Loshchilov & Hutter 2019)
  adadelta  Zeiler 2012 with rho 0.95, eps 1e-6 (Bahdanau et al. 2015; use learning_rate 1.0)
  sgd       with optional Nesterov-free `momentum` (0 = plain SGD, Sutskever et al. 2014)
  """
  check_choice("optimizer", config.optimizer, OPTIMIZERS)
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
