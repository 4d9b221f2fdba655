"""Copy a sequence of symbols: the easiest alignment (the diagonal), a sanity check of attention
and of the fixed-vector baselines' capacity limit as sequences grow.

    python -m attn_seq2seq.main --config=configs/copy.py:medium --workdir=runs/copy_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.config_checks import one_of
from attn_seq2seq.experiment_config import ALGORITHMIC_LENGTHS as LENGTHS
from attn_seq2seq.experiment_config import algorithmic_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, (*LENGTHS, "quick"))
  length = one_of(variants, LENGTHS, "medium")  # at most one length
  steps = {"short": 5_000, "medium": 10_000, "long": 20_000}[length]  # longer: more
  config = algorithmic_config("copy", length, num_train_steps=steps)
  config.decode_max_len_a = 1.0  # outputs are as long as the source ...
  config.decode_max_len_b = 5.0  # ... plus EOS and some slack
  if "quick" in variants:
    make_quick(config)
  return config
