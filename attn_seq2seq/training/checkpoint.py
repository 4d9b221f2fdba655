"""Checkpoints of a run: the train state (orbax, sharding-aware), the data position and the
training loop's progress (JSON).

    workdir/checkpoints/<step>/state/...      params, optimizer state, step (orbax StandardSave)
    workdir/checkpoints/<step>/data/...       the training iterator's `get_state()` (JsonSave)
    workdir/checkpoints/<step>/progress/...   `Checkpointer.progress` when saved (JsonSave): the
                                              loop's totals and early-stopping state (train.py);
                                              absent from checkpoints written before it existed

A thin wrapper over `orbax.checkpoint.CheckpointManager`: saves asynchronously (the
device-to-host copy happens before `save` returns, so the donated state may be reused), and
restores onto the shardings of a template state. No pickle anywhere.

Retention: the latest `max_to_keep` steps, plus the steps in `Checkpointer.keep` (e.g. the best
step of each model of an early-stopped run), whatever their age. The set in force is the one
`keep` held when the latest save started; a step leaving it is deleted only once that save is on
disk, so a crash never loses both the old best step and the new one.

Resuming (`restore_latest`) takes the newest intact step: a step that cannot be read (a truncated
array file, missing metadata, an empty step directory) or does not fit the model (another hidden
size) is skipped with one warning naming it and its cause, and moved to
`<workdir>/damaged_checkpoints/<step>` (kept for inspection, out of the way of new saves). When
no step is usable, `CheckpointError` names the directory and the cause; for a model that does not
fit, the first parameter whose shape differs, with both shapes.
"""

import contextlib
import functools
import gc
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import jax
from absl import logging as absl_logging

from attn_seq2seq.errors import UserError, one_line

ITEMS = ("state", "data", "progress")  # the items of a checkpoint step (see the module docstring)


# How the OS errors of a failed write read in orbax's and tensorstore's messages.
_WRITE_FAILURES = (
  "No space left on device",
  "Disk quota exceeded",
  "Read-only file system",
  "Permission denied",
)
DAMAGED_DIR = "damaged_checkpoints"  # beside the checkpoint directory, see the module docstring


class CheckpointError(UserError):
  """No usable checkpoint to resume from; the message is one line naming the directory."""


class Checkpointer:
  """Saves and restores `(state, data_state)` pairs under `directory`, one subdirectory per step."""

  def __init__(self, directory: str | Path, max_to_keep: int = 3, async_save: bool = True):
    import orbax.checkpoint as ocp  # noqa: PLC0415  (heavy; only runs that checkpoint need it)

    self._ocp = ocp
    self.keep: frozenset[int] = frozenset()  # steps kept beyond the latest max_to_keep (docstring)
    self.progress: dict | None = None  # the JSON the next saves store as their `progress` item
    self._kept = frozenset()  # `keep` as the latest save started with it
    policies = ocp.checkpoint_managers
    retention = policies.AnyPreservationPolicy(
      [policies.LatestN(max_to_keep), _KeptSteps(lambda: self._kept)]
    )
    options = ocp.CheckpointManagerOptions(
      preservation_policy=retention, create=True, enable_async_checkpointing=async_save
    )
    with _quiet_orbax_warnings():  # e.g. about an empty step directory: restore_latest reports
      self._manager = ocp.CheckpointManager(
        Path(directory).absolute(), options=options, item_names=ITEMS
      )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, data_state: Any) -> None:
    """Starts saving (with `progress`, if set); returns once the arrays are copied off the
    devices (`wait` to finish). Steps outside the latest `max_to_keep` and `keep` are deleted
    once this one is on disk."""
    args = self._ocp.args
    items = {"state": args.StandardSave(state), "data": args.JsonSave(data_state)}
    if self.progress is not None:
      items["progress"] = args.JsonSave(self.progress)
    self._kept = frozenset(self.keep)  # orbax picks the steps to delete in `save`, with this set
    with self._write_errors():  # an earlier async save's failure may surface here
      if step in self.all_steps():  # e.g. a resumed run's first step, saved again with progress
        self._manager.wait_until_finished()
        self._manager.delete(step)
      self._manager.save(step, args=args.Composite(**items), force=True)

  def restore_progress(self, step: int) -> dict | None:
    """The `progress` item of `step`, or None for a checkpoint saved without one."""
    if not (Path(self._manager.directory) / str(step) / ITEMS[2]).is_dir():
      return None
    args = self._ocp.args
    return self._manager.restore(step, args=args.Composite(progress=args.JsonRestore()))[ITEMS[2]]

  def restore_params(self, step: int, abstract_params: Any) -> Any:
    """The parameters of the train state of `step` only (no optimizer state), shaped and placed
    as `abstract_params` (`jax.ShapeDtypeStruct`s with shardings)."""
    ocp = self._ocp
    target = {"params": abstract_params}
    state_args = ocp.args.PyTreeRestore(
      target, partial_restore=True, restore_args=ocp.checkpoint_utils.construct_restore_args(target)
    )
    # A reader of its own: this manager's `state` item is bound to full-state saves.
    options = ocp.CheckpointManagerOptions(read_only=True, enable_async_checkpointing=False)
    with ocp.CheckpointManager(
      self._manager.directory, options=options, item_names=ITEMS
    ) as reader:
      restored = reader.restore(step, args=ocp.args.Composite(state=state_args))
    return restored["state"]["params"]

  def restore(self, template_state: Any, step: int | None = None) -> tuple[Any, Any]:
    """`(state, data_state)` of `step` (default: the latest), shaped and sharded as
    `template_state` (real arrays or `jax.ShapeDtypeStruct`s with shardings)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}")
    abstract = jax.tree.map(_abstract, template_state)
    args = self._ocp.args
    restored = self._manager.restore(
      step, args=args.Composite(state=args.StandardRestore(abstract), data=args.JsonRestore())
    )
    return restored["state"], restored["data"]

  def restore_latest(self, template_state: Any) -> tuple[Any, Any, int] | None:
    """`(state, data_state, step)` of the newest intact step shaped as `template_state`, or None
    if there is no checkpoint; unusable newer steps are skipped with a warning and moved aside
    (see the module docstring). Raises `CheckpointError` if no step is usable."""
    directory = Path(self._manager.directory)
    problems = []  # (step, cause), newest first
    for step in sorted(self.all_steps(), reverse=True):
      cause = incompatibility(directory / str(step), template_state)
      if cause is None:
        try:
          with quiet_failed_restore(), _quiet_orbax_warnings():
            state, data_state = self.restore(template_state, step)
        except Exception as e:  # noqa: BLE001  (orbax/tensorstore raise many types for bad files)
          cause = f"unreadable: {type(e).__name__}: {one_line(e, max_chars=300)}"
      if cause is None:
        for bad_step, bad_cause in problems:
          moved = self._move_aside(directory / str(bad_step))
          absl_logging.warning(
            "skipped checkpoint step %d in %s (%s); resuming from step %d "
            "(the damaged step is kept in %s)",
            bad_step,
            directory,
            bad_cause,
            step,
            moved,
          )
        if problems:
          with _quiet_orbax_warnings():
            self._manager.reload()
        return state, data_state, step
      problems.append((step, cause))
    if not problems:
      return None
    (step, cause), others = problems[0], [s for s, _ in problems[1:]]
    raise CheckpointError(
      f"no usable checkpoint in {directory}: step {step}: {cause}"
      + (f" (steps {', '.join(map(str, others))} too)" if others else "")
      + "; use a new workdir, or move the checkpoints away to train from scratch"
    )

  def _move_aside(self, step_dir: Path) -> Path:
    target = step_dir.parent.parent / DAMAGED_DIR / step_dir.name
    if jax.process_index() == 0 and step_dir.exists():
      target.parent.mkdir(exist_ok=True)
      if target.exists():
        shutil.rmtree(target)
      shutil.move(step_dir, target)
    return target

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    with self._write_errors():
      self._manager.wait_until_finished()

  def close(self) -> None:
    with self._write_errors():
      self._manager.close()

  @contextlib.contextmanager
  def _write_errors(self):
    """A save that fails for want of space or permission (orbax and tensorstore report it as
    a ValueError or an OSError quoting the OS error) becomes one `CheckpointError` line naming
    the directory, the cause and the step a re-run resumes from (the failed step's
    `<step>.orbax-checkpoint-tmp` is never taken for a checkpoint)."""
    try:
      yield
    except (OSError, ValueError) as e:
      cause = next((c for c in _WRITE_FAILURES if c in str(e)), None)
      if cause is None:
        raise
      latest = self.latest_step()
      resume = (
        "starts afresh (no checkpoint yet)"
        if latest is None
        else f"resumes from the latest complete checkpoint (step {latest})"
      )
      raise CheckpointError(
        f"cannot write a checkpoint in {self._manager.directory}: {cause}; free space (or fix "
        f"the permissions) and re-run the same command: it {resume}"
      ) from None


class _KeptSteps:
  """An orbax preservation policy: keeps the checkpoints whose step is in `steps()`."""

  def __init__(self, steps):
    self._steps = steps

  def should_preserve(self, checkpoints, *, context) -> list[bool]:
    del context  # unused: the steps are the run's choice
    kept = self._steps()
    return [info.step in kept for info in checkpoints]


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def incompatibility(step_dir: Path, template_state: Any) -> str | None:
  """Why the saved train state in `step_dir` cannot be restored as `template_state` (missing or
  unreadable metadata, a parameter missing or shaped differently, naming it and both shapes), or
  None when its metadata fits."""
  import orbax.checkpoint as ocp  # noqa: PLC0415  (heavy; only runs that checkpoint need it)

  state_dir = step_dir / ITEMS[0]
  if not (state_dir / "_METADATA").is_file():
    return f"unreadable: no {state_dir / '_METADATA'}" + (
      " (empty step directory)" if not any(step_dir.iterdir()) else ""
    )
  try:
    with _quiet_orbax_warnings():
      metadata = ocp.StandardCheckpointer().metadata(state_dir)
    saved = _shapes(getattr(metadata, "item_metadata", metadata))
  except Exception as e:  # noqa: BLE001
    return f"unreadable metadata: {type(e).__name__}: {one_line(e, max_chars=300)}"
  wanted = _shapes(template_state)
  for name, shape in wanted.items():
    if name not in saved:
      return f"incompatible model: parameter {name} is not in the checkpoint"
    if saved[name] is not None and tuple(saved[name]) != tuple(shape):
      return (
        f"incompatible model: parameter {name} has shape {tuple(saved[name])} in the "
        f"checkpoint but {tuple(shape)} in the model"
      )
  extra = sorted(set(saved) - set(wanted))
  if extra:
    return f"incompatible model: the checkpoint has parameter {extra[0]}, the model does not"
  return None


def _shapes(tree: Any) -> dict[str, tuple | None]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {"/".join(_key_name(k) for k in path): getattr(leaf, "shape", None) for path, leaf in flat}


def _key_name(key) -> str:
  for attr in ("name", "key", "idx"):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


class _DropOrbaxWarnings(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    return "orbax" not in record.pathname


@contextlib.contextmanager
def _quiet_orbax_warnings():
  """Orbax warns about its own metadata files (e.g. `_CHECKPOINT_METADATA` of an old layout)
  while reading metadata; the caller reports what matters."""
  handler_filter = _DropOrbaxWarnings()
  absl_logger = logging.getLogger("absl")
  absl_logger.addFilter(handler_filter)
  try:
    yield
  finally:
    absl_logger.removeFilter(handler_filter)


@contextlib.contextmanager
def quiet_failed_restore():
  """Keeps a corrupt checkpoint to one error message instead of pages of tracebacks.

  When one array fails to read, orbax raises that error, but its other reads are still in
  flight: their callbacks fail later with "Event loop is closed", their coroutines are closed
  with an exception (both reported through `sys.unraisablehook`, possibly after the error has
  propagated) and their asyncio tasks, never awaited, are logged when collected. These reports,
  and only these, are dropped while restoring and, after a failure, for the rest of the process.
  It must stay: orbax offers no way to cancel its in-flight reads, and without it one damaged
  checkpoint prints pages of tracebacks after its one-line fallback warning.
  """
  previous_hook, asyncio_logger = sys.unraisablehook, logging.getLogger("asyncio")
  sys.unraisablehook = functools.partial(_drop_orphaned_read_errors, previous_hook)
  asyncio_logger.addFilter(_drop_orphaned_task_errors)
  try:
    yield
  except BaseException:
    gc.collect()  # the orphaned tasks are logged (and dropped) now
    raise
  sys.unraisablehook = previous_hook
  asyncio_logger.removeFilter(_drop_orphaned_task_errors)


def _drop_orphaned_read_errors(previous_hook, unraisable) -> None:
  error, culprit = unraisable.exc_value, unraisable.object
  closed_loop = isinstance(error, RuntimeError) and str(error) == "Event loop is closed"
  orphaned_read = getattr(culprit, "cr_code", None) is not None and "orbax" in getattr(
    culprit.cr_code, "co_filename", ""
  )
  if not (closed_loop or orphaned_read):
    previous_hook(unraisable)


def _drop_orphaned_task_errors(record: logging.LogRecord) -> bool:
  return not record.getMessage().startswith("Task exception was never retrieved")
