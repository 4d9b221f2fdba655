"""Summarizes a sweep root: a Markdown table of every group of seeds and metric-versus-length plots.

    python scripts/summarize.py --root=DIR [--metric=exact_match] [--split=test] [--out=DIR]

Reads DIR/*/results.json and config.json; runs that differ only in seed form a group. Prints one
table per --metric (varied config fields, seeds, parameter count, mean ± std and 95% t-interval
over seeds on every evaluation split, ranked by --split) and writes them to OUT/summary.md, the
numbers to OUT/summary.json, and one `<metric>_vs_length_<split>.png` per metric and evaluation
split (one line per group, mean over seeds, band of the interval).
Unfinished runs are listed. OUT defaults to DIR. See attn_seq2seq/sweeps/summary.py.
"""

import argparse
import sys

from attn_seq2seq.sweeps import summary


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--root", required=True, help="sweep root (run_sweep.py --root)")
  parser.add_argument("--metric", default="exact_match",
                      help="metric(s) of results.json, comma-separated; the first ranks")
  parser.add_argument("--split", default="test", help="evaluation split that ranks the groups")
  parser.add_argument("--out", help="output directory (default: --root)")
  args = parser.parse_args(argv)
  try:
    print(summary.summarize(args.root, args.metric, args.split, args.out))
  except (OSError, ValueError) as e:
    sys.exit(f"error: {e}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
