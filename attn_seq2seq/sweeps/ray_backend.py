r"""Sweeps on an existing Ray cluster: every run of a sweep as one Ray task.

    ray start --head                   # on the head node; others: ray start --address=HEAD:6379
    python scripts/run_sweep.py --sweep=experiments/scorers.py --root=/shared/runs/scorers \
        --backend=ray [--address=auto|HOST:PORT|ray://HOST:10001] [--cpus_per_run=1] \
        [--gpus_per_run=0] [--retries=2]

Each run is one task that asks Ray for `--cpus_per_run` CPUs and `--gpus_per_run` GPUs and runs
the local backend's command (`sweep.command`: `python -m attn_seq2seq.main --workdir=ROOT/<name>
--config=...`) as a subprocess, with this node's Python, in the driver's working directory (the
repository root: every node needs the project installed at the same path, or a shared
checkout). The trainer's output is appended to ROOT/<name>/log.txt, after a header line naming
the node, the pid and the attempt. Ray sets CUDA_VISIBLE_DEVICES for the task, the subprocess
inherits it, and the accelerator is free again when that process exits; the environment is the
one the node's `ray start` ran with (e.g. TFDS_DATA_DIR, JAX_COMPILATION_CACHE_DIR).

The same rules as the local backend: a run whose workdir holds results.json is never launched
again; a run that fails or is interrupted (a non-zero exit, a killed trainer, a lost worker or
node) is submitted again, at most `--retries` more times, and resumes from its latest checkpoint.
A progress line (runs done / running / waiting / failed, elapsed, ETA from the runs finished so
far) is printed when a run ends and every PROGRESS_SECONDS. Ctrl-C or SIGTERM cancels the tasks:
a running task sends its trainer SIGTERM (the trainer saves a checkpoint and exits) and the
driver waits for that; waiting tasks are dropped. If the driver dies outright, Ray ends its
tasks and kills their trainers (SIGKILL): those runs resume from their latest periodic checkpoint
at the next launch. If a worker dies on its own, the kernel sends its trainer SIGTERM (Linux
PR_SET_PDEATHSIG), which checkpoints and exits, so no trainer outlives its task.

ROOT must be a path every node mounts (NFS, or a bucket mounted with gcsfuse): the trainer
writes its workdir through the local filesystem (pathlib, flock), so `gs://` URLs are refused.

Why Ray Core tasks rather than Ray Tune trials: a run already is a complete, resumable program
with its own record (workdir, checkpoints, results.json) and the sweep already is a fixed list
with its own skip/resume rules. Tune would add a second record of the same runs (trial
directories, experiment state, its own checkpoint syncing and resume logic), run the trainable
inside a long-lived actor (JAX would hold the accelerator's memory until that process exits)
and a search/scheduling layer a fixed grid does not use. A task that runs the command in a
subprocess takes from Ray exactly what a sweep needs (resources per run, queueing, placement
over nodes, autoscaler demand) and keeps a run identical to a local one. The task is a
streaming generator: it yields once when its trainer has started (so the driver can tell
running from waiting runs) and once with the exit status.
"""

import datetime
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from attn_seq2seq.errors import UserError, one_line
from attn_seq2seq.run_files import LOG_FILE

DEFAULT_RETRIES = 2
PROGRESS_SECONDS = 30.0  # a progress line at least this often
_WAIT_SECONDS = 1.0

# Runs a command after asking the kernel to SIGTERM it when its parent, the Ray worker, dies
# (the trainer runs in its own session, out of reach of Ray's per-worker process-group cleanup):
# it then saves a checkpoint instead of training on unseen (Linux; elsewhere a no-op).
# argv: [expected parent pid, program, args...]. The Ray task runs on the worker's main thread,
# so "parent thread" (what the kernel watches) is the worker itself.
_LAUNCHER = """\
import ctypes, os, signal, sys
try:
  ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
  pass
if os.getppid() != int(sys.argv[1]):
  sys.exit("the Ray worker exited before the trainer started")
os.execv(sys.argv[2], sys.argv[2:])
"""


def train_run(args: list[str], workdir: str, cwd: str, attempt: int) -> Iterator[dict]:
  """The Ray task (a generator): runs `args` (a `sweep.command`, whose interpreter is replaced
  by this node's) in `cwd`, its output appended to `workdir`/log.txt.

  Yields `{"host", "pid"}` once the trainer has started, then `{"returncode"}`. Cancelled
  (`ray.cancel` raises KeyboardInterrupt here), it sends the trainer SIGTERM, waits for it to
  save its checkpoint and exit, and re-raises.
  """
  if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    # ray.cancel interrupts the task as SIGINT would (`_thread.interrupt_main`), which does
    # nothing while SIGINT is ignored, as it is under a `ray start` run with nohup or `&`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
  if not os.path.isdir(cwd):
    raise FileNotFoundError(
      f"{cwd} (the driver's working directory, where the configs are) "
      f"does not exist on {socket.gethostname()}"
    )
  args = [sys.executable, *args[1:]]
  os.makedirs(workdir, exist_ok=True)
  host = socket.gethostname()
  with open(os.path.join(workdir, LOG_FILE), "a") as log:
    process = subprocess.Popen(
      [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args],
      cwd=cwd,
      stdin=subprocess.DEVNULL,
      stdout=log,
      stderr=subprocess.STDOUT,
      start_new_session=True,
    )
    try:
      log.write(
        f"# {_now()} ray attempt {attempt} on {host}, pid {process.pid}: {shlex.join(args)}\n"
      )  # O_APPEND: whole lines, before the trainer's first
      log.flush()
      yield {"host": host, "pid": process.pid}
      returncode = _wait(process)
    except BaseException:  # KeyboardInterrupt from ray.cancel, or anything else: stop cleanly
      process.terminate()  # SIGTERM: the trainer saves a checkpoint and exits
      returncode = process.wait()
      log.write(f"# {_now()} cancelled; trainer exited with {returncode}\n")
      raise
    log.write(f"# {_now()} trainer exited with {returncode}\n")
  yield {"returncode": returncode}


def _wait(process: subprocess.Popen) -> int:
  """`process.wait()` in short slices, so a cancellation (an exception raised asynchronously in
  this thread) is delivered promptly."""
  while True:
    try:
      return process.wait(timeout=_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
      pass


def _now() -> str:
  return datetime.datetime.now().isoformat(timespec="seconds")


def check_root(root: str) -> str:
  """The absolute ROOT, or a one-line UserError for a URL (see the module docstring)."""
  text = str(root)
  if "://" in text:
    raise UserError(
      f"--root={text}: the ray backend needs a path every node mounts (NFS, a "
      "bucket mounted with gcsfuse); the trainer writes workdirs through the "
      "local filesystem, so URLs are not supported"
    )
  return os.path.abspath(text)


def launch(
  runs: list[dict],
  root: str,
  address: str = "auto",
  cpus_per_run: float = 1.0,
  gpus_per_run: float = 0.0,
  retries: int = DEFAULT_RETRIES,
  echo: Callable[[str], None] = print,
) -> dict[str, str]:
  """Trains every unfinished run of `runs` as a Ray task on the cluster at `address` (see the
  module docstring). Returns name -> status as `sweep.launch` does: 'finished' (already had
  results.json), 'done', 'failed (...)' after 1 + `retries` attempts, or 'stopped'; runs not
  started before a stop are absent. A bad argument or no cluster at `address` is a one-line
  `errors.UserError`.
  """
  from attn_seq2seq.sweeps import sweep  # noqa: PLC0415  (imports JAX: the driver side only)

  root = check_root(root)
  for name, value in (
    ("cpus_per_run", cpus_per_run),
    ("gpus_per_run", gpus_per_run),
    ("retries", retries),
  ):
    if value < 0:
      raise UserError(f"--{name}={value} must be >= 0")
  status = {
    run["name"]: "finished" for run in runs if sweep.is_finished(os.path.join(root, run["name"]))
  }
  queue = [run for run in runs if run["name"] not in status]
  echo(f"{len(runs)} runs: {len(status)} finished, {len(queue)} to run on the Ray cluster")
  if not queue:
    return status
  ray = _connect(address)
  try:
    task = ray.remote(train_run).options(
      num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0, num_returns="streaming"
    )
    _Driver(ray, task, root, os.getcwd(), retries, status, echo).run(queue)
  finally:
    ray.shutdown()
  return status


def _connect(address: str):
  try:
    import ray  # noqa: PLC0415  (optional: the ray extra)
  except ImportError:
    raise UserError("--backend=ray needs ray: pip install -e '.[ray]'") from None
  try:
    ray.init(
      address=address, log_to_driver=False, logging_level=logging.WARNING, configure_logging=False
    )
  except (ConnectionError, RuntimeError, ValueError) as e:
    raise UserError(
      f"--address={address}: cannot connect to a Ray cluster ({one_line(e)}); start one "
      "with `ray start --head`, or pass its HOST:PORT"
    ) from None
  return ray


class _Driver:
  """Submits the runs, follows their tasks, retries failures, prints progress, cancels."""

  def __init__(self, ray, task, root: str, cwd: str, retries: int, status: dict, echo):
    self._ray, self._task, self._root, self._cwd = ray, task, root, cwd
    self._retries, self._status, self._echo = retries, status, echo
    self._inflight = {}  # generator -> run
    self._attempts = {}  # name -> attempts submitted
    self._started = {}  # name -> monotonic start of its running attempt
    self._durations = []  # seconds of each attempt that finished a run
    self._failed = 0
    self._begin = self._last_line = time.monotonic()
    self._total = 0
    self._waiting = []  # runs not submitted yet: tuned runs wait for their trials

  def run(self, queue: list[dict]) -> None:
    from attn_seq2seq import cli  # noqa: PLC0415  (installs a command's signal hooks: driver only)

    self._total = len(queue)
    self._waiting = list(queue)
    self._submit_runnable()
    self._progress()
    try:
      with cli.sigterm_as_keyboard_interrupt():  # the local backend's rule
        while self._inflight:
          ready, _ = self._ray.wait(list(self._inflight), num_returns=1, timeout=_WAIT_SECONDS)
          for generator in ready:
            self._handle(generator, self._next_event(generator))
          self._submit_runnable()
          if time.monotonic() - self._last_line >= PROGRESS_SECONDS:
            self._progress()
    except KeyboardInterrupt:
      self._cancel()

  def _submit_runnable(self) -> None:
    """Submits every waiting run that can start (its tuning trials have finished: see
    selection.py); when nothing runs any more, the rest wait for trials that failed."""
    from attn_seq2seq.sweeps import sweep  # noqa: PLC0415  (imports JAX: the driver side only)

    root = Path(self._root)
    while run := sweep.take_runnable(self._waiting, self._status, root, self._echo):
      self._submit(run)
    if self._waiting and not self._inflight:
      for run in self._waiting:
        reason = f"tuning runs unfinished: {sweep.pending_trials(run, self._status)}"
        self._status[run["name"]] = f"failed ({reason})"
        self._failed += 1
        self._echo(f"FAILED {run['name']}: {reason}")
      self._waiting.clear()

  def _submit(self, run: dict) -> None:
    from attn_seq2seq.sweeps import sweep  # noqa: PLC0415  (imports JAX: the driver side only)

    name = run["name"]
    self._attempts[name] = self._attempts.get(name, 0) + 1
    workdir = os.path.join(self._root, name)
    generator = self._task.remote(
      sweep.command(run, self._root), workdir, self._cwd, self._attempts[name]
    )
    self._inflight[generator] = run

  def _next_event(self, generator) -> dict:
    try:
      return self._ray.get(next(generator))
    except StopIteration:
      return {"error": "the task ended without an exit status"}
    except self._ray.exceptions.RayError as e:  # a lost worker or node, a task exception
      return {"error": f"{type(e).__name__}: {one_line(getattr(e, 'cause', None) or e)}"}

  def _handle(self, generator, event: dict) -> None:
    run = self._inflight[generator]
    name = run["name"]
    if "pid" in event:
      self._started[name] = time.monotonic()
      self._echo(
        f"started {name} on {event['host']} (pid {event['pid']}, attempt "
        f"{self._attempts[name]}; log: {os.path.join(self._root, name, LOG_FILE)})"
      )
      return
    del self._inflight[generator]
    took = time.monotonic() - self._started.pop(name, time.monotonic())
    if event.get("returncode") == 0:
      self._status[name] = "done"
      self._durations.append(took)
      self._echo(f"done {name} in {_duration(took)}")
    else:
      reason = f"exit {event['returncode']}" if "returncode" in event else event["error"]
      last = _last_line(os.path.join(self._root, name, LOG_FILE))
      if self._attempts[name] <= self._retries:
        self._echo(
          f"{name} failed ({reason}): {last}; retrying, attempt "
          f"{self._attempts[name] + 1} of {self._retries + 1} (resumes from its "
          "latest checkpoint)"
        )
        self._submit(run)
      else:
        self._status[name] = f"failed ({reason})"
        self._failed += 1
        self._echo(f"FAILED {name} after {self._attempts[name]} attempt(s) ({reason}): {last}")
    self._progress()

  def _progress(self) -> None:
    """`[ray] 1/3 done, 2 running, 0 waiting, 0 failed; 1m05s elapsed, ETA 40s`."""
    now = time.monotonic()
    done = sum(s == "done" for s in self._status.values())
    running = len(self._started)
    waiting = len(self._inflight) - running + len(self._waiting)
    eta = "?"
    if self._durations:
      mean = sum(self._durations) / len(self._durations)
      left = waiting * mean + sum(max(mean - (now - t), 0.0) for t in self._started.values())
      eta = _duration(left / max(running, 1))
    self._echo(
      f"[ray] {done}/{self._total} done, {running} running, {waiting} waiting, "
      f"{self._failed} failed; {_duration(now - self._begin)} elapsed, ETA {eta}"
    )
    self._last_line = now

  def _cancel(self) -> None:
    self._echo(
      f"stopping: cancelling {len(self._inflight)} task(s); running runs save a "
      "checkpoint (Ctrl-C again to stop waiting)"
    )
    for generator in self._inflight:
      self._ray.cancel(generator)
    for generator, run in self._inflight.items():
      name, returncode = run["name"], None
      started = name in self._started
      while True:  # until the task has ended (its trainer has exited)
        event = self._next_event(generator)
        if "error" in event:
          break
        started = started or "pid" in event
        returncode = event.get("returncode", returncode)
      if returncode == 0:
        self._status[name] = "done"
      elif started:
        self._status[name] = "stopped"
    self._inflight.clear()
    self._started.clear()


def _duration(seconds: float) -> str:
  from attn_seq2seq.training import progress  # noqa: PLC0415  (imports JAX: the driver side only)

  return progress.duration(seconds)


def _last_line(path: str, max_bytes: int = 4096) -> str:
  """The last non-empty line of a log that is not one of the task's own '# ...' lines."""
  try:
    with open(path, "rb") as f:
      f.seek(max(0, f.seek(0, 2) - max_bytes))
      lines = f.read().decode(errors="replace").strip().splitlines()
  except OSError:
    return ""
  lines = [line for line in lines if line.strip() and not line.startswith("# ")]
  return lines[-1] if lines else ""
