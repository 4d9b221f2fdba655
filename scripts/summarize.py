"""Summarizes a sweep root: a Markdown table of every group of seeds and metric-versus-length plots.

    python scripts/summarize.py --root=DIR [--metric=exact_match] [--split=test] [--out=DIR]

Reads DIR/*/results.json and config.json; runs that differ only in seed form a group. Prints one
table per --metric (varied config fields, seeds, parameter count, mean ± std and 95% t-interval
over seeds on every evaluation split, ranked by --split) and writes them to OUT/summary.md, the
numbers to OUT/summary.json, and one `<metric>_vs_length_<split>.png` per metric and evaluation
split (one line per group, mean over seeds, band of the interval).
Unfinished runs are listed. OUT defaults to DIR. See attn_seq2seq/sweeps/summary.py.
"""

from absl import app, flags

from attn_seq2seq import cli
from attn_seq2seq.sweeps import summary

FLAGS = cli.script_flags(__name__)
_ROOT = flags.DEFINE_string("root", None, "Sweep root (run_sweep.py --root).", flag_values=FLAGS)
_METRIC = flags.DEFINE_string(
  "metric",
  "exact_match",
  "Metric(s) of results.json, comma-separated; the first ranks.",
  flag_values=FLAGS,
)
_SPLIT = flags.DEFINE_string(
  "split", "test", "Evaluation split that ranks the groups.", flag_values=FLAGS
)
_OUT = flags.DEFINE_string("out", None, "Output directory (default: --root).", flag_values=FLAGS)
flags.mark_flag_as_required("root", flag_values=FLAGS)


def main(argv: list[str]) -> int:
  cli.flags_only(argv)
  with cli.user_errors():
    print(summary.summarize(_ROOT.value, _METRIC.value, _SPLIT.value, _OUT.value))
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
