"""Bad input, as a hostile but realistic user gives it, through the real entry points.

Each case runs one command (`attn_seq2seq.main` and `scripts/benchmark.py` as subprocesses;
`translate`, `evaluate` and `scripts/run_sweep.py` through their `main` in-process) and asserts:
the exit status; exactly one line on stderr (`error: ...`, naming the bad value); no traceback;
and that no file of an existing run changed (hashes of every file before and after). The existing
run is the session's trained `reverse:short,quick` run (conftest.py), copied per module. A bad
config value stops main before it logs anything; an error found after main started loading data
or checkpoints (or enabled its compilation cache) follows main's own log records, which are set
aside (`without_log_records`) before counting lines.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from absl import flags
from absl.testing import flagsaver
from command_line import load_script

from attn_seq2seq import cli
from attn_seq2seq.inference import evaluate, translate
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  RESULTS_FILE,
  SRC_VOCAB_FILE,
)
from attn_seq2seq.training import workdir

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
  "--config=configs/reverse.py:short,quick",
  "--config.eval_every_steps=100",
  "--config.num_attention_plots=0",
]  # the config of conftest's quick_reverse_run


def digest(directory: Path) -> dict[str, str]:
  """Relative path -> sha256 of every file under `directory`."""
  return {
    str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted(directory.rglob("*"))
    if p.is_file()
  }


def data_dir_of(run: Path) -> str:
  return json.loads((run / CONFIG_FILE).read_text())["config"]["data"]["data_dir"]


@pytest.fixture(scope="module")
def run(quick_reverse_run, tmp_path_factory) -> Path:
  """A copy of the trained quick run that every case of this module must leave unchanged."""
  copy = tmp_path_factory.mktemp("existing") / "run"
  shutil.copytree(quick_reverse_run, copy)
  return copy


@pytest.fixture
def unchanged(run):
  """Asserts after the test that no file of `run` changed."""
  before = digest(run)
  yield run
  assert digest(run) == before


def assert_one_error_line(stderr: str, *fragments: str) -> str:
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert len(lines) == 1, stderr
  assert lines[0].startswith("error: "), stderr
  assert "Traceback" not in stderr and "Exception ignored" not in stderr
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])
  return lines[0]


# -- attn_seq2seq.main (subprocesses) -----------------------------------------------------------

_LOG_RECORD = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


def without_log_records(stderr: str) -> str:
  """Main's stderr without its absl log records (`I1130 00:55:37.872308 1406... file.py:65] ...`):
  a run that got as far as loading data has logged its progress before the error line."""
  return "\n".join(line for line in stderr.splitlines() if not _LOG_RECORD.match(line))


def run_main(args: list[str], env: dict | None = None, timeout: int = 180):
  return subprocess.run(
    [sys.executable, "-m", "attn_seq2seq.main", *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
    env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
  )


@pytest.mark.parametrize(
  "override, fragment",
  [
    ("model.hidden_size=0", "model.hidden_size=0 is out of range; allowed: an integer >= 1"),
    ("learning_rate=nan", "learning_rate=nan is out of range; allowed: a finite number > 0"),
    ("dropout=1.5", "dropout=1.5 is out of range; allowed: a finite number >= 0 and < 1"),
    ("eval_every_steps=0", "eval_every_steps=0 is out of range; allowed: an integer >= 1"),
    ("batch_size=-8", "batch_size=-8 is out of range; allowed: an integer >= 1"),
    ("data.name=wikipedia", "data.name='wikipedia': unknown dataset 'wikipedia'; valid choices: "),
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
  from attn_seq2seq.training import train  # noqa: PLC0415

  sys.path.insert(0, str(ROOT))
  try:
    from configs import reverse  # noqa: PLC0415
  finally:
    sys.path.pop(0)
  config = reverse.get_config("short,quick")
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


def test_main_with_a_corrupt_dataset_file_names_it_and_the_fix(run, tmp_path):
  data_dir = tmp_path / "tfds"
  shutil.copytree(data_dir_of(run), data_dir)
  train_file = next(data_dir.rglob("*-train.array_record*"))
  train_file.write_bytes(train_file.read_bytes()[:1000])
  result = run_main([*QUICK, f"--workdir={tmp_path / 'run'}"], env={"TFDS_DATA_DIR": str(data_dir)})
  assert result.returncode == 1
  assert_one_error_line(
    without_log_records(result.stderr),
    f"corrupt dataset file {train_file}",
    f"delete the directory {train_file.parent} to regenerate it",
  )


def test_benchmark_zero_steps_is_one_line():
  result = subprocess.run(
    [sys.executable, "scripts/benchmark.py", "--steps=0"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  assert result.returncode == 1
  assert_one_error_line(result.stderr, "--steps=0", "not a positive integer")


# -- translate and evaluate (their main, in-process) --------------------------------------------


def call_main(module, capsys, **flag_values) -> tuple[int, str, str]:
  """`module.main` with these flags, parsed as its command line does; (exit status, stdout,
  stderr including the exit message)."""
  argv = [module.__name__, *(f"--{name}={value}" for name, value in flag_values.items())]
  code, message = 0, ""
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    try:
      cli.parse_flags(argv)
      module.main(argv[:1])
    except SystemExit as e:
      code, message = (1, e.code) if isinstance(e.code, str) else (e.code or 0, "")
  captured = capsys.readouterr()
  return code, captured.out, captured.err + (message + "\n" if message else "")


def write_lines(path: Path, lines: list[str]) -> Path:
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return path


@pytest.mark.parametrize(
  "flag_values, fragment",
  [
    ({"alpha": "nan", "beam_size": 3}, "--alpha must be a finite number >= 0"),
    ({"alpha": "inf", "beam_size": 3}, "--alpha must be a finite number >= 0"),
    ({"alpha": "-1", "beam_size": 3}, "--alpha=-1"),
    ({"beam_size": 0}, "--beam_size=0"),
    ({"batch_size": 0}, "--batch_size=0"),
    ({"max_src_len": 0}, "--max_src_len=0"),
    ({"checkpoint_step": 3}, "no checkpoint step 3"),
    ({"input": "{tmp}/missing.txt"}, "cannot read --input {tmp}/missing.txt"),
    ({"output": "{tmp}/no/such/dir/out.txt"}, "cannot write --output {tmp}/no/such/dir/out.txt"),
    ({"output": "{tmp}"}, "cannot write --output {tmp}: it is a directory"),
  ],
)
def test_translate_bad_flag_is_one_line_naming_it(
  flag_values, fragment, unchanged, tmp_path, capsys
):
  flag_values = {
    "workdir": unchanged,
    "input": write_lines(tmp_path / "in.txt", ["1 2"]),
    **{k: str(v).format(tmp=tmp_path) for k, v in flag_values.items()},
  }
  code, out, err = call_main(translate, capsys, **flag_values)
  assert code == 1 and out == ""
  assert_one_error_line(err, fragment.format(tmp=tmp_path))


@pytest.mark.parametrize("spelling", ["same", "dot_slash"])
def test_translate_output_equal_to_input_is_refused_and_the_input_kept(
  spelling, unchanged, tmp_path, capsys, monkeypatch
):
  source = write_lines(tmp_path / "in.txt", ["1 2", "3"])
  monkeypatch.chdir(tmp_path)
  output = source if spelling == "same" else "./in.txt"
  code, _, err = call_main(translate, capsys, workdir=unchanged, input=source, output=output)
  assert code == 1
  assert_one_error_line(err, f"--output={output} is the --input file")
  assert source.read_text() == "1 2\n3\n"


@pytest.mark.parametrize("problem", ["no_workdir", "no_checkpoints", "garbage_vocabulary"])
def test_translate_unusable_run_is_one_line_naming_the_path(problem, run, tmp_path, capsys):
  target = tmp_path / "run"
  if problem != "no_workdir":
    shutil.copytree(run, target)
  if problem == "no_checkpoints":
    shutil.rmtree(target / CHECKPOINTS_DIR)
  if problem == "garbage_vocabulary":
    (target / SRC_VOCAB_FILE).write_bytes(b"\x00\xff garbage")
  code, _, err = call_main(
    translate, capsys, workdir=target, input=write_lines(tmp_path / "in.txt", ["1"])
  )
  assert code == 1
  assert_one_error_line(err, str(target))


def test_translate_whitespace_only_line_gives_an_empty_line(unchanged, tmp_path, capsys):
  source = write_lines(tmp_path / "in.txt", ["1 2", "   ", "\t", "3"])
  output = tmp_path / "out.txt"
  code, _, err = call_main(translate, capsys, workdir=unchanged, input=source, output=output)
  assert code == 0 and err == ""
  lines = output.read_text().split("\n")[:-1]
  assert len(lines) == 4 and lines[1] == "" and lines[2] == ""


@pytest.mark.parametrize(
  "flag_values, fragment",
  [
    ({"split": "dev"}, "algorithmic/reverse_short has no split 'dev'; splits: "),
    ({"alpha": "nan", "beam_size": 2}, "--alpha must be a finite number >= 0"),
    ({"beam_size": -1}, "--beam_size=-1"),
    ({"data_dir": "{tmp}/file"}, "data directory {tmp}/file is a file"),
  ],
)
def test_evaluate_bad_flag_is_one_line_naming_it(
  flag_values, fragment, unchanged, tmp_path, capsys, monkeypatch
):
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir_of(unchanged))
  (tmp_path / "file").write_text("")
  flag_values = {k: str(v).format(tmp=tmp_path) for k, v in flag_values.items()}
  code, _, err = call_main(evaluate, capsys, workdir=unchanged, **flag_values)
  assert code == 1
  assert_one_error_line(err, fragment.format(tmp=tmp_path))


def test_evaluate_tfds_data_dir_that_is_a_file_is_one_line(
  unchanged, tmp_path, capsys, monkeypatch
):
  (tmp_path / "file").write_text("")
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "file"))
  code, _, err = call_main(evaluate, capsys, workdir=unchanged)
  assert code == 1
  assert_one_error_line(err, f"data directory {tmp_path / 'file'} is a file")


def test_evaluate_corrupt_results_json_is_reported_before_decoding(
  run, tmp_path, capsys, monkeypatch
):
  target = tmp_path / "run"
  shutil.copytree(run, target)
  (target / RESULTS_FILE).write_text('{"step": 4, "test": {')
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "never_used"))
  before = digest(target)
  code, _, err = call_main(evaluate, capsys, workdir=target)
  assert code == 1
  assert_one_error_line(err, f"cannot read {target / RESULTS_FILE}")
  assert digest(target) == before
  assert not (tmp_path / "never_used").exists()  # failed before loading any data


def test_evaluate_ignores_a_data_dir_written_in_config_json(run, tmp_path, capsys, monkeypatch):
  """An edited config.json cannot make evaluate write a dataset anywhere."""
  target = tmp_path / "run"
  shutil.copytree(run, target)
  record = json.loads((target / CONFIG_FILE).read_text())
  record["config"]["data"]["data_dir"] = str(tmp_path / "planted")
  (target / CONFIG_FILE).write_text(json.dumps(record))
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir_of(run))
  code, out, _ = call_main(evaluate, capsys, workdir=target, split="validation")
  assert code == 0 and "validation" in out
  assert not (tmp_path / "planted").exists()


# -- scripts/run_sweep.py (its main, in-process) ------------------------------------------------


@pytest.fixture(scope="module")
def run_sweep():
  return load_script("run_sweep")


def sweep_file(path: Path, hidden_sizes=(16,)) -> Path:
  runs = [
    {
      "name": f"h{h}",
      "config": "configs/reverse.py:short,quick",
      "overrides": {"model.hidden_size": h},
    }
    for h in hidden_sizes
  ]
  path.write_text(f"def get_sweep(arg=None):\n  return {runs!r}\n")
  return path


@pytest.mark.parametrize("parallel", [0, -2])
def test_run_sweep_parallel_below_one_is_one_line(parallel, run_sweep, tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)
  with pytest.raises(SystemExit) as exit_info:
    run_sweep(
      [
        f"--sweep={sweep_file(tmp_path / 's.py')}",
        f"--root={tmp_path / 'root'}",
        f"--parallel={parallel}",
      ]
    )
  assert_one_error_line(str(exit_info.value.code), f"--parallel={parallel} is out of range")
  assert not (tmp_path / "root").exists()


def test_run_sweep_with_a_changed_definition_refuses_naming_the_runs(
  run_sweep, tmp_path, monkeypatch
):
  monkeypatch.chdir(ROOT)
  root = tmp_path / "root"
  from attn_seq2seq.sweeps import sweep  # noqa: PLC0415

  sweep.write_sweep_json(
    root, "old", sweep.load_sweep(str(sweep_file(tmp_path / "old.py", (16, 8)))), ["old"]
  )
  before = digest(root)
  with pytest.raises(SystemExit) as exit_info:
    run_sweep([f"--sweep={sweep_file(tmp_path / 'new.py', (16, 32))}", f"--root={root}"])
  assert_one_error_line(str(exit_info.value.code), "h32 (added), h8 (removed)", "--allow_changed")
  assert digest(root) == before


# -- the decoding loops end whatever the scores -------------------------------------------------


def test_beam_search_with_nan_scores_ends_at_the_length_limit(quick_reverse_run):
  """NaN parameters make every score NaN, which never compares as done: the loop still stops."""
  import jax  # noqa: PLC0415
  import numpy as np  # noqa: PLC0415

  from attn_seq2seq import search  # noqa: PLC0415
  from attn_seq2seq.inference.trained_run import load_run  # noqa: PLC0415

  loaded = load_run(quick_reverse_run)
  params = jax.tree.map(lambda x: x * np.nan, loaded.params)
  src_ids, src_lengths = np.full((2, 5), 5, np.int32), np.array([5, 3], np.int32)
  out = search.beam_search(
    loaded.model,
    {"params": params},
    src_ids,
    src_lengths,
    beam_size=2,
    alpha=0.6,
    max_len_a=1.0,
    max_len_b=2.0,
  )
  assert int(out.steps) <= 7  # max_steps = ceil(1.0 * 5 + 2)
  with pytest.raises(ValueError, match=r"alpha=nan is out of range"):
    search.beam_search(
      loaded.model, {"params": params}, src_ids, src_lengths, beam_size=2, alpha=float("nan")
    )
