"""Learning-rate grids in one program: member (lr, seed) of a stacked run with `learning_rates`
equals the solo run with that learning rate and seed; the sweeps' stacked tuned groups and the
selection of the learning rate from their members.

The step-level test trains a tiny model for 8 steps on fake batches under a warmup schedule, a
3-member grid stacked (vmapped and mapped) and solo, on 1 and 4 fake CPU devices. The run-level test
trains `dates:quick` as a sweep's stacked tuned group (2 learning rates x 2 seeds), the solo run
of one member, and selects the learning rate from the members.
"""

import json

import jax
import numpy as np
import pytest
from helpers import (
  SRC_VOCAB,
  TGT_VOCAB,
  assert_solo_run_equals_member,
  fake_batch,
  metrics_records,
  read_json,
  tiny_config,
  without_timing,
)

from attn_seq2seq.run_files import CONFIG_FILE, MEMBERS_DIR, RESULTS_FILE, SWEEP_FILE
from attn_seq2seq.sweeps import define, selection, summary
from attn_seq2seq.sweeps.sweep import run_config
from attn_seq2seq.training import members, train, train_functions
from attn_seq2seq.training import mesh as mesh_lib

RATES = (1e-3, 1e-2, 1e-2)  # member k: (RATES[k], SEEDS[k]): one seed at two rates, one rate
SEEDS = (0, 0, 1)  # at two seeds
STEPS = 8
SCHEDULE = {"lr_schedule": "warmup_rsqrt", "warmup_steps": 4}  # the schedule's shape scales too


@pytest.mark.parametrize(
  ("num_devices", "sequential"),
  [(1, False), (4, True)],
  ids=["1-vmapped", "4-mapped"],
)
def test_member_lr_seed_trains_as_the_solo_run_with_that_lr_and_seed(
  num_devices, sequential, monkeypatch
):
  monkeypatch.setattr(members, "sequential_members", lambda platform: sequential)
  mesh = mesh_lib.make_mesh(jax.devices()[:num_devices])
  data = mesh_lib.data_sharding(mesh)
  batches = [mesh_lib.to_global(fake_batch(seed=i), data) for i in range(STEPS)]

  grid = tiny_config(seeds=SEEDS, learning_rates=RATES, num_train_steps=STEPS, **SCHEDULE)
  stack = train_functions.make_train_functions(grid, SRC_VOCAB, TGT_VOCAB, mesh)
  state, dropout = stack.init(members.seed_keys(SEEDS, 0)), members.seed_keys(SEEDS, 1)
  stack_losses = []
  for batch in batches:
    state, metrics = stack.train_step(state, batch, dropout)
    stack_losses.append(np.asarray(metrics["loss"][0]) / np.asarray(metrics["loss"][1]))
  stack_params = jax.device_get(state.params)

  for k, (rate, seed) in enumerate(zip(RATES, SEEDS, strict=True)):
    config = tiny_config(seed=seed, learning_rate=rate, num_train_steps=STEPS, **SCHEDULE)
    solo = train_functions.make_train_functions(config, SRC_VOCAB, TGT_VOCAB, mesh)
    for step in range(STEPS):
      np.testing.assert_allclose(stack.learning_rate(step, k), solo.learning_rate(step), rtol=1e-6)
    member_losses = [losses[k] for losses in stack_losses]
    member_params = members.take(stack_params, k)
    assert_solo_run_equals_member(solo, seed, batches, member_losses, member_params, 1e-5)
  # Not vacuous: the same seed at two learning rates ends elsewhere.
  low, high = (jax.tree.leaves(members.take(stack_params, k))[0] for k in (0, 1))
  assert np.abs(low - high).max() > 1e-3


@pytest.mark.parametrize(
  ("overrides", "message"),
  [
    ({"seeds": (0, 1), "learning_rates": (1e-3,)}, "has 1 values for 2 seeds"),
    ({"seeds": (0, 0), "learning_rates": (1e-3, 1e-3)}, "repeats a (learning rate, seed) pair"),
    ({"seeds": (0, 1), "learning_rates": (1e-3, -1.0)}, "must be positive numbers"),
    ({"learning_rates": (1e-3,)}, "has 1 values for 0 seeds"),
  ],
)
def test_a_bad_grid_is_a_one_line_error(overrides, message):
  with pytest.raises(ValueError) as error:
    train.check_config(tiny_config(**overrides))
  assert message in str(error.value) and "\n" not in str(error.value)


GRID_RATES, GRID_SEEDS = (1e-3, 3e-3), (0, 1)


@pytest.fixture(scope="module")
def grid_sweep(quick_dates_config, tmp_path_factory):
  """`(root, run, config)`: a sweep root holding one stacked tuned group of `dates:quick` built
  by `define.tuned_group(..., stacked=True)` (2 learning rates x 2 seeds, chosen on validation
  loss) and trained, with its sweep.json."""
  root = tmp_path_factory.mktemp("grid_sweep")
  (run,) = define.tuned_group(
    "dates",
    "configs/dates.py:quick",
    {"log_every_steps": 1},
    grid={"learning_rate": GRID_RATES},
    seeds=GRID_SEEDS,
    select_on=("validation", "loss"),
    stacked=True,
  )
  config = run_config(run)  # as the sweep launches it
  config.data.data_dir = quick_dates_config().data.data_dir
  train.train_and_evaluate(config, root / run["name"])
  (root / SWEEP_FILE).write_text(json.dumps({"runs": [run]}))
  return root, run, config


def test_a_grid_run_writes_each_member_as_its_solo_run(grid_sweep, quick_dates_config, tmp_path):
  root, run, _ = grid_sweep
  workdir = root / run["name"]
  names = [f"lr{rate:g}_seed_{seed}" for seed in GRID_SEEDS for rate in GRID_RATES]
  assert read_json(workdir / RESULTS_FILE)["members"] == [f"{MEMBERS_DIR}/{n}" for n in names]
  for k, name in enumerate(names):
    record = read_json(workdir / MEMBERS_DIR / name / CONFIG_FILE)["config"]
    rate, seed = GRID_RATES[k % 2], GRID_SEEDS[k // 2]
    assert (record["learning_rate"], record["learning_rates"], record["seed"]) == (rate, [], seed)
    assert members.stack_of(workdir / MEMBERS_DIR / name)[1:] == (k, len(names))

  solo = tmp_path / "solo"
  expected = train.train_and_evaluate(
    quick_dates_config(learning_rate=GRID_RATES[1], log_every_steps=1), solo
  )
  member = workdir / MEMBERS_DIR / names[1]
  assert logged_rates(member) == pytest.approx(logged_rates(solo), rel=1e-6)  # schedule scaled
  low = np.array(logged_rates(workdir / MEMBERS_DIR / names[0]))
  np.testing.assert_allclose(low * GRID_RATES[1] / GRID_RATES[0], logged_rates(solo), rtol=1e-6)
  got = read_json(member / RESULTS_FILE)
  for split in ("validation", "test"):
    for metric, value in without_timing(expected)[split].items():
      if isinstance(value, float):
        assert got[split][metric] == pytest.approx(value, rel=1e-4, abs=1e-6), (split, metric)


def test_the_learning_rate_is_selected_from_the_tuning_seeds_members(grid_sweep):
  root, run, _ = grid_sweep
  member = {
    (rate, seed): f"{run['name']}/{MEMBERS_DIR}/lr{rate:g}_seed_{seed}"
    for rate in GRID_RATES
    for seed in GRID_SEEDS
  }
  losses = [
    read_json(root / member[rate, 0] / RESULTS_FILE)["validation"]["loss"] for rate in GRID_RATES
  ]
  best = GRID_RATES[int(np.argmin(losses))]

  (tuned,) = selection.selections([run], root)
  assert [c["run"] for c in tuned["candidates"]] == [member[rate, 0] for rate in GRID_RATES]
  assert [c["value"] for c in tuned["candidates"]] == list(GRID_RATES)
  assert tuned["chosen"] == {"run": member[best, 0], "value": best}
  assert tuned["runs"] == [member[best, 1]]  # the other seed at the chosen learning rate

  read = summary.read_summary(root, "exact_match", "test")
  (arm,) = read.arms  # the group at the chosen learning rate; the other value is a trial
  assert sorted(r.name for r in arm.runs) == [member[best, 0], member[best, 1]]
  assert read.label(arm) == run["name"] and read.tuned_fields == ["learning_rate"]
  assert len(read.groups) == 2


def logged_rates(workdir) -> list[float]:
  return [r["train/learning_rate"] for r in metrics_records(workdir) if "train/learning_rate" in r]
