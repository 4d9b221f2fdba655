"""Bad input to the commands that use or launch trained runs: `translate` and `evaluate`
(their `main` in-process, flags parsed as their command line does), `scripts/run_sweep.py`, and
searches over scores that never finish (see helpers.py for what every case asserts).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import (
  ROOT,
  assert_one_error_line,
  checkpoint_steps,
  data_dir_of,
  digest,
  load_script,
  read_only_mount,
  run_command,
  small_disk,
  write_lines,
)

from attn_seq2seq import evaluate, search, translate
from attn_seq2seq.inference.trained_run import load_run
from attn_seq2seq.run_files import CHECKPOINTS_DIR, CONFIG_FILE, RESULTS_FILE, SRC_VOCAB_FILE
from attn_seq2seq.sweeps import sweep

# -- translate and evaluate (their main, in-process) --------------------------------------------


def call_main(module, capsys, **flag_values) -> tuple[int, str, str]:
  """`module.main` with these flags, parsed as its command line does; (exit status, stdout,
  stderr including the exit message)."""
  code, message = 0, ""
  try:
    run_command(module, **flag_values)
  except SystemExit as e:
    code, message = (1, e.code) if isinstance(e.code, str) else (e.code or 0, "")
  captured = capsys.readouterr()
  return code, captured.out, captured.err + (message + "\n" if message else "")


@pytest.mark.parametrize(
  "flag_values, fragment",
  [
    ({"alpha": "nan", "beam_size": 3}, "--alpha must be a finite number from 0 to 10"),
    ({"alpha": "inf", "beam_size": 3}, "--alpha must be a finite number from 0 to 10"),
    ({"alpha": "1e308", "beam_size": 3}, "--alpha must be a finite number from 0 to 10"),
    ({"alpha": "-1", "beam_size": 3}, "--alpha=-1"),
    ({"beam_size": 0}, "--beam_size=0"),
    ({"batch_size": 0}, "--batch_size=0"),
    ({"max_src_len": 0}, "--max_src_len=0"),
    ({"checkpoint_step": 3}, "no checkpoint step 3"),
    ({"input": "{tmp}/missing.txt"}, "cannot read --input {tmp}/missing.txt"),
    ({"output": "{tmp}/no/such/dir/out.txt"}, "cannot write --output {tmp}/no/such/dir/out.txt"),
    ({"output": "{tmp}"}, "cannot write --output {tmp}: it is a directory"),
    ({"oracle_length": "maybe"}, "--oracle_length"),
    ({"coverage_penalty": "-0.2", "beam_size": 3}, "--coverage_penalty=-0.2"),
    ({"coverage_penalty": "nan", "beam_size": 3}, "--coverage_penalty must be a finite number"),
    ({"ensemble": "geometric"}, "--ensemble=geometric"),
    ({"ensemble": "linear"}, "--ensemble=linear combines several runs; --workdir names one run"),
    ({"n_best": 0}, "--n_best=0"),
    ({"n_best": 3}, "--n_best=3 is out of range; allowed: at most --beam_size=1"),
    ({"output_format": "xml"}, "--output_format=xml"),
    ({"with_attention": "true"}, "--with_attention needs --output_format=jsonl"),
    ({"attention_npz": "{tmp}/in.txt"}, "--attention_npz={tmp}/in.txt is a file"),
    ({"score_pairs": "true", "beam_size": 2}, "--beam_size does not apply to --score_pairs"),
    ({"score_pairs": "true"}, "line 1 has no tab; allowed: source<TAB>target"),
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
    ({"alpha": "nan", "beam_size": 2}, "--alpha must be a finite number from 0 to 10"),
    ({"beam_size": -1}, "--beam_size=-1"),
    ({"data_dir": "{tmp}/file"}, "data directory {tmp}/file is a file"),
    ({"oracle_length": "maybe"}, "--oracle_length"),
    ({"ablation": "random"}, "--ablation=random"),
    ({"coverage_penalty": "inf", "beam_size": 2}, "--coverage_penalty must be a finite number"),
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


@pytest.mark.parametrize(
  "flag_values, fragment",
  [
    (
      {"workdir": "{run},{run}"},
      "--workdir names 2 runs: an ensemble's results need --results_dir",
    ),
    ({"workdir": "{run},{run}", "results_dir": "{run}"}, "--results_dir={run} is a run's workdir"),
    ({"ensemble": "linear"}, "--ensemble=linear combines several runs"),
  ],
)
def test_evaluate_bad_ensemble_is_one_line_naming_it(
  flag_values, fragment, unchanged, tmp_path, capsys, monkeypatch
):
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir_of(unchanged))
  flag_values = {"workdir": "{run}", **flag_values}
  flag_values = {k: v.format(run=unchanged, tmp=tmp_path) for k, v in flag_values.items()}
  code, _, err = call_main(evaluate, capsys, **flag_values)
  assert code == 1
  assert_one_error_line(err, fragment.format(run=unchanged, tmp=tmp_path))
  assert not (tmp_path / "r").exists()


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


# -- read-only inputs ---------------------------------------------------------------------------


def test_evaluate_on_a_read_only_run_refuses_before_decoding_or_writes_to_results_dir(
  run, tmp_path, capsys, monkeypatch
):
  """Nothing can be written into a read-only run: said before the split is decoded (the
  metrics would be lost after it), and `--results_dir` takes the metrics elsewhere; the read-only
  dataset directory, already prepared, needs no lock."""
  monkeypatch.setenv("TFDS_DATA_DIR", data_dir_of(run))
  with read_only_mount(run) as frozen, read_only_mount(Path(data_dir_of(run))) as data_dir:
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    before = digest(frozen)
    code, out, err = call_main(evaluate, capsys, workdir=frozen, split="validation")
    assert code == 1 and not out
    assert_one_error_line(err, f"cannot write in {frozen}", "--results_dir=DIR")
    code, out, err = call_main(
      evaluate, capsys, workdir=frozen, split="validation", results_dir=tmp_path / "elsewhere"
    )
    assert code == 0, err
    assert digest(frozen) == before
  results = json.loads((tmp_path / "elsewhere" / RESULTS_FILE).read_text())
  assert (
    results["validation"]["count"]
    == json.loads((run / RESULTS_FILE).read_text())["validation"]["count"]
  )


def test_translate_output_on_a_full_disk_is_one_line_and_leaves_the_old_file(run, tmp_path, capsys):
  """Translate writes --output through a temporary file renamed at the end: a disk that fills
  up midway leaves the previous output whole and no partial file."""
  vocab_line = " ".join(str(i) for i in range(4, 16))
  source = write_lines(tmp_path / "in.txt", [vocab_line] * 400)
  with small_disk(tmp_path / "disk", "8k") as disk:
    (disk / "out.txt").write_text("the previous output\n")
    code, _, err = call_main(translate, capsys, workdir=run, input=source, output=disk / "out.txt")
    assert code == 1
    assert_one_error_line(err, f"cannot write --output {disk / 'out.txt'}: No space left")
    assert [p.name for p in disk.iterdir()] == ["out.txt"]
    assert (disk / "out.txt").read_text() == "the previous output\n"


# -- Ctrl-C ---------------------------------------------------------------------------------------


def interrupted(process: subprocess.Popen) -> str:
  """Sends `process` SIGINT (Ctrl-C); asserts it ends with status 130 and one stderr line,
  `interrupted`; returns its stdout."""
  process.send_signal(signal.SIGINT)
  out, err = process.communicate(timeout=60)
  assert process.returncode == 130, err
  assert err.strip() == "interrupted", err
  return out


def test_ctrl_c_in_interactive_translate_is_one_line_and_status_130(unchanged):
  translator = subprocess.Popen(
    [sys.executable, "-m", "attn_seq2seq.translate", f"--workdir={unchanged}", "--batch_size=1"],
    cwd=ROOT,
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env={**os.environ, "JAX_PLATFORMS": "cpu"},
  )
  translator.stdin.write("4 5 6\n")
  translator.stdin.flush()
  assert translator.stdout.readline()  # translated: now waiting for the next line
  interrupted(translator)


def test_ctrl_c_while_evaluate_starts_is_one_line_and_status_130(unchanged):
  evaluator = subprocess.Popen(
    [sys.executable, "-m", "attn_seq2seq.evaluate", f"--workdir={unchanged}"],
    cwd=ROOT,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env={**os.environ, "JAX_PLATFORMS": "cpu", "TFDS_DATA_DIR": data_dir_of(unchanged)},
  )
  time.sleep(1.0)  # importing JAX: where a Ctrl-C used to be swallowed by JAX's gc callback
  assert not interrupted(evaluator)


def test_ctrl_c_while_evaluate_decodes_is_one_line_and_writes_nothing(run, tmp_path):
  """The Ctrl-C lands while the split is evaluated (the dataset is loaded: TFDS's one warning
  line; compiling and decoding take about 2 s after it on an idle machine): one more line,
  `interrupted`, status 130, and the run is unchanged (every file; no new file or directory).

  A test process starved of CPU by the other xdist worker can send the Ctrl-C only after the
  evaluation has ended: the results are on stdout then, and the interpreter's teardown, where
  SIGINT is no longer Python's, ends with status -2. That attempt proves nothing, so the test
  tries again on a fresh copy of the run (at most 3 times)."""
  for attempt in range(3):
    workdir = tmp_path / f"attempt_{attempt}"
    shutil.copytree(run, workdir)
    before = digest(workdir), sorted(workdir.rglob("*"))
    evaluator = subprocess.Popen(
      [sys.executable, "-m", "attn_seq2seq.evaluate", f"--workdir={workdir}", "--split=test_long"],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
      env={**os.environ, "JAX_PLATFORMS": "cpu", "TFDS_DATA_DIR": data_dir_of(workdir)},
    )
    loaded = evaluator.stderr.readline()  # blocks until the dataset is loaded
    assert "Using custom data configuration" in loaded, loaded
    time.sleep(0.5)  # into the evaluation: building the evaluator, compiling, decoding
    assert evaluator.poll() is None
    evaluator.send_signal(signal.SIGINT)
    out, err = evaluator.communicate(timeout=60)
    if out and evaluator.returncode in (0, -signal.SIGINT):
      continue  # the evaluation had ended before the Ctrl-C (see the docstring)
    # Exiting through the interpreter's finalisation while XLA still decoded crashed the process
    # after the line (SIGSEGV, 2 in 14); `cli.user_errors` now ends it at once.
    assert evaluator.returncode == 130 and err == "interrupted\n", (evaluator.returncode, err)
    assert not out
    assert (digest(workdir), sorted(workdir.rglob("*"))) == before
    return
  pytest.fail("the evaluation ended before the Ctrl-C in 3 attempts")


@pytest.mark.parametrize("stop", ["ctrl_c", "kill"])
def test_ctrl_c_while_reproduce_trains_is_one_line_and_the_re_run_resumes(stop, run, tmp_path):
  """Ctrl-C from a terminal (SIGINT to reproduce.py's process group), or `kill PID` (SIGTERM to
  reproduce.py alone), while its sweep trains a run: one `interrupted` line on stderr, status 130,
  and when it returns the run is stopped with a complete checkpoint and its lock released
  (reproduce.py waits for the sweep to stop it; killed, it must not leave the sweep training on
  its own). After Ctrl-C, the same command resumes the run from that checkpoint and finishes it;
  `--only` keeps the test to one of the 6 runs of scorers:quick, so the report is then refused,
  in one line, for the others.
  """
  root, name = tmp_path / "root", "luong_dot_h16_lr0.001_s0"
  command = [
    sys.executable,
    "scripts/reproduce.py",
    "scorers",
    "--preset=quick",
    f"--root={root}",
    f"--out={tmp_path / 'report'}",
    "--",
    "--only=luong_dot_",
  ]
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "TFDS_DATA_DIR": data_dir_of(run)}
  reproduce = subprocess.Popen(
    command,
    cwd=ROOT,
    env=env,
    text=True,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    start_new_session=True,  # its own process group, as a terminal's foreground job
  )
  log = root / name / "log.txt"
  deadline = time.monotonic() + 120
  while not (log.exists() and "training algorithmic" in log.read_text()):
    assert reproduce.poll() is None and time.monotonic() < deadline, reproduce.communicate()
    time.sleep(0.05)
  if stop == "ctrl_c":
    os.killpg(reproduce.pid, signal.SIGINT)
  else:
    reproduce.terminate()
  out, err = reproduce.communicate(timeout=120)
  assert reproduce.returncode == 130, err
  assert err.strip() == "interrupted", err
  assert f"{name} (stopped)" in out
  assert checkpoint_steps(root / name) and (root / name / "lock").read_text() == ""
  if stop == "kill":
    return
  resumed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert "1/1 runs finished" in resumed.stdout, resumed.stderr[-3000:]
  assert "resumed from step" in log.read_text()
  assert (root / name / RESULTS_FILE).exists()
  assert resumed.returncode == 1
  assert_one_error_line(resumed.stderr, "5 unfinished run(s)", "finish the sweep")


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
  loaded = load_run(quick_reverse_run)
  params = jax.tree.map(lambda x: x * np.nan, loaded.params)
  src_ids, src_lengths = np.full((2, 5), 5, np.int32), np.array([5, 3], np.int32)
  spec = search.SearchSpec(beam_size=2, alpha=0.6, max_len_a=1.0, max_len_b=2.0)
  out = search.decode(loaded.model, {"params": params}, src_ids, src_lengths, spec)
  assert int(out.steps) <= 7  # max_steps = ceil(1.0 * 5 + 2)
  with pytest.raises(ValueError, match=r"alpha=nan is out of range"):
    search.SearchSpec(beam_size=2, alpha=float("nan"))
