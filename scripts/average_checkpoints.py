r"""Averages a run's checkpoints into a new run directory that translate and evaluate load.

    python scripts/average_checkpoints.py --workdir=runs/wmt --last=5 --out=runs/wmt_avg5
    python scripts/average_checkpoints.py --workdir=runs/wmt --steps=8000,10000 --out=runs/wmt_avg

The new run holds the element-wise mean of the parameters of the chosen checkpoints (`--last=N`:
the N latest kept; `--steps`: those steps), the run's config.json (with `averaged_checkpoints`:
the source workdir and the steps) and its vocabularies; its one checkpoint has the last averaged
step. `--out` must not exist or be empty. A stacked run's member (`<stack>/members/seed_<k>`)
averages like a run. See `attn_seq2seq/inference/averaging.py`.
"""

from absl import app, flags

from attn_seq2seq import cli
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference import averaging

FLAGS = cli.script_flags(__name__)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run to average.", flag_values=FLAGS)
_LAST = flags.DEFINE_integer(
  "last", None, "Average the N latest checkpoints.", lower_bound=1, flag_values=FLAGS
)
_STEPS = flags.DEFINE_list(
  "steps", None, "Average these checkpoint steps (comma-separated).", flag_values=FLAGS
)
_OUT = flags.DEFINE_string("out", None, "The new run directory.", flag_values=FLAGS)
flags.mark_flags_as_required(["workdir", "out"], flag_values=FLAGS)


def main(argv: list[str]) -> int:
  cli.flags_only(argv)
  with cli.user_errors():
    steps = None
    if _STEPS.value is not None:
      try:
        steps = [int(step) for step in _STEPS.value]
      except ValueError:
        raise ConfigError(
          f"--steps={','.join(_STEPS.value)}: allowed: comma-separated checkpoint steps"
        ) from None
    out = averaging.average_checkpoints(_WORKDIR.value, _OUT.value, steps=steps, last=_LAST.value)
  print(f"averaged into {out}")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
