"""Sweeps: many runs of `attn_seq2seq.main`, defined in `experiments/*.py`, validated up front,
launched one subprocess per run, resumable. `scripts/run_sweep.py` is the command line:

    python scripts/run_sweep.py --sweep=experiments/scorers.py --root=runs/scorers

A sweep file defines `get_sweep(arg=None) -> list[dict]`, one dict per run, e.g.

    {"name": "luong_dot_h128_s0",     # unique and filesystem-safe: the run's workdir is ROOT/<name>
     "config": "configs/dates.py",    # `--config` of attn_seq2seq.main (relative to the repo root)
     "overrides": {"model.scorer": "dot", "model.hidden_size": 128, "seed": 0}}  # --config.<k>=<v>

`arg` is the text after the colon (`--sweep=experiments/scorers.py:quick`). Other keys of a run
(e.g. `size_matched_to`) describe it and are only recorded in ROOT/sweep.json.

A run is validated by `run_config`, which parses the run's exact command-line flags the way
`attn_seq2seq.main` will and applies the same config checks, so every bad key or value of a sweep
is a one-line `SweepError` before anything trains. A run whose workdir holds `results.json` is
finished and never launched again; an unfinished one is relaunched with the same command, which
resumes from its latest checkpoint.
"""

import contextlib
import ctypes
import datetime
import difflib
import importlib.util
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ml_collections
from absl import flags
from ml_collections import config_flags

from attn_seq2seq import atomic_files, cli
from attn_seq2seq.data.datasets import dataset_spec
from attn_seq2seq.errors import UserError, one_line
from attn_seq2seq.run_files import LAUNCHES_FILE, LOG_FILE, SWEEP_FILE
from attn_seq2seq.sweeps import machine, selection
from attn_seq2seq.training import progress, train
from attn_seq2seq.training import workdir as workdir_lib

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_POLL_SECONDS = 0.2


class SweepError(UserError):
  """A sweep that cannot be run as defined; the message is one line naming the run and the key."""


def load_sweep(spec: str) -> list[dict]:
  """The runs of `spec` = 'experiments/<file>.py[:arg]' (`get_sweep(arg)`), with checked names.
  A file that does not load, has no `get_sweep`, raises in it or returns no list of runs is a
  one-line SweepError naming the file and the cause."""
  path, _, arg = spec.partition(":")
  module = load_module(path)
  get_sweep = getattr(module, "get_sweep", None)
  if not callable(get_sweep):
    raise SweepError(f"{path} does not define get_sweep(arg)")
  try:
    runs = get_sweep(arg or None)
  except UserError as e:
    raise SweepError(f"{spec}: {one_line(e)}") from None
  except Exception as e:  # noqa: BLE001  (a sweep file's own bug: named, in one line)
    raise SweepError(f"{spec}: get_sweep raised {type(e).__name__}: {one_line(e)}") from None
  if not isinstance(runs, list):
    raise SweepError(f"{spec}: get_sweep returned {type(runs).__name__}, not a list of runs")
  try:
    check_runs(runs)
  except SweepError as e:
    raise SweepError(f"{spec}: {e}") from None
  return runs


def load_module(path: str | Path):
  """The sweep file at `path` (experiments/<file>.py) as a module; a file that is missing or
  fails to import (a syntax error, an import error, an exception) is a one-line SweepError."""
  if not Path(path).is_file():
    raise SweepError(f"no sweep file {path}")
  module_spec = importlib.util.spec_from_file_location(f"sweep_{Path(path).stem}", path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except SyntaxError as e:
    raise SweepError(f"{path}: syntax error at line {e.lineno}: {e.msg}") from None
  except Exception as e:  # noqa: BLE001  (whatever importing it raises: named, in one line)
    raise SweepError(f"{path} cannot be loaded: {type(e).__name__}: {one_line(e)}") from None
  return module


def read_sweep_json(root: str | Path) -> dict | None:
  """ROOT/sweep.json (None if there is none), checked to hold a list of runs with names; a
  damaged one is a one-line SweepError naming it."""
  path = Path(root) / SWEEP_FILE
  if not path.exists():
    return None
  try:
    record = json.loads(path.read_text())
    if not all(isinstance(run["name"], str) for run in record["runs"]):
      raise TypeError("a run without a name")
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise SweepError(f"cannot read {path}: {type(e).__name__}: {one_line(e)}") from None
  return record


def check_runs(runs: list[dict]) -> None:
  """Every run has a name, a config and overrides; names are unique and filesystem-safe."""
  if not runs:
    raise SweepError("the sweep has no runs")
  seen = set()
  for i, run in enumerate(runs):
    if not isinstance(run, dict) or not {"name", "config", "overrides"} <= run.keys():
      raise SweepError(f"run {i} is not a dict with keys name, config, overrides: {run!r}")
    name = run["name"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
      raise SweepError(
        f"run name {name!r} is not filesystem-safe: use letters, digits, . _ - "
        "and start with a letter or digit"
      )
    if name in seen:
      raise SweepError(f"run name {name} is used twice")
    seen.add(name)
  for run in runs:
    unknown = [c for c in run.get("select", {}).get("candidates", ()) if c not in seen]
    if unknown:
      raise SweepError(
        f"run {run['name']}: its tuning runs {', '.join(unknown)} are not in the sweep"
      )


def config_args(run: dict) -> list[str]:
  """The config flags of `run`: `--config=<file>[:variant]`, then `--config.<key>=<value>`."""
  return [
    f"--config={run['config']}",
    *(f"--config.{key}={value}" for key, value in run["overrides"].items()),
  ]


def command(run: dict, root: str | Path) -> list[str]:
  """The command line that trains `run` in ROOT/<name>."""
  return [
    sys.executable,
    "-m",
    "attn_seq2seq.main",
    f"--workdir={Path(root) / run['name']}",
    *config_args(run),
  ]


def run_config(run: dict) -> ml_collections.ConfigDict:
  """The config `attn_seq2seq.main` will train for `run`, or a one-line `SweepError`.

  Loads the config file, checks that every override names an existing field, parses the exact
  flags of `config_args` (so a value is parsed as main parses it: `'abc'` for an int field is an
  error), then runs `train.check_config` (names of decoder, scorer, cell, optimizer, ...) and
  checks the dataset name. Batch divisibility is left to each run, which knows its own devices.
  """
  name = run["name"]
  base = _parse_config_flags(config_args({**run, "overrides": {}}), name)
  for key in run["overrides"]:
    _check_field(base, key, name)
  config = _parse_config_flags(config_args(run), name)
  try:
    train.check_config(config, num_devices=1)
    dataset_spec(config.data.name)  # an overridden dataset name is otherwise checked at load
  except ValueError as e:
    raise SweepError(f"run {name}: {e}") from None
  return config


def _parse_config_flags(args: list[str], name: str) -> ml_collections.ConfigDict:
  argv = ["attn_seq2seq.main", *args]
  flag_values = flags.FlagValues()  # not absl's global FLAGS: nothing leaks between runs
  config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment config file.",
    flag_values=flag_values,
    lock_config=True,
    sys_argv=argv,
  )
  try:
    flag_values(argv)
  except Exception as e:  # noqa: BLE001  (whatever parsing raises is a bad run definition)
    raise SweepError(f"run {name}: {one_line(e)}") from None
  return flag_values.config


def _check_field(config: ml_collections.ConfigDict, key: str, name: str) -> None:
  node, parts = config, key.split(".")
  for i, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      fields = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      close = difflib.get_close_matches(part, fields, n=1)
      hint = f"; did you mean {'.'.join(parts[:i] + close)}?" if close else ""
      raise SweepError(f"run {name}: unknown config field {key}{hint}")
    node = node[part]


def is_finished(workdir: str | Path) -> bool:
  """Whether the run in `workdir` has finished, by the trainer's own rule (results.json with a
  `step`: `workdir.finished_results`); an unreadable results.json is not finished (the
  relaunched trainer reports it)."""
  try:
    return workdir_lib.finished_results(workdir) is not None
  except workdir_lib.WorkdirError:
    return False


def changed_runs(root: str | Path, runs: list[dict]) -> list[str]:
  """How the runs recorded in ROOT/sweep.json differ from `runs` (the sweep file's definition
  now): `'<name> (changed)'`, `'<name> (added)'`, `'<name> (removed)'`; [] if there is no
  sweep.json or nothing differs. The recorded command lines are not compared."""
  record = read_sweep_json(root)
  if record is None:
    return []
  before = {run["name"]: _definition(run) for run in record["runs"]}
  now = {run["name"]: _definition(run) for run in runs}
  return (
    [f"{name} (changed)" for name in now if name in before and before[name] != now[name]]
    + [f"{name} (added)" for name in now if name not in before]
    + [f"{name} (removed)" for name in before if name not in now]
  )


def _definition(run: dict) -> dict:
  """A run's definition as JSON would store it, without its recorded command line."""
  return json.loads(json.dumps({k: v for k, v in run.items() if k != "command"}, default=str))


def write_sweep_json(root: str | Path, spec: str, runs: list[dict], argv: list[str]) -> Path:
  """ROOT/sweep.json: the sweep spec, the command that ran it, the date and every expanded run
  with its command line. A definition it replaces (`--allow_changed`) is kept under
  `previous_definitions`."""
  root = Path(root)
  root.mkdir(parents=True, exist_ok=True)
  record = {
    "sweep": spec,
    "command": shlex.join(argv),
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "runs": [{**run, "command": shlex.join(command(run, root))} for run in runs],
  }
  path = root / SWEEP_FILE
  if changed_runs(root, runs):
    old = json.loads(path.read_text())
    history = old.pop("previous_definitions", [])
    record["previous_definitions"] = [*history, old]
  return atomic_files.write_json(path, record, indent=2)


def launch(
  runs: list[dict], root: str | Path, parallel: int = 1, echo: Callable[[str], None] = print
) -> dict[str, str]:
  """Trains every unfinished run of `runs`, each as its own subprocess (`command`), in order.

  A failing run is reported and the others go on. Ctrl-C or SIGTERM stops the sweep: running
  runs get SIGTERM (main checkpoints and exits) and are waited for. Runs live in their own
  process sessions, so a terminal's Ctrl-C reaches them only through this function.

  Args:
    runs: the expanded runs (`load_sweep`), each a dict with `name`, `config` and `overrides`.
    root: the sweep root; run `name` lives in ROOT/<name>/, its output appended to its log.txt.
    parallel: how many runs train at once.
    echo: where the progress lines go.

  Returns:
    name -> 'finished' (already had results.json), 'done', 'failed (exit N)' or 'stopped'; runs
    not reached after a stop are absent.
  """
  root = Path(root)
  status = {run["name"]: "finished" for run in runs if is_finished(root / run["name"])}
  queue = [run for run in runs if run["name"] not in status]
  echo(f"{len(runs)} runs: {len(status)} finished, {len(queue)} to run")
  num_to_run, running = len(queue), {}  # running: name -> (process, log file, start time)
  sweep_started = _now(), time.monotonic()
  try:
    with cli.sigterm_as_keyboard_interrupt():
      while queue or running:
        while len(running) < parallel and (run := take_runnable(queue, status, root, echo)):
          running[run["name"]] = _start(run, root)
          echo(
            f"[{num_to_run - len(queue)}/{num_to_run}] started {run['name']} "
            f"(log: {root / run['name'] / LOG_FILE})"
          )
        if queue and not running:  # what is left waits for tuning runs that will not finish
          _fail_waiting(queue, status, echo)
        time.sleep(_POLL_SECONDS)
        _collect_ended(running, status, root, echo)
  except KeyboardInterrupt:
    _stop_running(running, status, root, echo)
  finally:
    record_launch(
      root,
      {
        "sweep": "launch",
        "started": sweep_started[0],
        "seconds": round(time.monotonic() - sweep_started[1], 1),
        "launched": [name for name, s in status.items() if s != "finished"],
        "host": machine.host(),
      },
    )
  return status


def _record_end(root: Path, name: str, status: str, started: float) -> str:
  """Records in LAUNCHES_FILE the launch of `name` that began at `started` (monotonic clock) and
  ended with `status`; returns its duration for a progress line."""
  seconds = time.monotonic() - started
  record_launch(root, {"run": name, "status": status, "seconds": round(seconds, 1)})
  return progress.duration(seconds)


def _fail_waiting(queue: list[dict], status: dict[str, str], echo: Callable[[str], None]) -> None:
  """Marks every run left in `queue` failed (it waits for tuning runs that will not finish) and
  empties the queue."""
  for run in queue:
    status[run["name"]] = f"failed (tuning runs unfinished: {pending_trials(run, status)})"
    echo(f"FAILED {run['name']}: {status[run['name']]}")
  queue.clear()


def _collect_ended(
  running: dict, status: dict[str, str], root: Path, echo: Callable[[str], None]
) -> None:
  """Moves every run of `running` (name -> (process, log file, start time)) whose process has
  ended into `status`: 'done' or 'failed (exit N)', with a progress line."""
  for name, (process, log, started) in list(running.items()):
    if process.poll() is None:
      continue
    log.close()
    del running[name]
    if process.returncode == 0:
      status[name] = "done"
      echo(f"done {name} in {_record_end(root, name, status[name], started)}")
    else:
      status[name] = f"failed (exit {process.returncode})"
      echo(
        f"FAILED {name} after {_record_end(root, name, status[name], started)} "
        f"(exit {process.returncode}): {_last_line(root / name / LOG_FILE)}"
      )


def _stop_running(
  running: dict, status: dict[str, str], root: Path, echo: Callable[[str], None]
) -> None:
  """Ctrl-C or SIGTERM: every run of `running` gets SIGTERM (main saves a checkpoint and exits),
  is waited for and marked 'stopped'."""
  echo(f"stopping {len(running)} running run(s); each saves a checkpoint")
  for process, _, _ in running.values():
    process.terminate()
  for name, (process, log, started) in running.items():
    process.wait()
    log.close()
    status[name] = "stopped"
    _record_end(root, name, status[name], started)


def pending_trials(run: dict, status: dict[str, str]) -> str:
  """The tuning trials of `run` (see selection.py) that have not finished, by launch `status`."""
  finished = {name for name, s in status.items() if s in ("finished", "done")}
  return ", ".join(selection.pending(run, finished))


def take_runnable(
  queue: list[dict], status: dict[str, str], root: Path, echo: Callable[[str], None]
) -> dict | None:
  """Removes and returns the first queued run that can start now: one whose tuned value (see
  selection.py) is chosen from finished trials, resolved and recorded in ROOT/launches.jsonl;
  None if every queued run waits for trials. A run whose trials cannot be read fails here."""
  for i, run in enumerate(queue):
    if pending_trials(run, status):
      continue
    del queue[i]
    try:
      run = selection.resolve(run, root)
    except selection.SelectionError as e:
      status[run["name"]] = f"failed ({e})"
      echo(f"FAILED {run['name']}: {e}")
      return take_runnable(queue, status, root, echo)
    if "selected" in run:
      record_launch(root, {"run": run["name"], "selected": run["selected"]})
      echo(
        f"{run['name']}: {run['select']['field']}={run['selected']['value']} chosen on "
        f"{run['select']['split']} {run['select']['metric']}"
      )
    return run
  return None


@contextlib.contextmanager
def lock_root(root: str | Path):
  """Holds ROOT's lock while a sweep launches into it (the workdir lock of workdir.py: released
  by the kernel if the launcher dies): a second launcher on the same root is a one-line
  SweepError naming the first, before it records or starts anything."""
  with contextlib.ExitStack() as stack:
    try:
      stack.enter_context(workdir_lib.lock(root))
    except workdir_lib.WorkdirError as e:
      owner = workdir_lib.lock_owner(root)
      who = f"pid {owner.get('pid')} on host {owner.get('host')}" if owner else one_line(e)
      raise SweepError(
        f"sweep root {root} is in use by another sweep ({who}): wait for it to end, or use "
        "another --root"
      ) from None
    yield


def record_launch(root: Path, record: dict) -> None:
  """Appends `record` (with the time it ends) as one line of ROOT/LAUNCHES_FILE: the record of
  wall time per run and per sweep invocation that `report` publishes. Only the launcher writes
  it, one whole line per write."""
  Path(root).mkdir(parents=True, exist_ok=True)
  with open(Path(root) / LAUNCHES_FILE, "a") as f:
    f.write(json.dumps({"ended": _now(), **record}) + "\n")


def _now() -> str:
  return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _start(run: dict, root: Path) -> tuple[subprocess.Popen, object, float]:
  workdir = root / run["name"]
  workdir.mkdir(parents=True, exist_ok=True)
  args = command(run, root)
  log = open(workdir / LOG_FILE, "a")  # noqa: SIM115  (closed when the run ends)
  log.write(f"# {datetime.datetime.now().isoformat(timespec='seconds')} {shlex.join(args)}\n")
  log.flush()
  process = subprocess.Popen(
    args,
    stdin=subprocess.DEVNULL,
    stdout=log,
    stderr=subprocess.STDOUT,
    start_new_session=True,
    preexec_fn=_die_with_parent,
  )
  return process, log, time.monotonic()


def _die_with_parent() -> None:
  """In the child, before exec: SIGTERM when the launcher dies, even by SIGKILL (Linux
  PR_SET_PDEATHSIG; elsewhere a no-op), so no trainer outlives its sweep (main saves a
  checkpoint on SIGTERM; the re-run resumes it)."""
  with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _last_line(path: Path, max_bytes: int = 4096) -> str:
  """The last non-empty line of a log (e.g. main's 'error: ...')."""
  with open(path, "rb") as f:
    f.seek(max(0, f.seek(0, 2) - max_bytes))
    lines = f.read().decode(errors="replace").strip().splitlines()
  return lines[-1] if lines else ""
