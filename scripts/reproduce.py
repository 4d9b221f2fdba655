"""One published result, one command: runs a sweep of `experiments/` and writes its report.

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

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  own, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (
      argv, [])
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("name", help="a sweep of experiments/ that defines REPORT")
  parser.add_argument("--preset", default="cpu", help="sweep variant; 'full' for none")
  parser.add_argument("--root", help="sweep root (default: runs/<name>_<preset>)")
  parser.add_argument("--out", help="report directory (default: docs/results/<name>[_<preset>])")
  parser.add_argument("--data_dir", help="dataset directory for the heatmaps (default: "
                      "$TFDS_DATA_DIR or ~/tensorflow_datasets, as for training)")
  args = parser.parse_args(own)

  from attn_seq2seq.sweeps import report, sweep  # noqa: PLC0415  (after --help)

  reportable = sorted(p.stem for p in (REPO / "experiments").glob("*.py")
                      if "REPORT =" in p.read_text())
  if args.name not in reportable:
    sys.exit(f"error: unknown result {args.name!r}; valid: {', '.join(reportable)}")
  path = f"experiments/{args.name}.py"
  spec = path if args.preset == "full" else f"{path}:{args.preset}"
  root = args.root or f"runs/{args.name}_{args.preset}"
  suffix = "" if args.preset == "cpu" else f"_{args.preset}"
  out = args.out or f"docs/results/{args.name}{suffix}"

  status = subprocess.call([sys.executable, str(REPO / "scripts/run_sweep.py"), f"--sweep={spec}",
                            f"--root={root}", *extra])
  if status != 0:
    print(f"the sweep did not finish (exit {status}); no report written. Re-run the same command "
          "to resume.", file=sys.stderr)
    return status
  definition = sweep.load_module(path).REPORT
  try:
    written = report.write_report(
        root, out, command=["python", "scripts/reproduce.py", *argv], data_dir=args.data_dir,
        **definition)
  except (OSError, ValueError) as e:
    sys.exit(f"error: {e}")
  print(f"report: {written}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
