"""Checkpoint averaging: the element-wise mean of a run's checkpoints' parameters, written as a new
run directory that translate and evaluate load like any other (`scripts/average_checkpoints.py`).

    average_checkpoints("runs/wmt", "runs/wmt_avg5", last=5)
    average_checkpoints("runs/wmt", "runs/wmt_avg", steps=[8000, 10000])

The new directory holds the run's `config.json` (plus `averaged_checkpoints`: the source workdir
and the steps averaged), its vocabularies, and one checkpoint at the last averaged step whose
`state` item holds only the averaged `params` (no optimizer state, no data position: it is for
decoding, not for resuming training), and a results.json naming that step (`{"step": S}`): the
run is complete, so `evaluate` stores its metrics under the plain keys (`test`, `test/beam5`)
as for a finished run, where a report's reference rows read them. A member of a stacked run
(`<stack>/members/seed_<k>`) averages like a run; a stacked run's root has no single model and
is refused.
"""

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from attn_seq2seq import atomic_files
from attn_seq2seq.inference import trained_run
from attn_seq2seq.run_files import (
  CHECKPOINTS_DIR,
  CONFIG_FILE,
  MEMBERS_DIR,
  RESULTS_FILE,
  SRC_VOCAB_FILE,
  TGT_VOCAB_FILE,
)
from attn_seq2seq.training import checkpoint, members

AVERAGED_KEY = "averaged_checkpoints"  # in the new run's config.json: what was averaged


def checkpoint_steps(workdir: str | Path) -> list[int]:
  """The checkpoint steps of the run in `workdir` (a member's: its stack's), ascending."""
  workdir = Path(workdir)
  stack = members.stack_of(workdir)
  directory = (stack[0] if stack else workdir) / CHECKPOINTS_DIR
  if not directory.is_dir():
    raise trained_run.RunError(f"no checkpoint directory {directory}")
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.is_dir())


def choose_steps(
  workdir: str | Path, *, steps: Sequence[int] | None = None, last: int | None = None
) -> list[int]:
  """The steps to average: `steps`, or the `last` ones (exactly one of the two); a one-line
  `RunError` for a step the run does not have or more than it has."""
  if (steps is None) == (last is None):
    raise trained_run.RunError("name the checkpoints to average: --last=N or --steps=a,b")
  available = checkpoint_steps(workdir)
  listing = ", ".join(map(str, available)) or "none"
  if last is not None:
    if not 1 <= last <= len(available):
      raise trained_run.RunError(
        f"--last={last} is out of range: {workdir} has {len(available)} checkpoints "
        f"(steps: {listing})"
      )
    return available[-last:]
  missing = [s for s in steps if s not in available]
  if missing or not steps or len(set(steps)) != len(steps):
    problem = f"no checkpoint step {missing[0]}" if missing else "each step once"
    raise trained_run.RunError(f"--steps: {problem} in {workdir}; steps: {listing}")
  return sorted(steps)


def average_checkpoints(
  workdir: str | Path,
  out: str | Path,
  *,
  steps: Sequence[int] | None = None,
  last: int | None = None,
) -> Path:
  """Writes the run averaging `workdir`'s checkpoints `steps` (or its `last` ones) to `out`
  (which must not exist or be empty); returns `out` (see the module docstring)."""
  workdir, out = Path(workdir), Path(out)
  if (workdir / MEMBERS_DIR).is_dir() and members.stack_of(workdir) is None:
    raise trained_run.RunError(
      f"{workdir} is a stacked run's root; average one member: {workdir / MEMBERS_DIR}/seed_<k>"
    )
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise trained_run.RunError(f"--out={out} exists and is not an empty directory")
  chosen = choose_steps(workdir, steps=steps, last=last)
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  params = [jax.device_get(trained_run.load_run(workdir, s, device).params) for s in chosen]
  mean = jax.tree.map(lambda *xs: np.mean(np.stack(xs), axis=0).astype(xs[0].dtype), *params)
  record = json.loads((workdir / CONFIG_FILE).read_text())
  record[AVERAGED_KEY] = {"workdir": str(workdir.resolve()), "steps": chosen}
  out.mkdir(parents=True, exist_ok=True)
  for name in (SRC_VOCAB_FILE, TGT_VOCAB_FILE):
    shutil.copyfile(workdir / name, out / name)
  checkpointer = checkpoint.Checkpointer(out / CHECKPOINTS_DIR, async_save=False)
  checkpointer.save(chosen[-1], {"params": mean}, {})
  checkpointer.wait()
  checkpointer.close()
  atomic_files.write_json(out / CONFIG_FILE, record, indent=2, sort_keys=True)
  atomic_files.write_json(out / RESULTS_FILE, {"step": chosen[-1]}, indent=2)  # last: complete
  return out
