r"""Double Ctrl-C during training, tried many times: each try must leave a complete checkpoint
and resume exactly.

    python scripts/check_interrupts.py [--tries=20] [--seed=0] [--work=DIR]

Trains one uninterrupted reference run of `configs/reverse.py:short,quick` (a tiny model, a
checkpoint every few steps), then, for each try, starts the same run with the real trainer CLI,
waits for its first checkpoint, sends SIGINT, waits a random 0-300 ms (landing in or around the
stop checkpoint's save) and sends SIGINT again. Each try must end with the trainer's own exit
(status 1, "stopped before the end of training"), no traceback, no
`<step>.orbax-checkpoint-tmp` left, and a checkpoint at a later step than the first; re-running
the same command must then finish with the reference's results.json (less its clock readings)
and its metrics.jsonl train records (less clock readings) at every step the reference logged,
but the one whose interval the stop cut (it averages only the steps after the resume). Prints one
line per try and a summary; exits non-zero if any try fails. `tests/test_workdir.py` runs one.
"""

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere, as a file

from attn_seq2seq import cli  # noqa: E402
from attn_seq2seq.run_files import CHECKPOINTS_DIR, METRICS_FILE, RESULTS_FILE  # noqa: E402

FLAGS = cli.script_flags(__name__)
_TRIES = flags.DEFINE_integer("tries", 20, "Double Ctrl-C tries.", lower_bound=1, flag_values=FLAGS)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the delays.", flag_values=FLAGS)
_WORK = flags.DEFINE_string(
  "work", None, "Directory for the runs (default: a temporary one, removed).", flag_values=FLAGS
)

STEPS = 240  # long enough that the signals land during training, short enough to resume quickly
TRAINING = [
  "--config=configs/reverse.py:short,quick",
  "--config.eval_every_steps=1000",
  "--config.num_attention_plots=0",
  f"--config.num_train_steps={STEPS}",
  "--config.checkpoint_every_steps=8",
  "--config.log_every_steps=8",
]
CLOCKS = ("train_seconds", "wall_seconds")
TIMEOUT = 300.0


@dataclasses.dataclass
class Try:
  """The outcome of one try: `problem` is None when it held."""

  number: int
  delay: float
  stopped_at: int | None = None
  problem: str | None = None


def main(argv: list[str]) -> int:
  cli.flags_only(argv)
  work = Path(_WORK.value or tempfile.mkdtemp(prefix="check_interrupts_"))
  work.mkdir(parents=True, exist_ok=True)
  common = [f"--config.data.data_dir={work / 'tfds'}", f"--compilation_cache={work / 'cache'}"]
  try:
    reference = work / "reference"
    done = _trainer(reference, common, subprocess.PIPE)
    _, err = done.communicate(timeout=TIMEOUT)
    if done.returncode != 0:
      sys.exit(f"error: the reference run failed:\n{err[-2000:]}")
    rng = random.Random(_SEED.value)
    tries = [
      run_try(n, rng.uniform(0.0, 0.3), work, common, reference) for n in range(_TRIES.value)
    ]
  finally:
    if _WORK.value is None:
      shutil.rmtree(work, ignore_errors=True)
  failed = [t for t in tries if t.problem]
  print(
    f"{len(tries) - len(failed)}/{len(tries)} tries left a complete checkpoint and resumed exactly"
  )
  return 1 if failed else 0


def run_try(number: int, delay: float, work: Path, common: list[str], reference: Path) -> Try:
  """One double Ctrl-C try in its own workdir (see the module docstring); prints its line."""
  outcome = Try(number, delay)
  workdir = work / f"try_{number:02d}"
  log = work / f"try_{number:02d}.log"
  with open(log, "w") as out:
    trainer = _trainer(workdir, common, out)
    outcome.problem = _interrupt(trainer, workdir, delay)
  text = log.read_text()
  steps = checkpoint_steps(workdir)
  outcome.stopped_at = steps[-1] if steps else None
  if outcome.problem is None:
    outcome.problem = _check_stop(trainer.returncode, text, workdir)
  if outcome.problem is None:
    resumed = _trainer(workdir, common, subprocess.PIPE)
    _, err = resumed.communicate(timeout=TIMEOUT)
    outcome.problem = _check_resume(resumed.returncode, err, workdir, reference, outcome.stopped_at)
  status = "ok" if outcome.problem is None else f"FAILED: {outcome.problem}"
  print(
    f"try {number:2d}: second SIGINT {delay * 1000:3.0f} ms after the first, "
    f"stopped at step {outcome.stopped_at}: {status}",
    flush=True,
  )
  return outcome


def _trainer(workdir: Path, common: list[str], out) -> subprocess.Popen:
  return subprocess.Popen(
    [sys.executable, "-m", "attn_seq2seq.main", f"--workdir={workdir}", *TRAINING, *common],
    cwd=REPO,
    env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
    stdout=subprocess.DEVNULL if out is subprocess.PIPE else out,
    stderr=subprocess.PIPE if out is subprocess.PIPE else subprocess.STDOUT,
    text=True,
  )


def _interrupt(trainer: subprocess.Popen, workdir: Path, delay: float) -> str | None:
  """Waits for the first checkpoint, then Ctrl-C twice `delay` s apart; waits for the exit."""
  deadline = time.monotonic() + TIMEOUT
  while not checkpoint_steps(workdir):
    if trainer.poll() is not None:
      return f"the trainer ended (status {trainer.returncode}) before its first checkpoint"
    if time.monotonic() > deadline:
      trainer.kill()
      return "no checkpoint in time"
    time.sleep(0.01)
  trainer.send_signal(signal.SIGINT)
  time.sleep(delay)
  trainer.send_signal(signal.SIGINT)
  try:
    trainer.wait(timeout=TIMEOUT)
  except subprocess.TimeoutExpired:
    trainer.kill()
    trainer.wait()
    return f"hang: still running {TIMEOUT:.0f} s after the second SIGINT"
  return None


def _check_stop(status: int, log: str, workdir: Path) -> str | None:
  leftovers = [p.name for p in (workdir / CHECKPOINTS_DIR).iterdir() if not p.name.isdigit()]
  if "Traceback" in log or "Exception ignored" in log:
    return "a traceback in the trainer's output"
  if leftovers:
    return f"left {', '.join(leftovers)}"
  if status != 1 or "stopped before the end of training" not in log:
    return f"exit status {status}, not the stop's 1:\n{log[-1500:]}"
  if (workdir / RESULTS_FILE).exists():
    return "the run finished before the signals (raise STEPS)"
  return None


def _check_resume(
  status: int, err: str, workdir: Path, reference: Path, stopped_at: int
) -> str | None:
  if status != 0 or "Traceback" in err:
    return f"the resumed run failed (status {status}):\n{err[-1500:]}"
  results, expected = (_read(d / RESULTS_FILE) for d in (workdir, reference))
  if _less(results, CLOCKS) != _less(expected, CLOCKS):
    return "results.json differs from the uninterrupted run's"
  # The train record of the interval the stop cut averages only the steps after the resume.
  got = {r["step"]: r for r in _records(workdir) if "train/loss" in r}
  cut = min((s for s in got if s > stopped_at), default=None)
  for record in _records(reference):
    step = record["step"]
    if "train/loss" in record and step != cut and _loop(got.get(step, {})) != _loop(record):
      return f"metrics.jsonl's step {step} differs from the uninterrupted run's"
  return None


def _less(record: dict, keys: tuple[str, ...]) -> dict:
  return {k: v for k, v in record.items() if k not in keys}


def checkpoint_steps(workdir: Path) -> list[int]:
  """The complete checkpoints (orbax renames `<step>.orbax-checkpoint-tmp` to `<step>`)."""
  directory = workdir / CHECKPOINTS_DIR
  return (
    sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    if directory.is_dir()
    else []
  )


def _read(path: Path) -> dict:
  return json.loads(path.read_text())


def _records(workdir: Path) -> list[dict]:
  return [json.loads(line) for line in (workdir / METRICS_FILE).read_text().splitlines()]


def _loop(record: dict) -> dict:
  """A train record less its clock readings."""
  return {k: v for k, v in record.items() if not k.endswith("_per_sec") and k != "train/seconds"}


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
