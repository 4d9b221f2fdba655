r"""Runs a sweep of `experiments/*.py`: every run as its own `python -m attn_seq2seq.main`.

    python scripts/run_sweep.py --sweep=experiments/<file>.py[:arg] --root=DIR \
        [--only=REGEX] [--dry_run] [--parallel=N] \
        [--backend=ray [--address=auto] [--cpus_per_run=1] [--gpus_per_run=0] [--retries=2]]

Run from the repository root. Every run of the sweep is validated first (an unknown override key
or a bad value is a one-line error naming the run and the key, before anything trains); then the
runs matching --only (a regular expression searched in run names) train one after another (or N
at a time; one suits a CPU, where a run already uses every core), each in DIR/<name> with its
output in DIR/<name>/log.txt. DIR/sweep.json records the expanded runs, this command and the date.

Re-running the same command resumes an interrupted sweep: finished runs (with results.json) are
skipped and unfinished ones resume from their latest checkpoint. A failing run is reported and the
others go on; the exit status is non-zero if any run failed or the sweep was stopped. Ctrl-C or
SIGTERM stops the running runs cleanly (each saves a checkpoint); if this process is killed
outright, its runs get SIGTERM too (they never outlive it), and each workdir's lock keeps a second
trainer off a run. A sweep whose definition differs from the one recorded in DIR/sweep.json is
refused, naming the differing runs, unless --allow_changed. --dry_run prints the commands.
Then: python scripts/summarize.py --root=DIR. --backend=ray runs every run as a task on an
existing Ray cluster instead (DIR: a path every node mounts), retrying a failed run up to
--retries times; see attn_seq2seq/sweeps/ray_backend.py and the README's "Sweeps on a cluster".
"""

import re
import shlex
import sys

import jax
from absl import app, flags

from attn_seq2seq import cli
from attn_seq2seq.errors import UserError
from attn_seq2seq.run_files import SWEEP_FILE
from attn_seq2seq.sweeps import ray_backend, sweep

FLAGS = cli.script_flags(__name__)
_SWEEP = flags.DEFINE_string("sweep", None, "experiments/<file>.py[:arg]", flag_values=FLAGS)
_ROOT = flags.DEFINE_string("root", None, "Directory of the runs' workdirs.", flag_values=FLAGS)
_ONLY = flags.DEFINE_string(
  "only", None, "Run only the runs whose name matches this regex.", flag_values=FLAGS
)
_DRY_RUN = flags.DEFINE_bool(
  "dry_run", False, "Print the commands, run nothing.", flag_values=FLAGS
)
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time (>= 1).", flag_values=FLAGS)
_ALLOW_CHANGED = flags.DEFINE_bool(
  "allow_changed",
  False,
  "Launch although ROOT/sweep.json records another definition.",
  flag_values=FLAGS,
)
_BACKEND = flags.DEFINE_enum(
  "backend",
  "local",
  ["local", "ray"],
  "Local subprocesses, or tasks on an existing Ray cluster.",
  flag_values=FLAGS,
)
_ADDRESS = flags.DEFINE_string(
  "address", "auto", "ray: the cluster (auto, HOST:PORT, ray://HOST:PORT).", flag_values=FLAGS
)
_CPUS_PER_RUN = flags.DEFINE_float("cpus_per_run", 1.0, "ray: CPUs of a run.", flag_values=FLAGS)
_GPUS_PER_RUN = flags.DEFINE_float("gpus_per_run", 0.0, "ray: GPUs of a run.", flag_values=FLAGS)
_RETRIES = flags.DEFINE_integer(
  "retries", 2, "ray: relaunches of a failed or interrupted run (resuming).", flag_values=FLAGS
)
flags.mark_flags_as_required(["sweep", "root"], flag_values=FLAGS)


def main(argv: list[str]) -> int:
  cli.flags_only(argv)
  with cli.user_errors():
    return _run_sweep(_SWEEP.value, _ROOT.value, _ONLY.value, _PARALLEL.value)


def _selected_runs(spec: str, only: str | None) -> tuple[list[dict], list[dict]]:
  """(every run of the sweep, validated; the runs --only selects)."""
  runs = sweep.load_sweep(spec)
  for run in runs:
    sweep.run_config(run)
  try:
    selected = [run for run in runs if re.search(only or "", run["name"])]
  except re.error as e:
    raise UserError(f"--only={only} is not a regular expression: {e}") from None
  if not selected:
    raise UserError(f"no run name matches --only={only}")
  return runs, selected


def _run_sweep(spec: str, root: str, only: str | None, parallel: int) -> int:
  if parallel < 1:
    raise UserError(f"--parallel={parallel} is out of range; allowed: an integer >= 1")
  # This process only expands and validates (parameter counts trace models): it must never take
  # an accelerator (and its memory) from the runs.
  jax.config.update("jax_platforms", "cpu")
  runs, selected = _selected_runs(spec, only)
  if _BACKEND.value == "ray":
    ray_backend.check_root(root)
  if _DRY_RUN.value:
    for run in selected:
      finished = "# finished: " if sweep.is_finished(f"{root}/{run['name']}") else ""
      print(finished + shlex.join(sweep.command(run, root)))
    return 0
  changed = sweep.changed_runs(root, runs)
  if changed and not _ALLOW_CHANGED.value:
    raise UserError(
      f"{spec} no longer matches the sweep recorded in "
      f"{root}/{SWEEP_FILE}: {', '.join(changed)}; use a new --root, or pass "
      "--allow_changed to launch it as defined now (the old definition is kept)"
    )
  with sweep.lock_root(root):
    sweep.write_sweep_json(root, spec, runs, ["python", "scripts/run_sweep.py", *sys.argv[1:]])
    status = _launch(selected, root, parallel)
  unfinished = [
    f"{run['name']} ({status.get(run['name'], 'not started')})"
    for run in selected
    if status.get(run["name"]) not in ("done", "finished")
  ]
  print(
    f"{len(selected) - len(unfinished)}/{len(selected)} runs finished"
    + (f"; not finished: {', '.join(unfinished)}" if unfinished else "")
  )
  print(f"summary: python scripts/summarize.py --root={root}")
  return 1 if unfinished else 0


def _launch(selected: list[dict], root: str, parallel: int) -> dict[str, str]:
  if _BACKEND.value == "ray":
    return ray_backend.launch(
      selected,
      root,
      address=_ADDRESS.value,
      cpus_per_run=_CPUS_PER_RUN.value,
      gpus_per_run=_GPUS_PER_RUN.value,
      retries=_RETRIES.value,
    )
  return sweep.launch(selected, root, parallel=parallel)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
