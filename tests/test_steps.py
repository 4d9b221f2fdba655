"""The pure steps: masked loss, and data parallelism that changes nothing but the speed."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from helpers import SRC_VOCAB, TGT_VOCAB, fake_batch

from attn_seq2seq.models import ModelConfig, build_model, init_params
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import optim, steps


def train_config(**overrides):
  config = ml_collections.ConfigDict(
    dict(
      optimizer="adam",
      learning_rate=1e-2,
      lr_schedule="constant",
      warmup_steps=0,
      num_train_steps=10,
      grad_clip_norm=1.0,
      weight_decay=0.0,
      momentum=0.0,
      adam_b1=0.9,
      adam_b2=0.999,
      adam_eps=1e-8,
    )
  )
  config.update(overrides)
  return config


@pytest.fixture(scope="module")
def model():
  config = ModelConfig(embed_size=16, hidden_size=16, attention_size=16, dropout=0.1)
  return build_model(config, SRC_VOCAB, TGT_VOCAB)


@pytest.fixture(scope="module")
def params(model):
  return jax.jit(init_params, static_argnums=0)(model, jax.random.key(0))


def jitted_train_step(model, tx, mesh):
  replicated, data = mesh_lib.replicated(mesh), mesh_lib.data_sharding(mesh)
  return jax.jit(
    functools.partial(steps.train_step, model=model, tx=tx),
    in_shardings=(replicated, data, replicated),
    out_shardings=replicated,
  )


def run_step(model, params, tx, devices, batch):
  mesh = mesh_lib.make_mesh(devices)
  state = jax.device_put(steps.create_train_state(params, tx), mesh_lib.replicated(mesh))
  global_batch = mesh_lib.to_global(batch, mesh_lib.data_sharding(mesh))
  new_state, metrics = jitted_train_step(model, tx, mesh)(state, global_batch, jax.random.key(1))
  return jax.device_get(new_state), steps.normalize(jax.device_get(metrics))


def assert_trees_close(a, b, atol=1e-5):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=atol, rtol=1e-5), a, b)


def test_four_devices_give_the_same_loss_and_update_as_one(model, params):
  assert len(jax.devices()) == 4
  tx, _ = optim.make_optimizer(train_config())  # adam + clipping; dropout is on
  batch = fake_batch()
  state_1, metrics_1 = run_step(model, params, tx, jax.devices()[:1], batch)
  state_4, metrics_4 = run_step(model, params, tx, jax.devices(), batch)
  np.testing.assert_allclose(metrics_4["loss"], metrics_1["loss"], rtol=1e-5)
  assert int(state_4.step) == int(state_1.step) == 1
  assert_trees_close(state_4.params, state_1.params)
  assert_trees_close(state_4.opt_state, state_1.opt_state)


def test_sharded_gradients_equal_the_single_device_reference(model, params):
  """SGD with lr 1 and no clipping: old - new params is exactly the gradient the step used."""
  tx, _ = optim.make_optimizer(train_config(optimizer="sgd", learning_rate=1.0, grad_clip_norm=0.0))
  batch = fake_batch(seed=1)
  new_state, _ = run_step(model, params, tx, jax.devices(), batch)
  step_grads = jax.tree.map(lambda old, new: old - new, jax.device_get(params), new_state.params)

  # Reference: plain jax.grad on one device, no mesh, the same dropout key the step derives.
  rng = jax.random.fold_in(jax.random.key(1), 0)
  grad_fn = jax.jit(jax.grad(functools.partial(steps.loss_fn, model=model), has_aux=True))
  reference, _ = grad_fn(params, jax.device_put(batch, jax.devices()[0]), rng)
  assert_trees_close(step_grads, jax.device_get(reference))
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(reference)) > 1e-3  # not vacuous


def test_loss_ignores_padding_and_dummy_rows(model, params):
  batch = fake_batch(seed=2)
  padded = dict(batch)  # two extra padded target positions change nothing
  for key in ("tgt_in", "tgt_out"):
    padded[key] = np.pad(batch[key], ((0, 0), (0, 2)))
  with_dummy = {k: np.concatenate([v, v[:2]]) for k, v in batch.items()}  # eval-style filler rows
  with_dummy["example_ids"][-2:] = -1
  eval_fn = functools.partial(jax.jit(functools.partial(steps.eval_step, model=model)), params)
  base, pad, dummy = (
    steps.normalize(jax.device_get(eval_fn(b))) for b in (batch, padded, with_dummy)
  )
  for name in base:
    np.testing.assert_allclose(pad[name], base[name], rtol=1e-5)
    np.testing.assert_allclose(dummy[name], base[name], rtol=1e-5)
  tokens = int((batch["tgt_out"] != 0).sum())
  assert jax.device_get(eval_fn(with_dummy))["nll"][1] == tokens


def test_label_smoothing_is_the_smoothed_cross_entropy():
  logits = jnp.array([[[2.0, 0.5, -1.0, 0.0]]])
  targets = jnp.array([[0]])
  loss, nll, correct = steps.token_losses(logits, targets, label_smoothing=0.1)
  log_probs = jax.nn.log_softmax(logits)[0, 0]
  smoothed = np.full(4, 0.1 / 4) + np.eye(4)[0] * 0.9
  np.testing.assert_allclose(loss[0, 0], -(smoothed * log_probs).sum(), rtol=1e-6)
  np.testing.assert_allclose(nll[0, 0], -log_probs[0], rtol=1e-6)
  assert correct[0, 0] == 1.0
  plain, _, _ = steps.token_losses(logits, targets)
  np.testing.assert_allclose(plain, nll)


def test_batch_not_divisible_by_devices_is_a_one_line_error():
  with pytest.raises(
    ValueError, match=r"batch_size=6 is not divisible by the number of devices \(4\)"
  ) as e:
    mesh_lib.check_batch_size(6, mesh_lib.make_mesh())
  assert "\n" not in str(e.value)


@pytest.mark.parametrize(
  "name, expected",
  [
    ("constant", {0: 0.0, 50: 0.5, 100: 1.0, 400: 1.0, 1000: 1.0}),
    ("warmup_rsqrt", {0: 0.0, 50: 0.5, 100: 1.0, 400: 0.5, 1000: 0.1**0.5}),  # sqrt(100 / step)
    ("cosine", {0: 0.0, 50: 0.5, 100: 1.0, 550: 0.5, 1000: 0.0}),
  ],
)
def test_schedules_warm_up_linearly_then_follow_their_shape(name, expected):
  schedule = optim.make_schedule(
    train_config(lr_schedule=name, learning_rate=1.0, warmup_steps=100, num_train_steps=1000)
  )
  for step, lr in expected.items():
    np.testing.assert_allclose(float(schedule(step)), lr, atol=1e-6, err_msg=f"{name} at {step}")


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_descends_on_a_quadratic(name):
  tx, _ = optim.make_optimizer(
    train_config(optimizer=name, learning_rate=0.1, weight_decay=0.01, momentum=0.9)
  )
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  loss = lambda p: 0.5 * jnp.sum(p["w"] ** 2)
  opt_state = tx.init(params)
  for _ in range(3):
    updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
    params = optax.apply_updates(params, updates)
  assert float(loss(params)) < 0.5 * 14.0
