"""A workdir is the record of one run: the lock survives nothing but its owner, damaged
checkpoints fall back to the newest intact step, a half-written metrics line is dropped, and a
config change is an explicit, recorded decision.

Runs are tiny `reverse:short,quick` models on the 4 fake CPU devices (subprocesses get the same
4 devices and XLA flags), so an interrupted run can be compared with an uninterrupted one exactly.
"""

import json
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import (
  QUICK,
  ROOT,
  data_dir_of,
  load_script,
  metrics_records,
  read_json,
  run_main,
  save_then_die,
  small_disk,
  without_speed,
  without_timing,
)

from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  METRICS_FILE,
  RESULTS_FILE,
)
from attn_seq2seq.training import train
from attn_seq2seq.training.checkpoint import Checkpointer
from attn_seq2seq.training.workdir import WorkdirError


@pytest.fixture(scope="module")
def data_dir(quick_reverse_run):
  return data_dir_of(quick_reverse_run)


@pytest.fixture(scope="module")
def make_config(quick_reverse_config, data_dir):
  """`make_config(**overrides)`: the session quick run's config (its data too), overridden."""

  def make(**overrides):
    config = quick_reverse_config(data_dir, steps=4)
    config.update(overrides)
    return config

  return make


# -- checkpoint fallback ------------------------------------------------------------------------

STEPS = {"num_train_steps": 6, "checkpoint_every_steps": 2, "log_every_steps": 2}


@pytest.fixture(scope="module")
def reference(make_config, tmp_path_factory):
  """An uninterrupted 6-step run: its workdir."""
  workdir = tmp_path_factory.mktemp("reference")
  train.train_and_evaluate(make_config(**STEPS), workdir)
  return workdir


@pytest.fixture(scope="module")
def crashed(make_config, tmp_path_factory):
  """The same run, killed right after its step-4 checkpoint (steps 2 and 4 on disk)."""
  workdir = tmp_path_factory.mktemp("crashed")
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(Checkpointer, "save", save_then_die(4))
    with pytest.raises(SystemExit, match="killed"):
      train.train_and_evaluate(make_config(**STEPS), workdir)
  assert Checkpointer(workdir / CHECKPOINTS_DIR).all_steps() == [2, 4]
  return workdir


def damage(step_dir: Path, how: str) -> None:
  if how == "truncated_array_file":
    for array_file in (step_dir / "state" / "d").iterdir():
      array_file.write_bytes(array_file.read_bytes()[: array_file.stat().st_size // 2])
  elif how == "missing_metadata":
    (step_dir / "state" / "_METADATA").unlink()
  elif how == "empty_step_directory":
    shutil.rmtree(step_dir)
    step_dir.mkdir()


@pytest.mark.parametrize(
  "how", ["truncated_array_file", "missing_metadata", "empty_step_directory"]
)
def test_damaged_latest_checkpoint_falls_back_to_the_previous_step_with_one_warning(
  how, reference, crashed, make_config, tmp_path, caplog
):
  workdir = tmp_path / "run"
  shutil.copytree(crashed, workdir)
  damage(workdir / CHECKPOINTS_DIR / "4", how)
  with caplog.at_level(logging.WARNING):
    results = train.train_and_evaluate(make_config(**STEPS), workdir)
  warnings = [
    r.getMessage()
    for r in caplog.records
    if r.levelno >= logging.WARNING and "checkpoint" in r.getMessage().lower()
  ]
  assert len(warnings) == 1, warnings
  assert (
    warnings[0].startswith("skipped checkpoint step 4 in ")
    and "resuming from step 2" in (warnings[0])
  )
  assert without_timing(results) == without_timing(read_json(reference / RESULTS_FILE))
  assert without_timing(read_json(workdir / RESULTS_FILE)) == without_timing(
    read_json(reference / RESULTS_FILE)
  )
  assert (workdir / "damaged_checkpoints" / "4").is_dir()  # kept for inspection


def test_half_written_metrics_line_is_dropped_with_a_warning(
  reference, crashed, make_config, tmp_path, caplog
):
  workdir = tmp_path / "run"
  shutil.copytree(crashed, workdir)
  with open(workdir / METRICS_FILE, "a") as f:
    f.write('{"step": 5, "train/lo')  # what a crash mid-write leaves
  with caplog.at_level(logging.WARNING):
    train.train_and_evaluate(make_config(**STEPS), workdir)
  assert any("not a complete record" in r.getMessage() for r in caplog.records)
  steps = [record["step"] for record in metrics_records(workdir)]
  assert steps == sorted(steps)
  assert without_timing(read_json(workdir / RESULTS_FILE)) == without_timing(
    read_json(reference / RESULTS_FILE)
  )


def test_a_changed_config_is_refused_unless_allowed_and_then_recorded(
  crashed, make_config, tmp_path
):
  workdir = tmp_path / "run"
  shutil.copytree(crashed, workdir)
  longer = make_config(**{**STEPS, "num_train_steps": 8})
  before = (workdir / CONFIG_FILE).read_bytes()
  with pytest.raises(WorkdirError, match=r"num_train_steps=8 \(was 6\).*--allow_config_change"):
    train.train_and_evaluate(longer, workdir)
  assert (workdir / CONFIG_FILE).read_bytes() == before
  results = train.train_and_evaluate(longer, workdir, allow_config_change=True)
  assert results["step"] == 8
  record = read_json(workdir / CONFIG_FILE)
  assert record["config"]["num_train_steps"] == 8
  [change] = record["config_history"]
  assert change["changed"] == ["num_train_steps"] and change["config"]["num_train_steps"] == 6


def test_non_finite_stop_never_rewrites_config_json(make_config, tmp_path):
  config = make_config(optimizer="sgd", learning_rate=1e39, grad_clip_norm=0.0)
  with pytest.raises(FloatingPointError):
    train.train_and_evaluate(config, tmp_path)
  written = (tmp_path / CONFIG_FILE).read_bytes()
  with pytest.raises(FloatingPointError):
    train.train_and_evaluate(config, tmp_path)  # resumes from step 1, stops again
  assert (tmp_path / CONFIG_FILE).read_bytes() == written


# -- every record written once ------------------------------------------------------------------


@pytest.mark.parametrize("killed", ["before_results_json", "mid_final_evaluation"])
def test_a_run_killed_around_its_final_evaluation_logs_each_record_once(
  killed, quick_reverse_run, tmp_path
):
  """The kill timings around the final evaluation, as the disk shows them: its records all
  logged but no results.json yet, or cut in the middle of a record. The re-run (the real CLI)
  logs every record once, and ends with the uninterrupted run's metrics.jsonl and results."""
  target = tmp_path / "run"
  shutil.copytree(quick_reverse_run, target)
  (target / RESULTS_FILE).unlink()
  if killed == "mid_final_evaluation":  # the last record half-written
    lines = (target / METRICS_FILE).read_bytes().splitlines(keepends=True)
    (target / METRICS_FILE).write_bytes(b"".join(lines[:-1]) + lines[-1][:40])
  result = run_main(  # the session's compilation cache: the programs of quick_reverse_run
    [*QUICK, "--config.num_train_steps=4", f"--workdir={target}"],
    env={"TFDS_DATA_DIR": data_dir_of(quick_reverse_run), "JAX_NUM_CPU_DEVICES": "4"},
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  records = metrics_records(target)
  assert without_speed(records) == without_speed(metrics_records(quick_reverse_run))
  assert len({json.dumps(sorted(r)) + str(r["step"]) for r in records}) == len(records)
  assert without_timing(read_json(target / RESULTS_FILE)) == without_timing(
    read_json(quick_reverse_run / RESULTS_FILE)
  )


# -- Ctrl-C ---------------------------------------------------------------------------------------


def test_double_ctrl_c_during_training_leaves_a_complete_checkpoint_that_resumes_exactly(
  tmp_path, capsys
):
  """One try of scripts/check_interrupts.py (the committed 20-try check): the real trainer gets
  SIGINT twice, the second during the stop checkpoint's save; the checkpoint completes (no
  `N.orbax-checkpoint-tmp`), nothing prints a traceback, and the resumed run ends with the
  uninterrupted run's results.json."""
  status = load_script("check_interrupts")(["--tries=1", f"--work={tmp_path}"])
  out = capsys.readouterr().out
  assert status == 0, out
  assert "1/1 tries left a complete checkpoint and resumed exactly" in out


@pytest.mark.parametrize(
  "moment, status, last_line",
  [
    ("step 4/4", 1, "stopped before the end of training; re-run the same command to resume"),
    ("test at step 4:", 130, "interrupted"),
  ],
  ids=["last_validation", "final_evaluation"],
)
def test_ctrl_c_at_the_end_of_training_is_one_line_and_the_re_run_finishes(
  moment, status, last_line, data_dir, quick_reverse_run, start_trainer, tmp_path
):
  """The real trainer (the session quick run's command) gets SIGINT after its last step, while
  the last validation runs (it stops with the checkpoint of that step, before the final
  evaluation) or while the final evaluation decodes test_long (after test's line; compiling its
  shapes takes seconds): the log ends with one line, no traceback, no results.json nor temporary
  file. The same command then finishes with the uninterrupted run's metrics.jsonl (each record
  once) and results.json."""
  workdir = tmp_path / "run"
  flags = [*QUICK, f"--config.data.data_dir={data_dir}", f"--compilation_cache={tmp_path}/cache"]
  trainer = start_trainer(workdir, *flags, num_train_steps=4)
  trainer.wait_until(lambda: moment in trainer.log(), moment)
  trainer.process.send_signal(signal.SIGINT)
  assert trainer.process.wait(timeout=120) == status, trainer.log()[-3000:]
  log = trainer.log()
  assert log.splitlines()[-1] == last_line, log[-3000:]
  assert "Traceback" not in log and "Exception ignored" not in log
  assert not (workdir / RESULTS_FILE).exists()
  assert not list(workdir.rglob("*.tmp"))
  resumed = subprocess.run(
    trainer.args, cwd=ROOT, env=trainer.env, capture_output=True, text=True, timeout=300
  )
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert without_speed(metrics_records(workdir)) == without_speed(
    metrics_records(quick_reverse_run)
  )
  assert without_timing(read_json(workdir / RESULTS_FILE)) == without_timing(
    read_json(quick_reverse_run / RESULTS_FILE)
  )


# -- a full disk ----------------------------------------------------------------------------------


def test_a_disk_that_fills_up_during_training_is_one_line_and_the_run_resumes(
  data_dir, quick_reverse_run, tmp_path
):
  """A tmpfs too small for the third checkpoint: orbax's failed save (logged by each of its
  threads) reaches the user as one `error:` line naming the directory and the step a re-run
  resumes from; with room again, the re-run resumes from it and finishes (that a resumed run
  equals an uninterrupted one is proved above)."""
  flags = [*QUICK, "--config.num_train_steps=40", "--config.checkpoint_every_steps=4"]
  with small_disk(tmp_path / "disk", "600k") as disk:
    result = run_main([*flags, f"--workdir={disk / 'run'}"], env={"TFDS_DATA_DIR": data_dir})
    shutil.copytree(disk / "run", tmp_path / "run")
  assert result.returncode == 1
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert errors == [result.stderr.splitlines()[-1]], result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  assert f"cannot write a checkpoint in {disk / 'run' / CHECKPOINTS_DIR}" in errors[0]
  assert "No space left on device" in errors[0] and "resumes from" in errors[0]
  resumed = run_main([*flags, f"--workdir={tmp_path / 'run'}"], env={"TFDS_DATA_DIR": data_dir})
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "resumed from step 4" in resumed.stderr
  assert read_json(tmp_path / "run" / RESULTS_FILE)["last_step"] == 40


# -- the lock -----------------------------------------------------------------------------------


def test_sigkilled_trainer_releases_the_lock_and_the_waiting_trainer_resumes_exactly(
  data_dir, make_config, start_trainer, tmp_path
):
  """A trains (16 steps, a checkpoint every 2) and is frozen after its first checkpoint; C is
  refused; B waits for the lock; A is SIGKILLed; B takes the lock over and finishes with the
  results.json of an uninterrupted run."""
  overrides = {"num_train_steps": 16, "checkpoint_every_steps": 2, "log_every_steps": 8}
  reference = tmp_path / "reference"
  train.train_and_evaluate(make_config(**overrides), reference)

  workdir = tmp_path / "run"
  # No compilation cache: A's final evaluation compiles for seconds, the margin in which the
  # test freezes it after its first checkpoint (from the cache, A could finish first).
  flags = [*QUICK, f"--config.data.data_dir={data_dir}", "--compilation_cache=none"]
  a = start_trainer(workdir, *flags, **overrides)
  a.wait_for_checkpoint()
  os.kill(a.pid, signal.SIGSTOP)
  assert not (workdir / RESULTS_FILE).exists()

  refused = subprocess.run(a.args, cwd=ROOT, env=a.env, capture_output=True, text=True, timeout=120)
  assert refused.returncode == 1
  assert f"is in use by pid {a.pid} on host" in refused.stderr.splitlines()[-1]

  b = start_trainer(workdir, *flags, "--lock_timeout=300", **overrides)
  b.wait_until(lambda: "waiting up to 300 s for workdir" in b.log(), "B waiting for the lock")
  a.sigkill()
  b.wait()
  log = b.log()
  assert f"taking over the stale lock of pid {a.pid}" in log
  assert "resumed from step" in log
  assert without_timing(read_json(workdir / RESULTS_FILE)) == without_timing(
    read_json(reference / RESULTS_FILE)
  )
  assert (workdir / "lock").read_text() == ""  # released
  records = metrics_records(workdir)
  assert [r["step"] for r in records if "train/loss" in r] == [8, 16]  # one history, not two
