"""Early stopping: a run ends with the results of its best validation step, resumes exactly, keeps
its best checkpoint through rotation; a stack's members stop on their own; bad values are one line.

`dates:quick` with a constant learning rate of 0.1: the validation loss of this tiny model falls,
then bounces back up within 10 steps (evaluated every 2), so with patience 1 a run stops early.
What the rule should pick is computed from the evaluations of the same config trained without
early stopping (the reference), and the early-stopped run's final results must equal that
reference's checkpoint at the picked step, evaluated on every split.
"""

import math
import os
import signal
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import (
  load_config,
  metrics_records,
  read_json,
  run_main,
  save_then_die,
  without_speed,
  without_timing,
)

from attn_seq2seq.data.pipeline import TrainBatches
from attn_seq2seq.experiment_config import base_config
from attn_seq2seq.inference.trained_run import load_run
from attn_seq2seq.run_files import CHECKPOINTS_DIR, MEMBERS_DIR, RESULTS_FILE
from attn_seq2seq.training import mesh as mesh_lib
from attn_seq2seq.training import train
from attn_seq2seq.training import workdir as workdir_lib
from attn_seq2seq.training.checkpoint import Checkpointer
from attn_seq2seq.training.evaluator import Evaluator

SEEDS = (0, 1, 2)
PATIENCE = 1
TRAINING = dict(
  lr_schedule="constant",
  warmup_steps=0,
  learning_rate=0.1,
  num_train_steps=10,
  eval_every_steps=2,
  log_every_steps=2,
)
# The reference keeps a checkpoint of every evaluation; the early-stopped run 1 (and its best).
REFERENCE = dict(**TRAINING, checkpoint_every_steps=2, max_checkpoints_to_keep=100)
EARLY = dict(
  **TRAINING,
  checkpoint_every_steps=4,
  max_checkpoints_to_keep=1,
  early_stopping={"metric": "loss", "patience": PATIENCE},
)


def count_tokens(batch) -> float:
  """A stand-in FLOP counter: any host-side function of the batch."""
  return float(batch["src_lengths"].sum() + 2 * batch["tgt_lengths"].sum())


@pytest.fixture(scope="module")
def reference(quick_dates_config, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("reference")
  train.train_and_evaluate(quick_dates_config(**REFERENCE), workdir, flops_fn=count_tokens)
  return workdir


@pytest.fixture(scope="module")
def early(quick_dates_config, tmp_path_factory):
  """The early-stopped run: (workdir, results)."""
  workdir = tmp_path_factory.mktemp("early")
  return workdir, train.train_and_evaluate(
    quick_dates_config(**EARLY), workdir, flops_fn=count_tokens
  )


def expected_selection(workdir: Path, patience: int = PATIENCE) -> tuple[int, int | None]:
  """(best step, stop step or None) of "lower validation loss is better, stop after `patience`
  evaluations without improvement" over the evaluations recorded in `workdir`."""
  best, since = None, 0
  for record in metrics_records(workdir):
    if "eval/loss" not in record:
      continue
    if best is None or record["eval/loss"] < best[1]:
      best, since = (record["step"], record["eval/loss"]), 0
    else:
      since += 1
    if since >= patience:
      return best[0], record["step"]
  return best[0], None


def evaluate_at(workdir: Path, step: int, config) -> dict[str, dict]:
  """Every split's metrics of the checkpoint `step` of the run in `workdir`, as training
  evaluates them (same mesh, batch size and decoding limits)."""
  from attn_seq2seq.data import load_task  # noqa: PLC0415  (TFDS)

  mesh = mesh_lib.make_mesh()
  run = load_run(workdir, step=step, sharding=mesh_lib.replicated(mesh))
  task = load_task(config.data, vocabs=(run.src_vocab, run.tgt_vocab))
  evaluator = Evaluator.for_config(run.model, task, mesh, config)
  splits = dict.fromkeys(("validation", *task.eval_splits))
  return {split: evaluator.evaluate(run.params, split) for split in splits}


def splits_of(results: dict) -> dict[str, dict]:
  return {k: v for k, v in results.items() if isinstance(v, dict) and "count" in v}


def test_an_early_stopped_run_ends_with_the_results_of_its_best_step(
  early, reference, quick_dates_config
):
  workdir, results = early
  best, stop = expected_selection(reference)
  assert stop is not None and best < stop < TRAINING["num_train_steps"], "no early stop to test"
  assert (results["step"], results["last_step"]) == (best, stop)
  assert results["stop_reason"] == "early_stopping"
  es = results["early_stopping"]
  assert (es["metric"], es["mode"], es["patience"], es["min_delta"]) == ("loss", "min", 1, 0.0)
  assert es["best_value"] == results["validation"]["loss"]
  assert splits_of(results) == evaluate_at(reference, best, quick_dates_config(**REFERENCE))
  assert results["attention_plots"] == [f"plots/step_{best:06d}/validation_000.png"]
  # Training stopped at `stop`: the same evaluations as the reference up to there, none after.
  lines = metrics_records(workdir)
  loop = [r for r in lines if any(k.startswith("eval/") for k in r)]
  assert [r["step"] for r in loop] == list(range(2, stop + 1, 2))
  reference_loop = [r for r in metrics_records(reference) if "eval/loss" in r and r["step"] <= stop]
  assert without_speed(loop) == without_speed(reference_loop)
  assert max(r["step"] for r in lines if "train/loss" in r) == stop
  assert [r["step"] for r in lines if "test/loss" in r] == [best]  # the selected model's


def test_the_best_checkpoint_survives_rotation_and_is_what_load_run_loads(early, reference):
  workdir, results = early
  best, stop = results["step"], results["last_step"]
  assert Checkpointer(workdir / CHECKPOINTS_DIR).all_steps() == [best, stop]  # kept: 1 + best
  run = load_run(workdir)  # a finished run: the step its results evaluated
  assert run.step == best
  jax.tree.map(
    np.testing.assert_array_equal,
    jax.device_get(run.params),
    jax.device_get(load_run(reference, step=best).params),
  )


def test_cumulative_training_cost_grows_with_every_record(early):
  workdir, results = early
  lines = metrics_records(workdir)
  for key in ("train/seconds", "train/tgt_tokens", "train/src_tokens", "train/flops"):
    values = [r[key] for r in lines if r["step"] <= results["last_step"] and "test/loss" not in r]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False)), key
    assert values[0] > 0 or key == "train/seconds", key
  [stop] = [r for r in lines if r["step"] == results["last_step"] and "eval/loss" in r]
  assert results["train_seconds"] == stop["train/seconds"] > 0
  assert (
    results["tgt_tokens"] == stop["train/tgt_tokens"] and results["flops"] == stop["train/flops"]
  )
  assert results["src_tokens"] == stop["train/src_tokens"]


def assert_same_run(workdir: Path, reference: Path) -> None:
  """Results (timing aside) and metrics.jsonl (clock readings aside) of an uninterrupted run."""
  assert without_timing(read_json(workdir / RESULTS_FILE)) == without_timing(
    read_json(reference / RESULTS_FILE)
  )
  assert without_speed(metrics_records(workdir)) == without_speed(metrics_records(reference))


def test_killed_between_evaluations_resumes_exactly(
  early, quick_dates_config, tmp_path, monkeypatch
):
  """Killed right after the step-4 checkpoint (after the evaluation of step 4, before step 5);
  the resumed run continues its totals and early-stopping state."""
  with monkeypatch.context() as patch:
    patch.setattr(Checkpointer, "save", save_then_die(4))
    with pytest.raises(SystemExit, match="killed"):
      train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens)
  killed_totals = metrics_records(tmp_path)[-1]
  assert killed_totals["step"] == 4
  train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens)
  assert_same_run(tmp_path, early[0])
  resumed = [r for r in metrics_records(tmp_path) if r["step"] > 4 and "train/loss" in r][0]
  assert resumed["train/seconds"] > killed_totals["train/seconds"]  # continued, not restarted


def test_killed_after_deciding_to_stop_resumes_to_the_same_results(
  early, quick_dates_config, tmp_path, monkeypatch
):
  """Killed during the final evaluation: the stop checkpoint and the selected model's test
  record are written, results.json is not. The resumed run does not train again."""
  with monkeypatch.context() as patch:
    patch.setattr(workdir_lib, "merge_results", lambda *args: sys.exit("killed"))
    with pytest.raises(SystemExit, match="killed"):
      train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens)
  stop = early[1]["last_step"]
  assert Checkpointer(tmp_path / CHECKPOINTS_DIR).latest_step() == stop
  assert any("test/loss" in r for r in metrics_records(tmp_path))
  train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens)
  assert_same_run(tmp_path, early[0])


def test_a_stop_signal_before_an_evaluation_resumes_to_the_same_results(
  early, quick_dates_config, tmp_path, monkeypatch
):
  """SIGTERM while step 6 (an evaluation step) is prepared: the checkpoint of step 6 is saved
  before its evaluation, which the resumed run does first."""
  original_next, served = TrainBatches.__next__, []

  def next_then_sigterm(self):
    served.append(1)
    if len(served) == 6:
      os.kill(os.getpid(), signal.SIGTERM)
    return original_next(self)

  with monkeypatch.context() as patch:
    patch.setattr(TrainBatches, "__next__", next_then_sigterm)
    assert (
      train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens) is None
    )
  assert Checkpointer(tmp_path / CHECKPOINTS_DIR).latest_step() == 6
  assert max(r["step"] for r in metrics_records(tmp_path) if "eval/loss" in r) == 4
  train.train_and_evaluate(quick_dates_config(**EARLY), tmp_path, flops_fn=count_tokens)
  assert_same_run(tmp_path, early[0])


def test_stacked_members_stop_on_their_own_each_at_its_best(quick_dates_config, tmp_path):
  reference, workdir = tmp_path / "reference", tmp_path / "early"
  train.train_and_evaluate(quick_dates_config(**REFERENCE, seeds=SEEDS), reference)
  results = train.train_and_evaluate(quick_dates_config(**EARLY, seeds=SEEDS), workdir)
  member = lambda root, seed: root / MEMBERS_DIR / f"seed_{seed}"
  expected = {seed: expected_selection(member(reference, seed)) for seed in SEEDS}
  assert len({stop for _, stop in expected.values()}) > 1, f"members stop together: {expected}"
  assert all(stop is not None for _, stop in expected.values()), expected
  assert results["step"] == max(stop for _, stop in expected.values())  # until every one stopped
  config = quick_dates_config(**REFERENCE)
  for seed, (best, stop) in expected.items():
    got = read_json(member(workdir, seed) / RESULTS_FILE)
    assert (got["step"], got["last_step"], got["stop_reason"]) == (best, stop, "early_stopping")
    want = evaluate_at(member(reference, seed), best, config)  # solo evaluation of its slice
    for split, metrics in want.items():
      assert got[split].keys() == metrics.keys()
      for name, value in metrics.items():
        np.testing.assert_allclose(got[split][name], value, rtol=1e-5, err_msg=f"{split} {name}")
    lines = metrics_records(member(workdir, seed))
    assert max(r["step"] for r in lines if "test/loss" not in r) == stop  # none after its stop
    assert load_run(member(workdir, seed)).step == best  # its best step's slice, still kept


def test_a_config_recorded_before_early_stopping_existed_is_the_same_config():
  config = base_config("dates")
  old = {k: v for k, v in config.to_dict().items() if k != "early_stopping"}
  assert workdir_lib.config_differences(old, config.to_dict()) == []
  config.early_stopping.patience = 3
  changed = workdir_lib.config_differences(old, config.to_dict())
  assert [name for name, _, _ in changed] == ["early_stopping.patience"]


@pytest.mark.parametrize(
  "override, message",
  [
    ({"patience": -1}, "early_stopping.patience=-1 is out of range; allowed: an integer >= 0"),
    ({"min_delta": -0.1}, "early_stopping.min_delta=-0.1 is out of range; allowed: a finite"),
    ({"min_delta": math.nan}, "early_stopping.min_delta=nan is out of range"),
    ({"mode": "maximize"}, "early_stopping.mode='maximize' is not a mode; allowed: auto, max, min"),
    (
      {"mode": "max"},
      "early_stopping.mode='max' contradicts early_stopping.metric='loss' (lower is better); "
      "allowed: min or auto",
    ),
    ({"metric": "acc"}, "early_stopping.metric='acc' is not a validation metric; allowed: loss,"),
    (
      {"metric": "bleu"},
      "early_stopping.metric='bleu' is not a validation metric of dates; allowed: loss, "
      "perplexity, next_token_accuracy, exact_match, token_accuracy",
    ),
  ],
)
def test_bad_early_stopping_values_are_one_line_errors(override, message):
  config = load_config("dates", "quick")
  config.early_stopping.update(override)
  with pytest.raises(ValueError) as error:
    train.check_config(config, num_devices=1)
  assert str(error.value).startswith(message), str(error.value)
  assert "\n" not in str(error.value)


def test_main_refuses_a_bad_early_stopping_value_in_one_line_creating_nothing(tmp_path):
  result = run_main(
    [
      "--config=configs/dates.py:quick",
      f"--workdir={tmp_path / 'run'}",
      "--config.early_stopping.mode=max",
    ],
    timeout=120,
  )
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
    "error: early_stopping.mode='max' contradicts early_stopping.metric='loss' (lower is "
    "better); allowed: min or auto"
  ]
  assert not (tmp_path / "run").exists()
