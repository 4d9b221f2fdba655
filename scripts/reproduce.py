r"""One published result, one command: runs a sweep of `experiments/` and writes its report.

    python scripts/reproduce.py attention_vs_fixed [--preset=cpu] [--root=DIR] [--out=DIR] \
        [-- <more scripts/run_sweep.py flags, e.g. --backend=ray>]

Runs `scripts/run_sweep.py --sweep=experiments/<name>.py:<preset> --root=<root>` (default root
runs/<name>_<preset>), then, once every run has finished, writes the report (see
attn_seq2seq/sweeps/report.py) into --out (default docs/results/<name> for the `cpu` preset,
docs/results/<name>_<preset> otherwise). Re-running the same command resumes: finished runs are
skipped, interrupted ones resume from their checkpoints; a sweep that did not finish writes no
report and exits non-zero. `--preset=full` is the sweep's full-size (accelerator) definition.

The results: experiments/attention_vs_fixed.py, experiments/scorers.py, experiments/cmudict.py
(each defines REPORT: title, question, reference, metrics, findings).
"""

import subprocess
import sys
from pathlib import Path

from absl import app, flags, logging

from attn_seq2seq import cli
from attn_seq2seq.choices import check_choice
from attn_seq2seq.errors import UserError

REPO = Path(__file__).resolve().parents[1]

FLAGS = cli.script_flags(__name__)
_PRESET = flags.DEFINE_string("preset", "cpu", "Sweep variant; 'full' for none.", flag_values=FLAGS)
_ROOT = flags.DEFINE_string(
  "root", None, "Sweep root (default: runs/<name>_<preset>).", flag_values=FLAGS
)
_OUT = flags.DEFINE_string(
  "out", None, "Report directory (default: docs/results/<name>[_<preset>]).", flag_values=FLAGS
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir",
  None,
  "Dataset directory for the heatmaps (default: "
  "$TFDS_DATA_DIR or ~/tensorflow_datasets, as for training).",
  flag_values=FLAGS,
)


def main(argv: list[str]) -> int:
  with cli.user_errors():
    return _reproduce(argv)


def _result_name(argv: list[str], extra: list[str]) -> str:
  """The one result named on the command line (absl hands on what follows `--` as positional
  arguments: those are run_sweep.py's, the ones before it are this command's)."""
  names = argv[1 : len(argv) - len(extra)]
  reportable = sorted(
    p.stem for p in (REPO / "experiments").glob("*.py") if "REPORT =" in p.read_text()
  )
  if not names:
    raise UserError(f"no result named; valid choices: {', '.join(reportable)}")
  if len(names) > 1:
    raise UserError(
      f"unexpected arguments: {' '.join(names[1:])}; allowed: one result name, "
      "then flags, then -- and scripts/run_sweep.py's flags"
    )
  check_choice("result", names[0], reportable)
  return names[0]


def _run_sweep(args: list[str]) -> int:
  """scripts/run_sweep.py ARGS; its exit status. It runs in a session of its own, so that Ctrl-C
  reaches this command alone, which then stops the sweep as run_sweep.py's own Ctrl-C does
  (SIGTERM: its running runs save a checkpoint) and waits for it before raising the
  KeyboardInterrupt: a re-run finds every run stopped and resumes it (`subprocess.call` would
  SIGKILL the sweep after 0.25 s, its runs still saving). A SIGTERM to this command does the
  same (without it, `kill` would leave the sweep training on its own)."""
  sweep_process = subprocess.Popen(
    [sys.executable, str(REPO / "scripts/run_sweep.py"), *args], start_new_session=True
  )
  try:
    with cli.sigterm_as_keyboard_interrupt():
      return sweep_process.wait()
  except KeyboardInterrupt:
    sweep_process.terminate()
    sweep_process.wait()
    raise


def _reproduce(argv: list[str]) -> int:
  typed = sys.argv[1:]
  extra = typed[typed.index("--") + 1 :] if "--" in typed else []
  name, preset = _result_name(argv, extra), _PRESET.value

  from attn_seq2seq.sweeps import (  # noqa: PLC0415  (once the command is valid)
    references,
    report,
    sweep,
  )
  from attn_seq2seq.sweeps import summary as summary_lib  # noqa: PLC0415  (idem)

  # The sweep's own output is in its runs' logs; here, orbax's INFO records of loading the runs
  # drawn in the heatmaps would bury the one line that says where the report is.
  logging.set_verbosity(logging.WARNING)

  path = f"experiments/{name}.py"
  spec = path if preset == "full" else f"{path}:{preset}"
  root = _ROOT.value or f"runs/{name}_{preset}"
  suffix = "" if preset == "cpu" else f"_{preset}"
  out = _OUT.value or f"docs/results/{name}{suffix}"
  sweep.load_sweep(spec)  # an unknown --preset: one line now, not a failed sweep

  status = _run_sweep([f"--sweep={spec}", f"--root={root}", *extra])
  if status != 0:
    print(
      f"the sweep did not finish (exit {status}); no report written. Re-run the same command "
      "to resume.",
      file=sys.stderr,
    )
    return status
  module = sweep.load_module(path)
  summary = summary_lib.read_summary(root, module.REPORT["metrics"], module.REPORT["split"])
  report.check_finished(summary, root)  # a partial sweep (--only) gets no derived step either
  # reference rows, ensembles, averaged checkpoints, ablations
  steps = (
    module.derived(summary, sys.executable, _DATA_DIR.value) if hasattr(module, "derived") else []
  )
  references.run_steps(steps, REPO)
  written = report.write_report(
    root,
    out,
    command=["python", "scripts/reproduce.py", *typed],
    data_dir=_DATA_DIR.value,
    derived=[["python", *s.argv[1:]] if s.argv[0] == sys.executable else s.argv for s in steps],
    **module.REPORT,
  )
  print(f"report: {written}")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
