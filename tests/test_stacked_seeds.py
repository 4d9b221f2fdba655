"""Stacked seeds: member k of a stacked run is the solo run with seed k (same data order).

The run-level tests train `dates:quick` with `seeds=0,1,2`: the layout, each member's outputs
against the solo run, and a run killed after its first checkpoint that resumes to the same
results, in process and, through the real CLI, after a SIGKILL. The step-level test (the train
step, stacked and solo, on fake batches) is test_stacked_steps.py.
"""

import shutil
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest
from helpers import (
  crash_after_first_checkpoint,
  metrics_records,
  read_json,
  tiny_config,
  without_speed,
  without_timing,
)

from attn_seq2seq.experiment_config import base_config
from attn_seq2seq.inference.trained_run import load_run
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  LOCK_FILE,
  MEMBERS_DIR,
  METRICS_FILE,
  RESULTS_FILE,
)
from attn_seq2seq.sweeps import summary
from attn_seq2seq.sweeps.sweep import run_config
from attn_seq2seq.training import members, train, train_functions
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.checkpoint import Checkpointer

SEEDS = (0, 1, 2)


def test_seeds_and_data_order_seed_are_config_fields():
  config = base_config("dates")
  assert members.member_seeds(config) is None and members.data_order_seed(config) == 0
  config.seed = 5
  assert members.data_order_seed(config) == 5  # follows `seed` unless set
  config.data_order_seed = 2
  assert members.data_order_seed(config) == 2
  swept = run_config(
    {"name": "s012", "config": "configs/dates.py:quick", "overrides": {"seeds": "0,1,2"}}
  )  # how a sweep expresses a stacked group
  assert swept.seeds == SEEDS and swept.seed == 0
  member = members.member_config(swept, 2)
  assert (member.seed, member.seeds, member.data_order_seed) == (2, (), 0)
  with pytest.raises(ValueError, match=r"^seeds=\(0, 0\) repeats a seed") as error:
    train.check_config(tiny_config(seeds=(0, 0)))
  assert "\n" not in str(error.value)


def test_a_run_recorded_before_the_stacking_fields_existed_has_the_same_config():
  """A solo run's config.json from before `seeds` / `data_order_seed` still matches (resume and
  finished-run checks), but setting either one is a change."""
  config = base_config("dates")
  old = {k: v for k, v in config.to_dict().items() if k not in ("seeds", "data_order_seed")}
  assert workdir_lib.config_differences(old, config.to_dict()) == []
  config.seeds = SEEDS
  assert [k for k, _, _ in workdir_lib.config_differences(old, config.to_dict())] == ["seeds"]


# -- whole runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_config(quick_dates_config):
  """`dates:quick` logging every step, with these overrides."""
  return lambda **overrides: quick_dates_config(**{"log_every_steps": 1, **overrides})


@pytest.fixture(scope="module")
def stacked_run(make_config, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("stacked")
  return workdir, train.train_and_evaluate(make_config(seeds=SEEDS), workdir)


def test_each_member_writes_what_the_solo_run_writes(stacked_run, make_config, tmp_path):
  workdir, results = stacked_run
  assert results == {"members": [f"members/seed_{s}" for s in SEEDS], "step": 4}
  assert read_json(workdir / RESULTS_FILE) == results
  assert read_json(workdir / CONFIG_FILE)["config"]["seeds"] == list(SEEDS)
  assert Checkpointer(workdir / CHECKPOINTS_DIR).all_steps() == [2, 4]
  assert not (workdir / METRICS_FILE).exists()

  solo = train.train_and_evaluate(make_config(seed=1, data_order_seed=0), tmp_path)
  member = workdir / MEMBERS_DIR / "seed_1"
  assert read_json(member / CONFIG_FILE) == read_json(tmp_path / CONFIG_FILE)
  stack_only = ("checkpoints", LOCK_FILE)  # the stack's, in its top-level workdir
  assert sorted(p.name for p in member.iterdir()) == sorted(
    p.name for p in tmp_path.iterdir() if p.name not in stack_only
  )
  assert all((workdir / name).exists() for name in stack_only)
  assert list((member / "tensorboard").glob("events.out.tfevents.*"))
  member_results = read_json(member / RESULTS_FILE)
  assert member_results["attention_plots"] == solo["attention_plots"]
  for plot in member_results["attention_plots"]:
    assert (member / plot).read_bytes()[:4] == b"\x89PNG"
  for split in ("validation", "test"):
    assert member_results[split].keys() == solo[split].keys()
    for name, value in solo[split].items():
      np.testing.assert_allclose(member_results[split][name], value, rtol=1e-4, err_msg=name)
  solo_lines, member_lines = metrics_records(tmp_path), metrics_records(member)
  assert [r["step"] for r in member_lines] == [r["step"] for r in solo_lines]
  for a, b in zip(member_lines, solo_lines, strict=True):
    if "train/loss" in a:
      np.testing.assert_allclose(a["train/loss"], b["train/loss"], rtol=1e-5)
  losses = [
    read_json(workdir / MEMBERS_DIR / f"seed_{s}" / RESULTS_FILE)["validation"]["loss"]
    for s in SEEDS
  ]
  assert len(set(losses)) == 3  # three different models


def test_killed_stacked_run_resumes_to_the_same_results(
  stacked_run, make_config, tmp_path, monkeypatch
):
  """Killed right after its first checkpoint (step 2), then re-run with the same command."""
  crash_after_first_checkpoint(make_config(seeds=SEEDS), tmp_path, monkeypatch)

  assert train.train_and_evaluate(make_config(seeds=SEEDS), tmp_path) == stacked_run[1]
  reference = stacked_run[0]
  assert read_json(tmp_path / RESULTS_FILE) == read_json(reference / RESULTS_FILE)
  for seed in SEEDS:
    member = Path("members") / f"seed_{seed}"
    assert without_timing(read_json(tmp_path / member / RESULTS_FILE)) == without_timing(
      read_json(reference / member / RESULTS_FILE)
    )
    assert without_speed(metrics_records(tmp_path / member)) == without_speed(
      metrics_records(reference / member)
    )  # one consistent history, the same numbers


def test_sigkilled_stacked_run_resumes_to_the_results_of_an_uninterrupted_one(
  make_config, start_trainer, tmp_path
):
  """The real trainer CLI on a stacked run (seeds 0, 1, 2; 24 steps, a checkpoint every 8) is
  SIGKILLed once its first checkpoint is complete on disk, before any results.json is written.
  The same command resumes it from its latest checkpoint, not from step 0, and finishes with the
  stack's results.json, and each member's results.json and metrics.jsonl (one history, speeds
  aside), of the same run trained without interruption."""
  overrides = dict(
    seeds=SEEDS,
    num_train_steps=24,
    checkpoint_every_steps=8,
    log_every_steps=8,
    eval_every_steps=100,
    num_attention_plots=0,
  )
  reference = tmp_path / "reference"
  train.train_and_evaluate(make_config(**overrides), reference)  # also prepares the data

  workdir = tmp_path / "run"
  data_dir = make_config().data.data_dir
  flags = ["--config=configs/dates.py:quick", f"--config.data.data_dir={data_dir}"]
  killed = start_trainer(workdir, *flags, **overrides)
  killed.wait_for_checkpoint()
  killed.sigkill()
  assert not list(workdir.glob("**/results.json")), "results written before the SIGKILL"
  latest = killed.checkpoint_steps()[-1]
  assert latest < 24, "the trainer checkpointed its last step before the SIGKILL"

  resumed = start_trainer(workdir, *flags, **overrides)
  resumed.wait()
  log = resumed.log()
  assert f"resumed from step {latest} " in log and f"steps {latest} -> 24" in log, log[-3000:]
  assert read_json(workdir / "results.json") == read_json(reference / "results.json")
  for seed in SEEDS:
    member = Path("members") / f"seed_{seed}"
    assert without_timing(read_json(workdir / member / "results.json")) == without_timing(
      read_json(reference / member / "results.json")
    ), member
    lines = metrics_records(workdir / member)
    assert [r["step"] for r in lines if "train/loss" in r] == [8, 16, 24]
    assert without_speed(lines) == without_speed(metrics_records(reference / member)), member


def test_a_member_loads_for_decoding_like_a_solo_run(stacked_run):
  workdir, _ = stacked_run
  run = load_run(workdir / MEMBERS_DIR / "seed_2")
  assert run.step == 4 and run.config.seed == 2
  stack = Checkpointer(workdir / CHECKPOINTS_DIR)
  state, _ = stack.restore(stack_template(workdir), 4)
  jax.tree.map(
    np.testing.assert_array_equal,
    jax.device_get(run.params),
    jax.device_get(members.take(state.params, 2)),
  )


def stack_template(workdir):
  """The stacked train state's shapes and shardings of the run in `workdir`."""
  record = read_json(workdir / CONFIG_FILE)
  config = ml_collections.ConfigDict(record["config"])
  config.seeds = tuple(config.seeds)
  fns = train_functions.make_train_functions(
    config, record["task"]["src_vocab_size"], record["task"]["tgt_vocab_size"], mesh_lib.make_mesh()
  )
  return fns.abstract_state(members.seed_keys(config.seeds, 0))


def test_summarize_reads_a_stacked_run_as_one_group_of_three_seeds(stacked_run, tmp_path):
  workdir, _ = stacked_run
  shutil.copytree(
    workdir, tmp_path / "root" / "dates_stack", ignore=shutil.ignore_patterns("checkpoints")
  )
  result = summary.read_summary(tmp_path / "root")
  assert result.num_runs == 3 and not result.unfinished
  (group,) = result.groups
  assert group.stats("test", "exact_match")["n"] == 3
  assert sorted(r.config["seed"] for r in group.runs) == list(SEEDS)
