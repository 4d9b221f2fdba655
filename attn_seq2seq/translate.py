"""`python -m attn_seq2seq.translate`: text in, translations out (see inference/translate.py)."""

from absl import app

from attn_seq2seq import cli
from attn_seq2seq.inference import translate

if __name__ == "__main__":
  __doc__ = translate.__doc__  # what --help prints: the usage of the command
  app.run(translate.main, flags_parser=cli.parse_flags)
