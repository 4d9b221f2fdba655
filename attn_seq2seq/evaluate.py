"""`python -m attn_seq2seq.evaluate`: scores a trained run on a split (inference/evaluate.py)."""

from absl import app

from attn_seq2seq import cli
from attn_seq2seq.inference import evaluate

if __name__ == "__main__":
  __doc__ = evaluate.__doc__  # what --help prints: the usage of the command
  app.run(evaluate.main, flags_parser=cli.parse_flags)
