"""The training loop: outputs, resume after a crash or SIGTERM, non-finite loss, config errors.

One tiny `dates:quick` run (4 steps on the 4 fake CPU devices, checkpoints at steps 2 and 4) is the
reference; the other runs repeat it with an interruption and must end with the same results.json.
"""

import json
import os
import signal

import jax
import numpy as np
import pytest
from helpers import (
  TIMINGS,
  checkpoint_steps,
  crash_after_first_checkpoint,
  metrics_records,
  read_json,
  run_main,
  without_timing,
)

from attn_seq2seq.data import load_task
from attn_seq2seq.data.pipeline import TrainBatches
from attn_seq2seq.models import ModelConfig, build_model, init_params
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  RESULTS_FILE,
  SRC_VOCAB_FILE,
  TGT_VOCAB_FILE,
)
from attn_seq2seq.training import optim, steps, train
from attn_seq2seq.training.checkpoint import Checkpointer


@pytest.fixture(scope="module")
def reference(quick_dates_config, tmp_path_factory):
  """An uninterrupted run: (workdir, results)."""
  workdir = tmp_path_factory.mktemp("reference")
  return workdir, train.train_and_evaluate(quick_dates_config(), workdir)


def test_run_writes_every_output(reference):
  workdir, results = reference
  record = json.loads((workdir / CONFIG_FILE).read_text())
  assert record["config"]["num_train_steps"] == 4
  assert record["versions"]["jax"] == jax.__version__ and "flax" in record["versions"]
  assert record["devices"] == {
    "kind": jax.devices()[0].device_kind,
    "platform": "cpu",
    "count": 4,
    "processes": 1,
  }
  lines = metrics_records(workdir)
  train_steps = [r["step"] for r in lines if "train/loss" in r]
  assert train_steps == [2, 4]
  assert all(
    np.isfinite(r["train/loss"]) and r["train/tgt_tokens_per_sec"] > 0
    for r in lines
    if "train/loss" in r
  )
  assert any("eval/exact_match" in r for r in lines) and any("test/exact_match" in r for r in lines)
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert checkpoint_steps(workdir) == [2, 4]
  assert (workdir / SRC_VOCAB_FILE).exists() and (workdir / TGT_VOCAB_FILE).exists()
  assert read_json(workdir / RESULTS_FILE) == json.loads(json.dumps(results))
  assert set(results) == {
    "step",
    "validation",
    "test",
    "attention_plots",
    *("last_step", "stop_reason", "tgt_tokens", "src_tokens", "flops", *TIMINGS),
  }  # flops: models/flops.py counts this model (train.py: the default flops_fn)
  assert results["step"] == results["last_step"] == 4
  assert results["stop_reason"] == "num_train_steps"
  assert results["tgt_tokens"] > 0 and results["src_tokens"] > 0 and results["flops"] > 0
  assert 0 < results["train_seconds"] < results["wall_seconds"]
  for split in ("validation", "test"):
    metrics = results[split]
    assert {"loss", "perplexity", "next_token_accuracy", "exact_match", "count"} <= set(metrics)
    assert any(k.startswith("by_length/") for k in metrics)
  assert list((workdir / "plots" / "step_000002").glob("validation_*.png"))  # mid-run evaluation
  for plot in results["attention_plots"]:
    assert (workdir / plot).read_bytes()[:4] == b"\x89PNG"


def test_resume_after_a_crash_ends_with_the_same_results(
  reference, quick_dates_config, tmp_path, monkeypatch
):
  """Killed right after its first checkpoint (step 2), then re-run with the same command."""
  crash_after_first_checkpoint(quick_dates_config(), tmp_path, monkeypatch)

  assert Checkpointer(tmp_path / CHECKPOINTS_DIR).latest_step() == 2
  results = train.train_and_evaluate(quick_dates_config(), tmp_path)
  assert without_timing(results) == without_timing(reference[1])
  assert without_timing(read_json(tmp_path / RESULTS_FILE)) == without_timing(
    read_json(reference[0] / RESULTS_FILE)
  )
  steps = [record["step"] for record in metrics_records(tmp_path)]
  assert steps == sorted(steps)  # one consistent history


def test_sigterm_saves_a_restorable_checkpoint(
  reference, quick_dates_config, tmp_path, monkeypatch
):
  original_next = TrainBatches.__next__
  served = []

  def next_then_sigterm(self):  # the signal arrives while step 3 is being prepared
    served.append(1)
    if len(served) == 3:
      os.kill(os.getpid(), signal.SIGTERM)
    return original_next(self)

  monkeypatch.setattr(TrainBatches, "__next__", next_then_sigterm)
  previous_handler = signal.getsignal(signal.SIGTERM)
  assert train.train_and_evaluate(quick_dates_config(), tmp_path) is None
  assert signal.getsignal(signal.SIGTERM) is previous_handler
  monkeypatch.undo()

  checkpointer = Checkpointer(tmp_path / CHECKPOINTS_DIR)
  assert checkpointer.latest_step() == 3
  template = jax.eval_shape(lambda: reference_state_template(quick_dates_config()))
  state, data_state = checkpointer.restore(template)
  assert int(state.step) == 3 and data_state["batch"] == 3
  resumed = train.train_and_evaluate(quick_dates_config(), tmp_path)
  assert without_timing(resumed) == without_timing(reference[1])


def reference_state_template(config):
  """The train state's structure for `config` (shapes only; used under eval_shape)."""
  task = load_task(config.data)
  model = build_model(ModelConfig.of_experiment(config), task.src_vocab.size, task.tgt_vocab.size)
  tx, _ = optim.make_optimizer(config)
  params = init_params(model, jax.random.key(0))
  return steps.create_train_state(params, tx)


@pytest.mark.parametrize(
  "every, message, saved",
  [
    (1, r"non-finite training loss at step 2\b.*The last good checkpoint is step 1 in", [1]),
    (100, r"at step 2\b.*No checkpoint was saved yet .*: a re-run starts from scratch", []),
  ],
)
def test_non_finite_loss_stops_naming_the_step(every, message, saved, quick_dates_config, tmp_path):
  """A learning rate beyond float32 (finite as a config value, inf on the device) turns the
  parameters to inf/NaN at step 1; step 2's loss is NaN. The message says where a re-run starts."""
  config = quick_dates_config(
    optimizer="sgd", learning_rate=1e39, grad_clip_norm=0.0, checkpoint_every_steps=every
  )
  with pytest.raises(FloatingPointError, match=message):
    train.train_and_evaluate(config, tmp_path)
  assert Checkpointer(tmp_path / CHECKPOINTS_DIR).all_steps() == saved


@pytest.mark.parametrize(
  "override, message",
  [
    ({"batch_size": 6}, r"^batch_size=6 is not divisible by the number of devices \(4\)"),
    ({"eval_batch_size": 10}, r"^eval_batch_size=10 is not divisible"),
    (
      {"optimizer": "adamm"},
      r"^unknown optimizer 'adamm'; valid choices: adam, adamw, adadelta, sgd$",
    ),
    (
      {"lr_schedule": "linear"},
      r"^unknown lr_schedule 'linear'; valid choices: constant, warmup_rsqrt, cosine$",
    ),
  ],
)
def test_bad_choices_are_one_line_errors(quick_dates_config, override, message):
  with pytest.raises(ValueError, match=message) as error:
    train.check_config(quick_dates_config(**override))
  assert "\n" not in str(error.value)


def test_main_reports_an_unknown_override_in_one_line(tmp_path):
  result = run_main(
    ["--config=configs/dates.py:quick", f"--workdir={tmp_path}", "--config.lerning_rate=0.1"],
    timeout=120,
  )
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
    'error: unknown config field config.lerning_rate; did you mean "learning_rate" instead of '
    '"lerning_rate"?'
  ]
