"""A workdir is the record of one run: locked while training, its config fixed at creation,
finished results never rewritten, results merged atomically.

    with workdir.claim("runs/dates", config) as finished:   # lock + config check
      if finished is not None:                              # results.json of a finished run
        return finished
      ...                                                   # train; then
      workdir.merge_results("runs/dates", results)

* **Lock.** `claim` holds an exclusive `flock` on `<workdir>/lock` for the block; the file holds
  the owner's pid, host and start time (for the message a second trainer prints: one line naming
  them). The kernel releases the lock when its owner dies, even by SIGKILL, so a lock file left
  behind by a dead owner is stale by construction: the next claim takes it over with a warning.
  The file is never deleted (a waiter could otherwise lock a deleted file while a third process
  locks a new one); it is emptied on release. `lock_timeout` > 0 waits that long for the owner.
* **Config.** A workdir with a `config.json` accepts only the same config (`data.data_dir`, where
  the data lives, is not part of a run's identity). Anything else is a `WorkdirError` naming the
  first differing fields, unless `allow_config_change` (`--allow_config_change` of main): then the
  new config is recorded (`record_config`) and the old one kept in `config.json`'s
  `config_history` with the date and the changed fields.
* **Finished runs.** A workdir whose results.json has the training's final results (a `step`
  entry) is finished: `claim` yields those results and nothing is trained, evaluated or written.
  A finished run's config cannot change (use a new workdir), and one without its config.json is
  refused (its config is unknown). A results.json that is not a JSON object is refused up front.
* **Stacked seeds.** A stack's member directories (members/[lr<lr>_]seed_<k>) are bound to its
  seeds and learning rates: changing `seeds` or `learning_rates` is refused even with
  `allow_config_change`.
* **Files.** results.json is merged under a lock and replaced atomically; config.json is written
  atomically; `truncate_metrics` drops records after a resumed step and a half-written last line.

Every problem (a workdir that is a file or cannot be created or written, a garbage config.json,
results.json or vocabulary) is a `WorkdirError` with a one-line message naming the path.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ml_collections
from absl import logging

from attn_seq2seq import atomic_files
from attn_seq2seq.errors import UserError
from attn_seq2seq.experiment_config import FIELDS_ADDED_LATER
from attn_seq2seq.run_files import CONFIG_FILE, LOCK_FILE, METRICS_FILE, RESULTS_FILE

_RESULTS_LOCK = ".results.lock"
# Config fields that may differ between launches of one run: where the data lives.
LOCATION_FIELDS = ("data.data_dir",)
_POLL_SECONDS = 0.2


class WorkdirError(UserError):
  """A workdir that cannot be used as asked; the message is one line naming the path."""


# -- the lock -----------------------------------------------------------------------------------


def make_workdir(workdir: str | Path) -> Path:
  """`workdir` as a Path, created if missing; `WorkdirError` if it is a file, cannot be created
  or is not writable."""
  path = Path(workdir)
  if path.exists() and not path.is_dir():
    raise WorkdirError(f"workdir {path} is a file, not a directory")
  try:
    path.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f"cannot create workdir {path}: {e.strerror or e}") from None
  if not os.access(path, os.W_OK | os.X_OK):
    raise WorkdirError(f"workdir {path} is not writable")
  return path


def lock_owner(workdir: str | Path) -> dict | None:
  """`{'pid', 'host', 'started'}` recorded in the lock file, or None if there is none."""
  try:
    return json.loads((Path(workdir) / LOCK_FILE).read_text() or "null")
  except (OSError, ValueError):
    return None


def _describe(owner: dict | None) -> str:
  if not owner:
    return "another process"
  return f"pid {owner.get('pid')} on host {owner.get('host')} (since {owner.get('started')})"


@contextlib.contextmanager
def lock(workdir: str | Path, timeout: float = 0.0) -> Iterator[Path]:
  """Holds `<workdir>/lock` exclusively for the block (see the module docstring); waits up to
  `timeout` seconds for another owner, then raises `WorkdirError` naming it."""
  path = make_workdir(workdir)
  lock_path = path / LOCK_FILE
  try:
    handle = open(lock_path, "a+")  # noqa: SIM115  (closed on release)
  except OSError as e:
    raise WorkdirError(f"cannot write the lock file {lock_path}: {e.strerror or e}") from None
  try:
    deadline, waiting = time.monotonic() + timeout, False
    while True:
      try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
      except BlockingIOError:
        if time.monotonic() >= deadline:
          raise WorkdirError(
            f"workdir {path} is in use by {_describe(lock_owner(path))}: one run per workdir; "
            f"wait for it to end (--lock_timeout=SECONDS) or use another workdir"
          ) from None
        if not waiting:
          logging.warning(
            "waiting up to %.0f s for workdir %s, in use by %s",
            timeout,
            path,
            _describe(lock_owner(path)),
          )
          waiting = True
        time.sleep(_POLL_SECONDS)
    previous = lock_owner(path)
    if previous:  # its owner died without releasing (the kernel released the flock)
      logging.warning(
        "taking over the stale lock of %s in %s (that process has ended)", _describe(previous), path
      )
    me = {
      "pid": os.getpid(),
      "host": socket.gethostname(),
      "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    try:
      handle.seek(0)
      handle.truncate()
      handle.write(json.dumps(me) + "\n")
      handle.flush()
    except OSError as e:  # a full disk
      raise WorkdirError(f"cannot write the lock file {lock_path}: {e.strerror or e}") from None
    try:
      yield path
    finally:
      handle.seek(0)
      handle.truncate()  # released: an empty lock file
      handle.flush()
  finally:
    handle.close()  # releases the flock


# -- config record ------------------------------------------------------------------------------


def read_json(path: Path, what: str = "") -> Any:
  """The JSON in `path`; `WorkdirError` naming it if it cannot be read or parsed."""
  try:
    return json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, ValueError) as e:
    reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
    raise WorkdirError(f"cannot read {path}{what}: {reason}") from None


def _read_record(path: Path) -> dict | None:
  """config.json of the workdir `path` (None if missing), checked to be a run record."""
  file = path / CONFIG_FILE
  if not file.exists():
    return None
  record = read_json(file, " (the run's config record; move it away to start afresh)")
  if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
    raise WorkdirError(
      f"{file} is not a config written by attn_seq2seq.main (no 'config' "
      "entry); move it away or use another workdir"
    )
  return record


def config_differences(recorded: dict, config: dict) -> list[tuple[str, Any, Any]]:
  """`(dotted field, recorded value, new value)` for every field that differs, sorted; the
  LOCATION_FIELDS are ignored, lists and tuples compare equal, and a field the record lacks
  whose new value is unset (None or empty, e.g. `seeds`, `data_order_seed`) or the value that
  keeps the old behaviour (`experiment_config.FIELDS_ADDED_LATER`, e.g. early stopping off) is
  no difference: those fields were added since the run was recorded."""
  recorded, config = _normalise(recorded), _normalise(config)
  out = []
  for key in sorted(set(recorded) | set(config)):
    old, new = recorded.get(key, "<absent>"), config.get(key, "<absent>")
    if key in LOCATION_FIELDS or old == new:
      continue
    if old == "<absent>" and (new in (None, []) or new == FIELDS_ADDED_LATER.get(key, "<absent>")):
      continue
    out.append((key, old, new))
  return out


def _normalise(tree: dict, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_normalise(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = json.loads(json.dumps(value, default=str))  # tuples -> lists
  return flat


def _plain(config: ml_collections.ConfigDict | dict) -> dict:
  return config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)


def finished_results(workdir: str | Path) -> dict | None:
  """The final results of a finished run (results.json with a `step` entry), else None;
  `WorkdirError` naming results.json if it is not a JSON object (e.g. `[]`)."""
  results = read_results(workdir)
  return results if "step" in results else None


def _check_record_present(path: Path, record: dict | None, finished: dict | None) -> None:
  """A finished run must still have its config record: without it any config would be accepted
  and the old results printed as this config's. (A run with checkpoints and no config.json is
  checked against its checkpoints' shapes when they are restored.)"""
  if record is None and finished is not None:
    raise WorkdirError(
      f"run in {path} is finished but its {CONFIG_FILE} is missing, so its config is unknown; "
      f"restore {path / CONFIG_FILE} or use a new workdir"
    )


@contextlib.contextmanager
def claim(
  workdir: str | Path,
  config: ml_collections.ConfigDict | dict,
  *,
  lock_timeout: float = 0.0,
  allow_config_change: bool = False,
  owner: bool = True,
) -> Iterator[dict | None]:
  """Locks `workdir` (see `lock`; only when `owner`, i.e. on the main process), checks that
  `config` is the one it was started with, and yields the results of a finished run (None if
  there is still training to do). Raises `WorkdirError` (see the module docstring)."""
  with lock(workdir, lock_timeout) if owner else contextlib.nullcontext(make_workdir(workdir)):
    path = Path(workdir)
    record = _read_record(path)
    finished = finished_results(path)
    _check_record_present(path, record, finished)
    if record is not None:
      changed = config_differences(record["config"], _plain(config))
      if changed:
        first = ", ".join(f"{k}={new!r} (was {old!r})" for k, old, new in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        if finished is not None:
          raise WorkdirError(
            f"run in {path} is finished and was trained with another config: "
            f"{first}{more}; use a new workdir"
          )
        _check_seeds_kept(path, changed)
        if not allow_config_change:
          raise WorkdirError(
            f"workdir {path} holds a run with another config: {first}{more}; "
            "use a new workdir, or pass --allow_config_change to continue it "
            "with this config (recorded in config.json's config_history)"
          )
        logging.warning(
          "continuing %s with a changed config: %s%s (recorded in config.json's config_history)",
          path,
          first,
          more,
        )
    yield finished


def _check_seeds_kept(path: Path, changed: list[tuple[str, Any, Any]]) -> None:
  """A stack's member directories (members/[lr<lr>_]seed_<k>) and checkpointed member axis are
  bound to its seeds and learning rates: changing `seeds` or `learning_rates` would continue one
  member's training under another member's name, so it is refused even with
  --allow_config_change."""
  for key, old, new in changed:
    if key in ("seeds", "learning_rates") and (old or new):
      raise WorkdirError(
        f"workdir {path} holds a run of {key}={old!r}; {key}={new!r} would relabel its members "
        "(members/[lr<lr>_]seed_<k> are bound to them, even with --allow_config_change); "
        "use a new workdir"
      )


def record_config(workdir: str | Path, record: dict) -> bool:
  """Writes `record` (`{'config': ..., ...}`) as config.json when there is none; when there is
  one with another config (allowed by `claim`), moves its config into `config_history` with the
  date and the changed fields. The same config: nothing is written (a
  resumed run keeps its record). Returns whether config.json was written."""
  path = Path(workdir)
  previous = _read_record(path)
  if previous is not None:
    changed = config_differences(previous["config"], record["config"])
    if not changed:
      return False
    history = previous.get("config_history", [])
    history.append(
      {
        "until": datetime.datetime.now().isoformat(timespec="seconds"),
        "changed": [name for name, _, _ in changed],
        "config": previous["config"],
      }
    )
    record = {**previous, **record, "config_history": history}
  write_json_atomically(path / CONFIG_FILE, record)
  return True


def write_json_atomically(path: Path, value: Any) -> None:
  """Writes `value` as indented JSON through a temporary file and a rename: readers see the old
  file or the new one, never a part."""
  atomic_files.write_json(path, value, indent=2, sort_keys=True, default=str)


# -- results and metrics ------------------------------------------------------------------------


def read_results(workdir: str | Path) -> dict:
  """results.json of `workdir` ({} if missing); `WorkdirError` naming it if unreadable."""
  path = Path(workdir) / RESULTS_FILE
  if not path.exists():
    return {}
  results = read_json(path)
  if not isinstance(results, dict):
    raise WorkdirError(f"cannot read {path}: not a JSON object")
  return results


def merge_results(workdir: str | Path, entries: dict) -> dict:
  """Adds `entries` to results.json (replacing those keys, keeping every other one), under a
  lock so that concurrent writers (evaluate, training) do not lose each other's entries; the
  file is replaced atomically. Returns the merged results."""
  path = Path(workdir)
  with open(path / _RESULTS_LOCK, "a") as lock_file:
    fcntl.flock(lock_file, fcntl.LOCK_EX)
    results = read_results(path)
    results.update(json.loads(json.dumps(entries, default=str)))
    write_json_atomically(path / RESULTS_FILE, results)
  return results


def truncate_metrics(
  workdir: str | Path,
  after_step: int,
  name: str = METRICS_FILE,
  keep: Callable[[dict], bool] | None = None,
) -> None:
  """Drops the metrics.jsonl records of steps after `after_step` (logged by a run that died
  before checkpointing them), and those for which `keep(record)` is false (e.g. a final
  evaluation the resumed run does again), so a resumed run's log reads as one uninterrupted run; a
  line that is not a complete JSON record (a crash mid-write leaves one at the end) is dropped
  with a warning."""
  path = Path(workdir) / name
  if not path.exists():
    return
  raw = path.read_bytes()
  lines = raw.split(b"\n")
  kept = []
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
      step = record["step"]
    except (ValueError, TypeError, KeyError):
      logging.warning(
        "dropped line %d of %s: not a complete record (%d bytes, e.g. written "
        "by a run that crashed)",
        number,
        path,
        len(line),
      )
      continue
    if step <= after_step and (keep is None or keep(record)):
      kept.append(line)
  new = b"".join(line + b"\n" for line in kept)
  if new != raw:
    atomic_files.write_bytes(path, new)


def load_vocabs(workdir: str | Path):
  """The run's saved vocabularies (`data.load_vocabs`), or `WorkdirError` naming the workdir."""
  from attn_seq2seq import data  # noqa: PLC0415  (TFDS)

  try:
    return data.load_vocabs(workdir)
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    reason = getattr(e, "strerror", None) or str(e).splitlines()[0] if str(e) else type(e).__name__
    raise WorkdirError(
      f"cannot read the vocabularies of {workdir}: {reason}; the run cannot resume without them"
    ) from None
