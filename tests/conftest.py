"""Test-wide setup, before JAX is imported anywhere.

* 4 fake CPU devices, so data-parallel invariants ("4 devices equal 1 device") run on one machine.
* XLA's backend optimisation level 0: the suite is dominated by compiling many tiny models, and
  this cuts compile time by about 2.5x. Tests check invariants, never speed.
* One OpenBLAS thread: NumPy's QR (orthogonal initialisers) otherwise contends with XLA's threads
  and the pytest-xdist workers, and sometimes takes seconds instead of milliseconds.
* The runs the tests start as subprocesses (`attn_seq2seq.main`, sweeps, Ray tasks) use a
  throwaway compilation cache, never the user's ~/.cache/attn_seq2seq/jax (set after JAX's
  import, so the tests' own process compiles without one).
* `start_trainer` runs the real trainer CLI in a subprocess, for the tests that kill it.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
).strip()

import jax

jax.config.update("jax_num_cpu_devices", 4)

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="attn_seq2seq_jax_cache_")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)


import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def quick_reverse_run(tmp_path_factory) -> Path:
  """The workdir of a trained `configs/reverse.py:short,quick` run (a few steps of a tiny model),
  shared by the tests of the tools that read trained runs. Tests that change it copy it first."""
  from attn_seq2seq.training import train  # noqa: PLC0415

  sys.path.insert(0, str(ROOT))
  try:
    from configs import reverse  # noqa: PLC0415
  finally:
    sys.path.pop(0)
  config = reverse.get_config("short,quick")
  config.data.data_dir = str(tmp_path_factory.mktemp("tfds"))
  config.eval_every_steps = 100  # no evaluation before the final one
  config.num_attention_plots = 0
  workdir = tmp_path_factory.mktemp("run")
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="session")
def quick_reverse_config() -> Callable[..., object]:
  """`quick_reverse_config(data_dir, steps=3) -> config`: `configs/reverse.py:short,quick`
  trained for `steps` steps with no evaluation before the final one and no attention plots, its
  data in `data_dir`: the tiny run that checks that a model or data option trains end to end."""

  def make(data_dir: Path, steps: int = 3):
    sys.path.insert(0, str(ROOT))
    try:
      from configs import reverse  # noqa: PLC0415  (configs/ is not a package on the path)
    finally:
      sys.path.pop(0)
    config = reverse.get_config("short,quick")
    config.data.data_dir = str(data_dir)
    config.num_train_steps, config.eval_every_steps, config.num_attention_plots = steps, 100, 0
    return config

  return make


@pytest.fixture
def quick_config(tmp_path, quick_reverse_config):
  """`quick_config(**model) -> config`: `quick_reverse_config` with these `model` fields."""

  def make(**model):
    config = quick_reverse_config(tmp_path / "tfds")
    config.model.update(model)
    return config

  return make


class Trainer:
  """`python -m attn_seq2seq.main --workdir=WORKDIR FLAGS...` running in a subprocess, as a user
  starts it, on the tests' 4 fake CPU devices and XLA flags; its log (stdout and stderr) goes to
  `log_path`. `args` and `env` repeat the same command."""

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
    """The complete checkpoints in the workdir: orbax writes a step into a temporary directory
    and renames it to `checkpoints/<step>` once every item of it is written."""
    directory = self.workdir / "checkpoints"
    steps = (
      [int(p.name) for p in directory.iterdir() if p.name.isdigit()] if (directory.is_dir()) else []
    )
    return sorted(steps)

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


@pytest.fixture
def start_trainer(tmp_path) -> Callable[..., Trainer]:
  """`start_trainer(workdir, *flags, **overrides) -> Trainer`: starts the real trainer CLI on
  `workdir` with `flags` and `--config.<key>=<value>` for each override (a tuple joins with
  commas: `seeds=(0, 1, 2)` -> `--config.seeds=0,1,2`). Logs go to `tmp_path/trainer_<n>.log`;
  a trainer still running (or stopped) when the test ends is killed."""
  trainers = []

  def start(workdir: Path, *flags: str, **overrides) -> Trainer:
    flags = [
      *flags,
      *(
        f"--config.{key}=" + (",".join(map(str, value)) if isinstance(value, tuple) else str(value))
        for key, value in overrides.items()
      ),
    ]
    trainers.append(Trainer(Path(workdir), flags, tmp_path / f"trainer_{len(trainers)}.log"))
    return trainers[-1]

  yield start
  for trainer in trainers:
    if trainer.process.poll() is None:
      trainer.process.kill()
      trainer.process.wait()
