"""Runs a sweep of `experiments/*.py`: every run as its own `python -m attn_seq2seq.main`.

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

import argparse
import re
import shlex
import sys

import jax

from attn_seq2seq.run_files import SWEEP_FILE
from attn_seq2seq.sweeps import sweep


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--sweep", required=True, help="experiments/<file>.py[:arg]")
  parser.add_argument("--root", required=True, help="directory of the runs' workdirs")
  parser.add_argument("--only", help="run only the runs whose name matches this regex")
  parser.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
  parser.add_argument("--parallel", type=int, default=1, help="runs at a time (>= 1)")
  parser.add_argument("--allow_changed", action="store_true",
                      help="launch although ROOT/sweep.json records another definition")
  parser.add_argument("--backend", choices=("local", "ray"), default="local",
                      help="local subprocesses, or tasks on an existing Ray cluster")
  parser.add_argument("--address", default="auto", help="ray: the cluster (auto, HOST:PORT, "
                      "ray://HOST:PORT)")
  parser.add_argument("--cpus_per_run", type=float, default=1.0, help="ray: CPUs of a run")
  parser.add_argument("--gpus_per_run", type=float, default=0.0, help="ray: GPUs of a run")
  parser.add_argument("--retries", type=int, default=2,
                      help="ray: relaunches of a failed or interrupted run (resuming)")
  argv = sys.argv[1:] if argv is None else argv
  args = parser.parse_args(argv)
  if args.parallel < 1:
    sys.exit(f"error: --parallel={args.parallel} is out of range; allowed: an integer >= 1")
  # This process only expands and validates (parameter counts trace models): it must never take
  # an accelerator (and its memory) from the runs.
  jax.config.update("jax_platforms", "cpu")

  try:
    runs = sweep.load_sweep(args.sweep)
    for run in runs:
      sweep.run_config(run)
  except sweep.SweepError as e:
    sys.exit(f"error: {e}")
  try:
    selected = [run for run in runs if re.search(args.only or "", run["name"])]
  except re.error as e:
    sys.exit(f"error: --only={args.only} is not a regular expression: {e}")
  if not selected:
    sys.exit(f"error: no run name matches --only={args.only}")
  if args.backend == "ray":
    from attn_seq2seq.sweeps import ray_backend  # noqa: PLC0415

    try:
      ray_backend.check_root(args.root)
    except ValueError as e:
      sys.exit(f"error: {e}")

  if args.dry_run:
    for run in selected:
      finished = "# finished: " if sweep.is_finished(f"{args.root}/{run['name']}") else ""
      print(finished + shlex.join(sweep.command(run, args.root)))
    return 0
  try:
    changed = sweep.changed_runs(args.root, runs)
  except sweep.SweepError as e:
    sys.exit(f"error: {e}")
  if changed and not args.allow_changed:
    sys.exit(f"error: {args.sweep} no longer matches the sweep recorded in "
             f"{args.root}/{SWEEP_FILE}: {', '.join(changed)}; use a new --root, or pass "
             "--allow_changed to launch it as defined now (the old definition is kept)")
  sweep.write_sweep_json(args.root, args.sweep, runs, ["python", "scripts/run_sweep.py", *argv])
  if args.backend == "ray":
    try:
      status = ray_backend.launch(selected, args.root, address=args.address,
                                cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                                retries=args.retries)
    except sweep.SweepError as e:
      sys.exit(f"error: {e}")
  else:
    status = sweep.launch(selected, args.root, parallel=args.parallel)
  unfinished = [f"{run['name']} ({status.get(run['name'], 'not started')})" for run in selected
                if status.get(run["name"]) not in ("done", "finished")]
  print(f"{len(selected) - len(unfinished)}/{len(selected)} runs finished"
        + (f"; not finished: {', '.join(unfinished)}" if unfinished else ""))
  print(f"summary: python scripts/summarize.py --root={args.root}")
  return 1 if unfinished else 0


if __name__ == "__main__":
  sys.exit(main())
