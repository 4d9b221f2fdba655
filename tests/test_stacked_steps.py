"""Stacked seeds at the step level: member k of a stacked train step is the solo train step with
seed k, bit for bit at initialisation and to float32 tolerance after 20 steps.

A tiny model trains for 20 steps on fake batches, stacked (vmapped and mapped over the members:
both ways training/members.py runs them, whatever this platform picks) and solo: mapped on 1 and
vmapped on 4 fake CPU devices (test_learning_rate_grids.py's step test covers the other two
pairs, for members that differ in learning rate too). The run-level tests of stacking are
test_stacked_seeds.py: apart, so that the two xdist workers can run both halves at once
(`--dist loadfile` gives a file to one worker).
"""

import jax
import numpy as np
import pytest
from helpers import (
  SRC_VOCAB,
  TGT_VOCAB,
  assert_solo_run_equals_member,
  fake_batch,
  tiny_config,
)

from attn_seq2seq.training import members, train_functions
from attn_seq2seq.training import mesh as mesh_lib

SEEDS = (0, 1, 2)


@pytest.mark.parametrize(
  ("num_devices", "sequential"),
  [(1, True), (4, False)],
  ids=["1-mapped", "4-vmapped"],
)  # the other two pairs, with learning-rate grids: test_learning_rate_grids.py
def test_member_k_trains_exactly_as_the_solo_run_with_seed_k(num_devices, sequential, monkeypatch):
  # Both ways of stacking the train step, whatever this platform picks (members.py).
  monkeypatch.setattr(members, "sequential_members", lambda platform: sequential)
  mesh = mesh_lib.make_mesh(jax.devices()[:num_devices])
  data = mesh_lib.data_sharding(mesh)
  batches = [mesh_lib.to_global(fake_batch(seed=i), data) for i in range(20)]

  stack = train_functions.make_train_functions(tiny_config(seeds=SEEDS), SRC_VOCAB, TGT_VOCAB, mesh)
  state = stack.init(members.seed_keys(SEEDS, 0))
  initial = jax.device_get(state.params)
  dropout = members.seed_keys(SEEDS, 1)
  stack_losses = []
  for batch in batches:
    state, metrics = stack.train_step(state, batch, dropout)
    stack_losses.append(np.asarray(metrics["loss"][0]) / np.asarray(metrics["loss"][1]))
  assert int(state.step) == 20
  stack_params = jax.device_get(state.params)

  solo = train_functions.make_train_functions(tiny_config(), SRC_VOCAB, TGT_VOCAB, mesh)
  for k, seed in enumerate(SEEDS):
    solo_init = solo.init(members.seed_keys(seed, 0))
    jax.tree.map(
      np.testing.assert_array_equal, jax.device_get(solo_init.params), members.take(initial, k)
    )  # the same initialisation, bit for bit
    member_losses = [losses[k] for losses in stack_losses]
    member_params = members.take(stack_params, k)
    assert_solo_run_equals_member(solo, seed, batches, member_losses, member_params, 2e-6)
  # Not vacuous: the members differ from each other, and training moved them.
  first, second = (jax.tree.leaves(members.take(stack_params, k))[0] for k in (0, 1))
  assert np.abs(first - second).max() > 1e-2
  assert stack_losses[-1].mean() < stack_losses[0].mean()
