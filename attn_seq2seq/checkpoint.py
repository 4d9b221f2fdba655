"""Checkpoints of a run: the train state (orbax, sharding-aware) and the data position (JSON).

    workdir/checkpoints/<step>/state/...   params, optimizer state, step (orbax StandardSave)
    workdir/checkpoints/<step>/data/...    the training iterator's `get_state()` (JsonSave)

A thin wrapper over `orbax.checkpoint.CheckpointManager`: keeps the last N, saves asynchronously
(the device-to-host copy happens before `save` returns, so the donated state may be reused), and
restores onto the shardings of a template state. No pickle anywhere.
"""

from pathlib import Path
from typing import Any

import jax

ITEMS = ("state", "data")  # the two items of every checkpoint step (see the module docstring)


class Checkpointer:
  """Saves and restores `(state, data_state)` pairs under `directory`, one subdirectory per step."""

  def __init__(self, directory: str | Path, max_to_keep: int = 3, async_save: bool = True):
    import orbax.checkpoint as ocp  # noqa: PLC0415  (heavy; only runs that checkpoint need it)

    self._ocp = ocp
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save)
    self._manager = ocp.CheckpointManager(Path(directory).absolute(), options=options,
                                          item_names=ITEMS)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, data_state: Any) -> None:
    """Starts saving; returns once the arrays are copied off the devices (`wait` to finish)."""
    args = self._ocp.args
    self._manager.save(step, args=args.Composite(
        state=args.StandardSave(state), data=args.JsonSave(data_state)), force=True)

  def restore(self, template_state: Any, step: int | None = None) -> tuple[Any, Any]:
    """`(state, data_state)` of `step` (default: the latest), shaped and sharded as
    `template_state` (real arrays or `jax.ShapeDtypeStruct`s with shardings)."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self._manager.directory}")
    abstract = jax.tree.map(_abstract, template_state)
    args = self._ocp.args
    restored = self._manager.restore(step, args=args.Composite(
        state=args.StandardRestore(abstract), data=args.JsonRestore()))
    return restored["state"], restored["data"]

  def wait(self) -> None:
    """Blocks until every started save is on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))
