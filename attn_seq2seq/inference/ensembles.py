"""Several trained runs decoded as one ensemble: `load_runs` and what a search takes from them.

    runs = load_runs("runs/a,runs/b")          # two runs
    runs = load_runs("runs/stack")             # a stacked run's root: all its members
    model, variables = search_inputs(runs)     # a tuple of models and their variables (or one)

The members combine their next-token distributions inside the same jitted search
(`search.stepping.combine`, `SearchSpec.ensemble`). They must share the source and target
vocabularies (token for token) and the dataset; anything else (sizes, decoders, seeds,
checkpoint steps) may differ. A workdir list of one run is that run, decoded exactly as before.
"""

from collections.abc import Sequence
from pathlib import Path

import jax

from attn_seq2seq.inference import trained_run
from attn_seq2seq.training import members


def as_runs(runs: trained_run.Run | Sequence[trained_run.Run]) -> list[trained_run.Run]:
  """One run or an ensemble's runs as a list."""
  return [runs] if isinstance(runs, trained_run.Run) else list(runs)


def workdirs_of(workdirs: str | Path | Sequence[str | Path]) -> list[Path]:
  """The run directories named by `workdirs` (a path, a comma-separated string or a list): each
  stacked run's root becomes its members' directories, in the order of its members."""
  if isinstance(workdirs, Path):
    workdirs = [workdirs]
  names = workdirs.split(",") if isinstance(workdirs, str) else list(workdirs)
  names = [str(name).strip() for name in names if str(name).strip()]
  if not names:
    raise trained_run.RunError(f"--workdir={workdirs!r} names no run")
  expanded = []
  for name in names:  # anything but a stack's root stays as it is (load_run reports a bad run)
    expanded += members.stack_member_dirs(name) or [Path(name)]
  return expanded


def load_runs(
  workdirs: str | Path | Sequence[str | Path],
  step: int | None = None,
  sharding: jax.sharding.Sharding | None = None,
) -> list[trained_run.Run]:
  """The runs of `workdirs_of(workdirs)`, each at checkpoint `step` (default: its latest), checked
  to form an ensemble (`RunError` naming the runs that differ)."""
  runs = [trained_run.load_run(w, step, sharding) for w in workdirs_of(workdirs)]
  check_ensemble(runs)
  return runs


def check_ensemble(runs: Sequence[trained_run.Run]) -> None:
  """A one-line `RunError` unless every run has the first one's vocabularies and dataset."""
  first = runs[0]
  for run in runs[1:]:
    for side, name in (("src_vocab", "source"), ("tgt_vocab", "target")):
      if getattr(run, side).to_json() != getattr(first, side).to_json():
        raise trained_run.RunError(
          f"runs {first.workdir} and {run.workdir} have different {name} vocabularies; "
          "an ensemble's runs must share both vocabularies"
        )
    if run.config.data.name != first.config.data.name:
      raise trained_run.RunError(
        f"runs {first.workdir} ({first.config.data.name}) and {run.workdir} "
        f"({run.config.data.name}) were trained on different datasets"
      )


def search_inputs(runs: Sequence[trained_run.Run]) -> tuple:
  """`(model, variables)` for `search.decode`: the run's own for one run, tuples for several."""
  if len(runs) == 1:
    return runs[0].model, runs[0].variables
  return tuple(r.model for r in runs), tuple(r.variables for r in runs)
