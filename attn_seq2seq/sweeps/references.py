"""Rows a report adds beside a sweep's arms, each written by a command into a run-like directory
ROOT/references/<name>/ (results.json, outcomes/): a classic system trained on the same split
(scripts/g2p_reference.py), or an evaluation derived from finished runs without retraining (an
ensemble of an arm's seeds, its averaged checkpoints).

    steps = experiments.cmudict.derived(summary, python="python")   # [Step(marker, argv), ...]
    run_steps(steps)                                                # skips what is done

A sweep file's `derived(summary, python)` lists the steps; `scripts/reproduce.py` runs them after
the sweep, before the report. A step whose marker file exists has run, so re-running the command
resumes. `summary.load_references(root)` reads the directories back: one run, or several (one
per seed) as subdirectories, each a `summary.Group` the findings can compare with the arms.
"""

import subprocess
from pathlib import Path
from typing import NamedTuple

from attn_seq2seq.errors import UserError

REFERENCES_DIR = "references"  # ROOT/references/<name>/


class Step(NamedTuple):
  """One command that writes `marker` (a file) when it has done its work."""

  marker: Path
  argv: list[str]


def reference_dir(root: str | Path, name: str) -> Path:
  return Path(root) / REFERENCES_DIR / name


def run_steps(steps: list[Step], cwd: str | Path) -> None:
  """Runs every step whose marker does not exist yet, in order, in `cwd`; a failing command is a
  one-line UserError naming it (its own output went to the terminal)."""
  for step in steps:
    if step.marker.exists():
      continue
    print(f"running {' '.join(step.argv)}", flush=True)
    status = subprocess.call(step.argv, cwd=cwd)
    if status != 0 or not step.marker.exists():
      raise UserError(
        f"{' '.join(step.argv[:3])} ... exited with {status} without writing {step.marker}"
      )
