"""Bad input to the training entry points, as a hostile but realistic user gives it:
`attn_seq2seq.main` and `scripts/benchmark.py` as subprocesses (see helpers.py for what every
case asserts). A bad config value stops main before it logs anything; an error found after main
started loading data or checkpoints (or enabled its compilation cache) follows main's own log
records, which are set aside (`without_log_records`) before counting lines.
"""

import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from helpers import (
  QUICK,
  assert_one_error_line,
  data_dir_of,
  digest,
  load_config,
  read_only_mount,
  run_main,
  run_script,
)

from attn_seq2seq.run_files import CHECKPOINTS_DIR, CONFIG_FILE, RESULTS_FILE
from attn_seq2seq.training import train, workdir

# -- attn_seq2seq.main (subprocesses) -----------------------------------------------------------

_LOG_RECORD = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


def without_log_records(stderr: str) -> str:
  """Main's stderr without its absl log records (`I1130 00:55:37.872308 1406... file.py:65] ...`):
  a run that got as far as loading data has logged its progress before the error line."""
  return "\n".join(line for line in stderr.splitlines() if not _LOG_RECORD.match(line))


@pytest.mark.parametrize(
  "override, fragment",
  [
    ("model.hidden_size=0", "model.hidden_size=0 is out of range; allowed: an integer >= 1"),
    ("learning_rate=nan", "learning_rate=nan is out of range; allowed: a finite number > 0"),
    ("dropout=1.5", "dropout=1.5 is out of range; allowed: a finite number >= 0 and < 1"),
    ("eval_every_steps=0", "eval_every_steps=0 is out of range; allowed: an integer >= 1"),
    ("batch_size=-8", "batch_size=-8 is out of range; allowed: an integer >= 1"),
    ("data.name=wikipedia", "data.name='wikipedia': unknown dataset 'wikipedia'; valid choices: "),
    ("seeds=-1,2", "seeds=(-1, 2) is out of range; allowed: integers >= 0"),
  ],
)
def test_main_bad_config_value_is_one_line_naming_it(override, fragment, unchanged):
  result = run_main([*QUICK, f"--config.{override}", f"--workdir={unchanged}"])
  assert result.returncode == 1
  assert_one_error_line(result.stderr, fragment)


@pytest.mark.parametrize(
  "override, fragment",
  [
    ({"learning_rate": -0.1}, "learning_rate=-0.1 is out of range; allowed: a finite number > 0"),
    ({"learning_rate": float("inf")}, "learning_rate=inf is out of range"),
    ({"num_train_steps": 0}, "num_train_steps=0 is out of range; allowed: an integer >= 1"),
    ({"num_train_steps": -5}, "num_train_steps=-5 is out of range"),
    ({"log_every_steps": 0}, "log_every_steps=0 is out of range"),
    ({"checkpoint_every_steps": 0}, "checkpoint_every_steps=0 is out of range"),
    ({"max_checkpoints_to_keep": 0}, "max_checkpoints_to_keep=0 is out of range"),
    ({"adam_b2": 1.0}, "adam_b2=1.0 is out of range; allowed: a finite number >= 0 and < 1"),
    ({"label_smoothing": -0.1}, "label_smoothing=-0.1 is out of range"),
    ({"decode_max_len_a": float("nan")}, "decode_max_len_a=nan is out of range"),
    ({"model.num_layers": 0}, "model.num_layers=0 is out of range"),
    ({"model.attention_size": -1}, "model.attention_size=-1 is out of range"),
    ({"data.num_buckets": 0}, "data.num_buckets=0 is out of range"),
    (
      {"data.name": "algorithmic/reverse_huge"},
      "data.name='algorithmic/reverse_huge': unknown algorithmic builder config 'reverse_huge'",
    ),
    ({"data.num_symbols": 5, "data.name": "dates"}, "data.num_symbols=5 does not apply to dates"),
  ],
)
def test_every_range_is_checked_before_anything_is_built(override, fragment):
  """The checks main runs first (`train.check_config`), for the fields not run above."""
  config = load_config("reverse", "short,quick")
  for path, value in override.items():
    node, *parts = [config, *path.split(".")]
    for part in parts[:-1]:
      node = node[part]
    node[parts[-1]] = value
  with pytest.raises(ValueError) as error:
    train.check_config(config, num_devices=1)
  assert str(error.value).startswith(fragment) and "\n" not in str(error.value)


def test_main_contradictory_variants_are_one_line(unchanged):
  result = run_main(["--config=configs/reverse.py:short,long,quick", f"--workdir={unchanged}"])
  assert result.returncode == 1
  assert_one_error_line(
    result.stderr, "variants short, long exclude each other; allowed: one of short, medium, long"
  )


def test_main_stray_positional_argument_is_one_line_and_creates_nothing(tmp_path):
  workdir = tmp_path / "run"
  result = run_main([*QUICK, f"--workdir={workdir}", "extra"])
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "unexpected arguments: extra; allowed: flags only")
  assert not workdir.exists()


@pytest.mark.parametrize("problem", ["missing", "directory", "no_get_config"])
def test_main_bad_config_file_is_one_line_naming_it(problem, tmp_path, unchanged):
  path = {
    "missing": tmp_path / "nope.py",
    "directory": tmp_path,
    "no_get_config": tmp_path / "empty.py",
  }[problem]
  if problem == "no_get_config":
    path.write_text("VALUE = 1\n")
  result = run_main([f"--config={path}", f"--workdir={unchanged}"])
  assert result.returncode == 1
  want = {
    "missing": "no such config file",
    "directory": "is a directory",
    "no_get_config": "does not define get_config",
  }[problem]
  assert_one_error_line(result.stderr, str(path), want)


@pytest.mark.parametrize("problem", ["file", "parent_is_a_file"])
def test_main_unusable_workdir_is_one_line_naming_it(problem, tmp_path):
  (tmp_path / "file").write_text("not a directory\n")
  target = tmp_path / "file" if problem == "file" else tmp_path / "file" / "run"
  result = run_main([*QUICK, f"--workdir={target}"])
  assert result.returncode == 1
  assert_one_error_line(without_log_records(result.stderr), str(target))
  assert (tmp_path / "file").read_text() == "not a directory\n"


def test_main_data_dir_that_is_a_file_is_one_line(tmp_path):
  (tmp_path / "tfds").write_text("")
  result = run_main(
    [*QUICK, f"--workdir={tmp_path / 'run'}"], env={"TFDS_DATA_DIR": str(tmp_path / "tfds")}
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr), f"data.data_dir='{tmp_path / 'tfds'}' is a file"
  )
  assert not (tmp_path / "run").exists()


def test_main_on_a_finished_run_with_another_config_refuses(run, unchanged):
  result = run_main(
    [*QUICK, "--config.model.hidden_size=32", f"--workdir={run}"],
    env={"TFDS_DATA_DIR": data_dir_of(run)},
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr), f"run in {run} is finished", "model.hidden_size=32 (was 16)"
  )


@pytest.mark.parametrize("override", ["data.name=algorithmic/copy_short"])
def test_main_on_an_unfinished_run_with_another_config_refuses(override, run, tmp_path):
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / RESULTS_FILE).unlink()
  before = digest(target)
  result = run_main(
    [*QUICK, f"--config.{override}", f"--workdir={target}"], env={"TFDS_DATA_DIR": data_dir_of(run)}
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    f"workdir {target} holds a run with another config: {override.split('=')[0]}=",
    "--allow_config_change",
  )
  assert digest(target) == before


def test_main_on_a_finished_run_prints_its_results_and_changes_nothing(run, unchanged):
  result = run_main([*QUICK, f"--workdir={run}"], env={"TFDS_DATA_DIR": data_dir_of(run)})
  assert result.returncode == 0, result.stderr
  assert "test_long" in result.stdout and "exact_match" in result.stdout
  assert "Traceback" not in result.stderr


def test_main_on_a_locked_workdir_refuses_naming_the_owner(run, tmp_path):
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / RESULTS_FILE).unlink()  # unfinished
  with workdir.lock(target):
    before = digest(target)
    result = run_main([*QUICK, f"--workdir={target}"], env={"TFDS_DATA_DIR": data_dir_of(run)})
    assert digest(target) == before
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    f"workdir {target} is in use by pid {os.getpid()} on host {socket.gethostname()}",
  )


def test_main_with_a_garbage_config_json_is_one_line(run, tmp_path):
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / CONFIG_FILE).write_text('{"config": {"seed"')
  before = digest(target)
  result = run_main([*QUICK, f"--workdir={target}"], env={"TFDS_DATA_DIR": data_dir_of(run)})
  assert result.returncode == 1
  assert_one_error_line(without_log_records(result.stderr), f"cannot read {target / CONFIG_FILE}")
  assert digest(target) == before


@pytest.mark.parametrize(
  "damage, fragment",
  [
    ("no_config", "is finished but its config.json is missing"),
    ("results_list", "results.json: not a JSON object"),
  ],
)
def test_main_on_a_finished_run_with_a_broken_record_is_one_line_naming_the_file(
  damage, fragment, run, tmp_path
):
  """A finished run without config.json would accept any config and print the old results as
  its own; a results.json of `[]` would be trained again and then fail: both are refused first."""
  target = tmp_path / "run"
  shutil.copytree(run, target)
  if damage == "no_config":
    (target / CONFIG_FILE).unlink()
  else:
    (target / RESULTS_FILE).write_text("[]\n")
  before = digest(target)
  result = run_main(
    [*QUICK, "--config.model.hidden_size=32", f"--workdir={target}"],
    env={"TFDS_DATA_DIR": data_dir_of(run)},
  )
  assert result.returncode == 1
  assert_one_error_line(without_log_records(result.stderr), str(target), fragment)
  assert digest(target) == before


@pytest.mark.parametrize("seeds", ["5,6", "0"])
def test_main_changing_the_seeds_of_a_stack_refuses_even_when_config_changes_are_allowed(
  seeds, run, tmp_path
):
  """members/seed_<k> are bound to their seeds: seeds 0,1 -> 5,6 would continue seed 0's
  training as members/seed_5."""
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / RESULTS_FILE).unlink()  # unfinished: a config change could be allowed
  record = json.loads((target / CONFIG_FILE).read_text())
  record["config"]["seeds"] = [0, 1]
  (target / CONFIG_FILE).write_text(json.dumps(record))
  before = digest(target)
  result = run_main(
    [*QUICK, f"--config.seeds={seeds}", "--allow_config_change", f"--workdir={target}"],
    env={"TFDS_DATA_DIR": data_dir_of(run)},
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr), f"workdir {target} holds a run of seeds=[0, 1]", "relabel"
  )
  assert digest(target) == before


def test_main_with_an_incompatible_checkpoint_names_the_parameter_and_shapes(run, tmp_path):
  """No config.json to compare with: the checkpoints themselves do not fit a 32-unit model."""
  target = tmp_path / "run"
  shutil.copytree(run, target)
  for name in ("config.json", "results.json"):
    (target / name).unlink()
  before = digest(target)
  result = run_main(
    [*QUICK, "--config.model.hidden_size=32", f"--workdir={target}"],
    env={"TFDS_DATA_DIR": data_dir_of(run)},
  )
  assert result.returncode == 1
  line = assert_one_error_line(
    without_log_records(result.stderr),
    f"no usable checkpoint in {target / CHECKPOINTS_DIR}: step 4: incompatible model: parameter ",
    "in the checkpoint but",
    "(steps 2 too)",
  )
  assert "(16," in line or ", 16)" in line
  assert digest(target) == before


@pytest.mark.parametrize(
  "pattern, keep, message",
  [
    ("*-train.array_record*", 1000, "corrupt dataset file {}"),
    ("dataset_info.json", 100, "cannot read the dataset metadata {}"),
  ],
  ids=["array_record", "dataset_info"],
)
def test_main_with_a_damaged_dataset_file_names_it_and_the_fix(
  pattern, keep, message, run, tmp_path
):
  data_dir = tmp_path / "tfds"
  shutil.copytree(data_dir_of(run), data_dir)
  damaged = next(data_dir.rglob(pattern))
  damaged.write_bytes(damaged.read_bytes()[:keep])  # truncated
  result = run_main([*QUICK, f"--workdir={tmp_path / 'run'}"], env={"TFDS_DATA_DIR": str(data_dir)})
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    message.format(damaged),
    f"delete the directory {damaged.parent} to regenerate it",
  )


def test_main_resumes_on_a_read_only_prepared_data_dir(run, tmp_path):
  """A data directory that already holds the prepared files is only read: no prepare lock."""
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / RESULTS_FILE).unlink()  # the final evaluation is left to do
  with read_only_mount(Path(data_dir_of(run))) as data_dir:
    result = run_main([*QUICK, f"--workdir={target}"], env={"TFDS_DATA_DIR": str(data_dir)})
  assert result.returncode == 0, result.stderr[-3000:]
  assert (target / RESULTS_FILE).exists()


def test_benchmark_zero_steps_is_one_line():
  result = run_script("benchmark", "--steps=0")
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "--steps=0", "not a positive integer")


def test_benchmark_on_a_stacked_runs_root_says_to_use_a_member(run, tmp_path):
  """A stacked run's checkpoint holds every member along a leading axis: no single model."""
  target = tmp_path / "stack"
  shutil.copytree(run, target)
  record = json.loads((target / CONFIG_FILE).read_text())
  record["config"]["seeds"] = [0, 1]
  (target / CONFIG_FILE).write_text(json.dumps(record))
  before = digest(target)
  result = run_script(
    "benchmark",
    "--config=configs/reverse.py:short,quick",
    f"--config.data.data_dir={data_dir_of(run)}",
    f"--workdir={target}",
    "--steps=2",
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    f"{target} is a stacked run (seeds 0, 1), not one model",
    f"{target / 'members'}/<member> (seed_0, seed_1)",
  )
  assert digest(target) == before


def test_main_length_limits_that_drop_every_pair_are_one_line(tmp_path):
  result = run_main(
    ["--config=configs/dates.py:quick", "--config.data.max_src_len=2", f"--workdir={tmp_path}/r"],
    env={"TFDS_DATA_DIR": str(tmp_path / "tfds")},
  )
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    "dates: no training pair is within data.max_src_len=2",
    "the shortest source has",
  )
