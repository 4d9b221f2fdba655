r"""Trains one run of a sweep (typically a stacked group: every member one model) and records its
results and timing as one JSON file: the accelerator check's GPU-sized result.

    python scripts/group_record.py --sweep=experiments/attention_vs_fixed.py --run=bahdanau_h256 \
        --workdir=OUT/group --output=OUT/group_results.json -- --config.num_train_steps=600

Runs `python -m attn_seq2seq.main --workdir=WORKDIR` with the run's own config flags (as
scripts/run_sweep.py would) followed by the flags after `--`, then writes OUTPUT: date, command,
machine (sweeps/machine.py), sweep, run, wall_seconds (the whole command: startup, compilation,
training, evaluation), and per member (the run itself when it is not stacked) its results.json
and a timing entry {last_step, train_seconds, wall_seconds, steps_per_second}. An unknown run is
a one-line error; a failed training exits with the trainer's status and writes nothing.
"""

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from absl import app, flags

from attn_seq2seq import cli
from attn_seq2seq.errors import UserError
from attn_seq2seq.run_files import RESULTS_FILE
from attn_seq2seq.sweeps import machine, sweep
from attn_seq2seq.training import members

FLAGS = cli.script_flags(__name__)
_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file[:variant].", flag_values=FLAGS)
_RUN = flags.DEFINE_string("run", None, "Name of the sweep's run to train.", flag_values=FLAGS)
_WORKDIR = flags.DEFINE_string("workdir", None, "Where the run trains.", flag_values=FLAGS)
_OUTPUT = flags.DEFINE_string("output", None, "The JSON record to write.", flag_values=FLAGS)
flags.mark_flags_as_required(["sweep", "run", "workdir", "output"], flag_values=FLAGS)


def main(argv):
  with cli.user_errors():
    return record(_SWEEP.value, _RUN.value, Path(_WORKDIR.value), Path(_OUTPUT.value), argv[1:])


def record(spec: str, name: str, workdir: Path, output: Path, extra: list[str]) -> int:
  """Trains run `name` of sweep `spec` in `workdir` with `extra` flags; writes `output`."""
  runs = {run["name"]: run for run in sweep.load_sweep(spec)}
  if name not in runs:
    raise UserError(f"--run={name} is not a run of {spec}; allowed: {', '.join(sorted(runs))}")
  command = [sys.executable, "-m", "attn_seq2seq.main", f"--workdir={workdir}"]
  command += [*sweep.config_args(runs[name]), *extra]
  began = time.perf_counter()
  status = subprocess.run(command, check=False).returncode
  wall = time.perf_counter() - began
  if status:
    return status
  directories = members.stack_member_dirs(workdir) or [workdir]
  results = {str(d.relative_to(workdir)) or ".": _read(d / RESULTS_FILE) for d in directories}
  out = {
    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    "command": command,
    "machine": machine.describe(),
    "sweep": spec,
    "run": name,
    "wall_seconds": wall,
    "timing": {member: _timing(r) for member, r in results.items()},
    "members": results,
  }
  output.write_text(json.dumps(out, indent=2) + "\n")
  return 0


def _read(path: Path) -> dict:
  return json.loads(path.read_text())


def _timing(results: dict) -> dict:
  steps, seconds = results.get("last_step"), results.get("train_seconds")
  return {
    "last_step": steps,
    "train_seconds": seconds,
    "wall_seconds": results.get("wall_seconds"),
    "steps_per_second": steps / seconds if steps and seconds else None,
  }


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
