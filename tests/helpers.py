"""The plain helpers the tests share (their fixtures live in conftest.py); test modules import
them as `from helpers import ...` and never import each other.

* Files of the repository: `ROOT`, `load_module(path)`, `load_config(name, arg)`.
* Commands: `run_command(module, **flags)` runs a `python -m attn_seq2seq.<command>`'s main in
  this process; `load_script(name)` does the same for `scripts/<name>.py`; `run_python`,
  `run_script` and `run_main` run them as separate processes; `Trainer` is a trainer CLI in a
  subprocess, for the tests that kill it; `free_port()` for a cluster's coordinator;
  `start_ray_node` / `stop_ray_node`, one node of a real local Ray cluster.
* Bad input and text: `QUICK`, `assert_one_error_line`, `digest`, `data_dir_of`, `write_lines`,
  `random_sentences`, `read_only_mount`, `small_disk`.
* Run records: `read_json`, `metrics_records`, `without_timing`, `without_speed`,
  `checkpoint_steps`, `save_then_die`, `crash_after_first_checkpoint`.
* Models: `VOCAB`, `random_ids`, `init_variables`, `assert_outputs_ignore_padding`,
  `assert_every_parameter_has_a_gradient`, `assert_search_steps_reproduce_teacher_forcing`.
* Training steps: `fake_batch`, `SRC_VOCAB`, `TGT_VOCAB`, `tiny_config`,
  `assert_solo_run_equals_member`.
"""

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from unittest import mock

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from absl import flags
from absl.testing import flagsaver

from attn_seq2seq import cli
from attn_seq2seq.experiment_config import base_config
from attn_seq2seq.models import init_params
from attn_seq2seq.run_files import CHECKPOINTS_DIR, CONFIG_FILE, METRICS_FILE, RESULTS_FILE
from attn_seq2seq.training import members, train
from attn_seq2seq.training.checkpoint import Checkpointer

ROOT = Path(__file__).resolve().parents[1]  # the repository root
SCRIPTS = ROOT / "scripts"

# -- files of the repository ------------------------------------------------------------------


def load_module(path: Path) -> ModuleType:
  """The Python file `path` (a config, a sweep file, a script) imported as a fresh module, named
  for its folder and file (`configs_reverse`); it is not added to `sys.modules`."""
  path = Path(path)
  spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_config(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """`configs/<name>.py`'s `get_config(arg)`, e.g. `load_config("reverse", "short,quick")`."""
  return load_module(ROOT / "configs" / f"{name}.py").get_config(arg)


# -- commands ---------------------------------------------------------------------------------


def run_command(module: ModuleType, **flag_values) -> object:
  """`python -m attn_seq2seq.<command> --name=value ...` in this process: absl's flags back at
  their defaults, then parsed as the command line parses them (a bad one is a
  `SystemExit("error: ...")`), then the command's `main`; what `main` returns."""
  argv = [module.__name__, *(f"--{name}={value}" for name, value in flag_values.items())]
  with flagsaver.flagsaver():
    flags.FLAGS.unparse_flags()
    cli.parse_flags(argv)
    return module.main(argv[:1])


def free_port() -> int:
  """A TCP port on 127.0.0.1 that nothing listens on now (for a cluster's coordinator)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


RAY = Path(sys.executable).parent / "ray"


def start_ray_node(args: list[str], env: dict, temp_dir: str | None = None) -> subprocess.Popen:
  """`ray start --block ARGS` on 127.0.0.1 (a head with `--head --port=P`, a worker node with
  `--address=127.0.0.1:P`), no dashboard, GPUs or usage stats, its own process group; returns
  once the node is up (fails the test, quoting its output, if it exits first)."""
  node = subprocess.Popen(
    [
      str(RAY),
      "start",
      "--block",
      "--node-ip-address=127.0.0.1",
      "--num-gpus=0",
      "--disable-usage-stats",
      "--object-store-memory=100000000",
      *(["--include-dashboard=false"] if "--head" in args else []),
      *([f"--temp-dir={temp_dir}"] if temp_dir else []),
      *args,
    ],
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    start_new_session=True,
  )  # its own process group: stopped as one by stop_ray_node
  output = []
  for line in node.stdout:  # until the node is up
    output.append(line)
    if "Ray runtime started" in line:
      return node
  stop_ray_node(node)
  pytest.fail("ray start exited:\n" + "".join(output))


def stop_ray_node(node: subprocess.Popen, grace: float = 5.0) -> None:
  """SIGTERM to `ray start --block` (it stops the raylet and workers it started), then SIGKILL to
  whatever is left of its process group."""
  node.terminate()
  with contextlib.suppress(subprocess.TimeoutExpired):
    node.wait(timeout=grace)
  with contextlib.suppress(ProcessLookupError):
    os.killpg(node.pid, signal.SIGKILL)
  node.wait()
  node.stdout.close()


def load_script(name: str) -> Callable[[list[str]], int]:
  """`scripts/<name>.py`'s main as a function of its command-line arguments (no program name).

  Each call parses the arguments with `cli.parse_flags` (a bad one is a `SystemExit("error:
  ...")`, as on the command line) into the script's own FlagValues (imported, a script keeps its
  flags apart from every other entry point's; see `cli.script_flags`), with `sys.argv` set to
  that command line (what the script records as its command), and returns what `main` returns.
  """
  module = load_module(SCRIPTS / f"{name}.py")

  def main(args: list[str]) -> int:
    argv = [f"scripts/{name}.py", *args]
    module.FLAGS.unparse_flags()  # every call starts from the defaults, as a new process would
    with mock.patch.object(sys, "argv", argv):
      return module.main(cli.parse_flags(argv, module.FLAGS))

  return main


def run_python(
  *args: str, env: dict | None = None, timeout: int = 120, **kwargs
) -> subprocess.CompletedProcess:
  """`python ARGS` as its own process, from the repository root, on CPU, its output captured
  (as text unless `text=False`); `env` adds to this process's environment."""
  return subprocess.run(
    [sys.executable, *args],
    cwd=ROOT,
    capture_output=True,
    timeout=timeout,
    env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
    **{"text": True, **kwargs},
  )


def run_script(name: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
  """`python scripts/<name>.py ARGS` as its own process (see `run_python`)."""
  return run_python(f"scripts/{name}.py", *args, timeout=timeout)


def run_main(args: list[str], env: dict | None = None, timeout: int = 180):
  """`python -m attn_seq2seq.main ARGS` as its own process (see `run_python`)."""
  return run_python("-m", "attn_seq2seq.main", *args, env=env, timeout=timeout)


class Trainer:
  """`python -m attn_seq2seq.main --workdir=WORKDIR FLAGS...` running in a subprocess, as a user
  starts it, on the tests' 4 fake CPU devices and XLA flags; its log (stdout and stderr) goes to
  `log_path`. `args` and `env` repeat the same command (conftest's `start_trainer` starts one)."""

  def __init__(self, workdir: Path, flags: list[str], log_path: Path):
    self.workdir, self.log_path = workdir, log_path
    self.args = [sys.executable, "-m", "attn_seq2seq.main", f"--workdir={workdir}", *flags]
    self.env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "4"}
    with open(log_path, "w") as log:
      self.process = subprocess.Popen(
        self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
      )

  @property
  def pid(self) -> int:
    return self.process.pid

  def log(self) -> str:
    return self.log_path.read_text()

  def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Polls `condition()` every 20 ms until it holds; fails, naming `what` and quoting the end
    of the log, if the trainer ends first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
      status = self.process.poll()
      assert status is None, f"trainer ended (status {status}) before {what}:\n{self.log()[-3000:]}"
      assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s:\n{self.log()[-3000:]}"
      time.sleep(0.02)

  def checkpoint_steps(self) -> list[int]:
    """The complete checkpoints in the workdir (see `checkpoint_steps`)."""
    return checkpoint_steps(self.workdir)

  def wait_for_checkpoint(self, timeout: float = 120.0) -> int:
    """Waits until the run's first checkpoint is complete on disk; returns its step."""
    self.wait_until(lambda: bool(self.checkpoint_steps()), "a complete checkpoint", timeout)
    return self.checkpoint_steps()[0]

  def sigkill(self) -> None:
    """Kills the trainer with SIGKILL and reaps it; fails if it had ended on its own first."""
    self.process.send_signal(signal.SIGKILL)  # nothing if it has already been reaped
    status = self.process.wait()
    assert status == -signal.SIGKILL, (
      f"trainer ended on its own (status {status}) before the SIGKILL:\n{self.log()[-3000:]}"
    )

  def wait(self, timeout: float = 300.0) -> None:
    """Waits for the trainer to finish; fails, quoting the end of its log, unless it succeeds."""
    status = self.process.wait(timeout=timeout)
    assert status == 0, f"trainer failed (status {status}):\n{self.log()[-3000:]}"


# -- bad input (tests/test_bad_input*.py) and input text -------------------------------------
# Each case runs one command (`attn_seq2seq.main` and `scripts/benchmark.py` as subprocesses;
# `translate`, `evaluate` and `scripts/run_sweep.py` through their `main` in-process) and asserts:
# the exit status; exactly one line on stderr (`error: ...`, naming the bad value); no traceback;
# and that no file of an existing run changed (hashes of every file before and after). The
# existing run is the session's trained `reverse:short,quick` run, copied per module (conftest's
# `run` and `unchanged`).

QUICK = [
  "--config=configs/reverse.py:short,quick",
  "--config.eval_every_steps=100",
  "--config.num_attention_plots=0",
]  # the config of conftest's quick_reverse_run


def assert_one_error_line(stderr: str, *fragments: str) -> str:
  """Asserts that `stderr` is one `error: ...` line holding every fragment, with no traceback;
  returns the line."""
  lines = [line for line in stderr.splitlines() if line.strip()]
  assert len(lines) == 1, stderr
  assert lines[0].startswith("error: "), stderr
  assert "Traceback" not in stderr and "Exception ignored" not in stderr
  for fragment in fragments:
    assert fragment in lines[0], (fragment, lines[0])
  return lines[0]


def digest(directory: Path) -> dict[str, str]:
  """Relative path -> sha256 of every file under `directory`."""
  return {
    str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in sorted(directory.rglob("*"))
    if p.is_file()
  }


def data_dir_of(run: Path) -> str:
  """The data directory recorded in the config.json of the run in `run`."""
  return read_json(run / CONFIG_FILE)["config"]["data"]["data_dir"]


def write_lines(path: Path, lines: list[str]) -> Path:
  """Writes `lines` to `path` as UTF-8, each ended by a newline; returns `path`."""
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return path


def random_sentences(vocab, count: int, seed: int, empty: tuple[int, ...] = ()) -> list[str]:
  """`count` lines of 1-12 random in-vocabulary symbols of `vocab` (ids 4 and up), the lines
  numbered in `empty` (from 1) left empty."""
  symbols = vocab.tokens(range(4, vocab.size))
  rng = np.random.default_rng(seed)
  lines = [" ".join(rng.choice(symbols, rng.integers(1, 13))) for _ in range(count)]
  for number in empty:
    lines[number - 1] = ""
  return lines


@contextlib.contextmanager
def read_only_mount(directory: Path) -> Iterator[Path]:
  """`directory` seen through a read-only bind mount (a new path beside it) for the block, as a
  read-only disk or share shows it; skips the test (saying why) unless it runs as root, since a
  permission bit does not stop root, and needs `mount`."""
  if os.geteuid() != 0 or shutil.which("mount") is None:
    pytest.skip("a read-only mount needs root and mount(8); chmod does not stop root")
  target = Path(f"{directory}.read_only")
  target.mkdir()
  subprocess.run(["mount", "--bind", str(directory), str(target)], check=True)
  try:
    subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
    yield target
  finally:
    subprocess.run(["umount", str(target)], check=True)
    target.rmdir()


@contextlib.contextmanager
def small_disk(directory: Path, size: str) -> Iterator[Path]:
  """A tmpfs of `size` (e.g. "600k") mounted on `directory` (created) for the block: a disk that
  fills up. Skips the test (saying why) unless it runs as root with mount(8)."""
  if os.geteuid() != 0 or shutil.which("mount") is None:
    pytest.skip("a full disk is a small tmpfs, which needs root and mount(8)")
  directory.mkdir(parents=True, exist_ok=True)
  mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)]
  subprocess.run(mount, check=True)
  try:
    yield directory
  finally:
    subprocess.run(["umount", str(directory)], check=True)


# -- run records --------------------------------------------------------------------------------

TIMINGS = ("train_seconds", "wall_seconds")  # results.json entries that are clock readings


def read_json(path: Path) -> dict:
  return json.loads(Path(path).read_text())


def metrics_records(workdir: Path) -> list[dict]:
  """The records of the run's metrics.jsonl, in order."""
  return [json.loads(line) for line in (Path(workdir) / METRICS_FILE).read_text().splitlines()]


def without_timing(results: dict) -> dict:
  """`results` less its clock readings: what an interrupted run must reproduce exactly."""
  return {k: v for k, v in results.items() if k not in TIMINGS}


def without_speed(records: list[dict]) -> list[dict]:
  """metrics.jsonl records less their clock readings (speeds, cumulative training seconds)."""
  return [
    {k: v for k, v in record.items() if not k.endswith("_per_sec") and k != "train/seconds"}
    for record in records
  ]


def checkpoint_steps(workdir: Path) -> list[int]:
  """The complete checkpoints in `workdir`: orbax writes a step into a temporary directory and
  renames it to `checkpoints/<step>` once every item of it is written."""
  directory = Path(workdir) / CHECKPOINTS_DIR
  return (
    sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    if (directory.is_dir())
    else []
  )


def save_then_die(step: int | None = None):
  """A `Checkpointer.save` that dies (as a SIGKILLed trainer would) once `step` (None: the first
  step saved) is on disk: nothing after that checkpoint is written."""
  original = Checkpointer.save

  def save(self, saved_step, state, data_state):
    original(self, saved_step, state, data_state)
    if step is None or saved_step == step:
      self.wait()
      raise SystemExit("killed")

  return save


def crash_after_first_checkpoint(config, workdir: Path, monkeypatch) -> None:
  """Trains `config` in `workdir` until its first checkpoint is on disk, then dies there, as a
  killed process would: nothing after that checkpoint is written."""
  monkeypatch.setattr(Checkpointer, "save", save_then_die())
  with pytest.raises(SystemExit, match="killed"):
    train.train_and_evaluate(config, workdir)
  assert not (workdir / RESULTS_FILE).exists()
  monkeypatch.undo()


# -- models (the whole-model invariants every model option keeps) --------------------------------

VOCAB = 11  # source and target vocabulary of the tiny models


def random_ids(rng: np.random.Generator, shape, vocab: int = VOCAB) -> np.ndarray:
  """Random token ids of `shape`, none of them special (4 <= id < vocab)."""
  return rng.integers(4, vocab, size=shape).astype(np.int32)


def init_variables(model) -> dict:
  """`{"params": ...}` of `model` initialised with key 0."""
  return {"params": init_params(model, jax.random.key(0))}


def assert_outputs_ignore_padding(
  model, variables, rng, src_len: int = 5, tgt_len: int = 4, tgt_pad: int = 7
) -> jax.Array:
  """Asserts that a random pair of `src_len` / `tgt_len` tokens gets the same logits and
  attention alone and as row 1 of a batch, padded with random ids (not just PAD) to 9 / `tgt_pad`
  between longer neighbours, and that no attention falls on its padding; returns the batch's
  attention [3, tgt_pad, 9]."""
  apply = jax.jit(lambda *batch: model.apply(variables, *batch))
  src, tgt = random_ids(rng, (src_len,)), random_ids(rng, (tgt_len,))
  logits, attn = apply(src[None], jnp.array([src_len]), tgt[None])
  src_batch, tgt_batch = random_ids(rng, (3, 9)), random_ids(rng, (3, tgt_pad))
  src_batch[1, :src_len], tgt_batch[1, :tgt_len] = src, tgt
  batch_logits, batch_attn = apply(src_batch, jnp.array([9, src_len, 7]), tgt_batch)
  np.testing.assert_allclose(batch_logits[1, :tgt_len], logits[0], atol=1e-6)
  np.testing.assert_allclose(batch_attn[1, :tgt_len, :src_len], attn[0], atol=1e-6)
  np.testing.assert_array_equal(batch_attn[1, :, src_len:], 0.0)
  return batch_attn


def assert_every_parameter_has_a_gradient(grads) -> None:
  """Asserts that no leaf of the gradient tree `grads` is zero everywhere, naming those that are."""
  dead = [
    jax.tree_util.keystr(path)
    for path, g in jax.tree_util.tree_leaves_with_path(grads)
    if not np.any(np.asarray(g) != 0)
  ]
  assert not dead, f"parameters without gradient: {dead}"


def assert_search_steps_reproduce_teacher_forcing(model, variables, src, src_lengths, tgt):
  """Asserts that decoding `tgt` step by step through `decode_step` gives the teacher-forced
  logits and attention; returns `(teacher-forced attention, the decoder carry after the last
  step)`."""
  logits, attn = model.apply(variables, src, src_lengths, tgt)
  encoded = model.apply(variables, src, src_lengths, method=model.encode)
  carry = model.apply(variables, encoded, method=model.initial_state)
  for t in range(tgt.shape[1]):
    carry, step_logits, step_attn = model.apply(
      variables, encoded, carry, tgt[:, t], method=model.decode_step
    )
    np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5)
    np.testing.assert_allclose(step_attn, attn[:, t], atol=1e-6)
  return attn, carry


# -- training steps ---------------------------------------------------------------------------

SRC_VOCAB, TGT_VOCAB = 13, 11  # the vocabularies of `fake_batch`


def fake_batch(seed: int = 0, batch: int = 8, src_len: int = 7, tgt_len: int = 6) -> dict:
  """A batch in the data pipeline's format: PAD=0, BOS=1, EOS=2, varied lengths."""
  rng = np.random.default_rng(seed)
  src_lengths = rng.integers(1, src_len + 1, batch).astype(np.int32)
  tgt_lengths = rng.integers(1, tgt_len + 1, batch).astype(np.int32)  # incl. EOS
  src_ids = np.where(
    np.arange(src_len) < src_lengths[:, None], rng.integers(4, SRC_VOCAB, (batch, src_len)), 0
  ).astype(np.int32)
  words = rng.integers(4, TGT_VOCAB, (batch, tgt_len))
  pos = np.arange(tgt_len)
  tgt_out = np.where(pos < tgt_lengths[:, None] - 1, words, 0)
  tgt_out = np.where(pos == tgt_lengths[:, None] - 1, 2, tgt_out).astype(np.int32)
  tgt_in = np.concatenate([np.ones((batch, 1), np.int32), tgt_out[:, :-1]], 1)
  tgt_in = np.where(pos < tgt_lengths[:, None], tgt_in, 0).astype(np.int32)
  return {
    "src_ids": src_ids,
    "src_lengths": src_lengths,
    "tgt_in": tgt_in,
    "tgt_out": tgt_out,
    "tgt_lengths": tgt_lengths,
    "example_ids": np.arange(batch, dtype=np.int32),
  }


def tiny_config(**overrides) -> ml_collections.ConfigDict:
  """The dates config with a 16-unit model, dropout 0.1, batch 8 and 20 steps, and `overrides`:
  what the step-level tests of stacked runs train on `fake_batch`es."""
  config = base_config("dates")
  config.model.update(embed_size=16, hidden_size=16, attention_size=16)
  config.update(dict(dropout=0.1, num_train_steps=20, batch_size=8), **overrides)
  return config


def assert_solo_run_equals_member(solo, seed: int, batches, losses, params, loss_rtol: float):
  """Trains the solo `TrainFunctions` `solo` with `seed` on `batches` and asserts that its loss
  at each step equals `losses[step]` and its final parameters `params`: those of one member of a
  stacked run trained on the same batches (float32 tolerance)."""
  state = solo.init(members.seed_keys(seed, 0))
  for step, batch in enumerate(batches):
    state, metrics = solo.train_step(state, batch, members.seed_keys(seed, 1))
    loss = float(metrics["loss"][0]) / float(metrics["loss"][1])
    np.testing.assert_allclose(losses[step], loss, rtol=loss_rtol, err_msg=f"step {step}")
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5),
    params,
    jax.device_get(state.params),
  )
