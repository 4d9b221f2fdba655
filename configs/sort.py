"""Sort a sequence of symbols: the alignment is a permutation that depends on the content, so
attention has to search rather than sweep (a harder test than copy or reverse).

    python -m attn_seq2seq.main --config=configs/sort.py:medium --workdir=runs/sort_medium

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
  steps = {"short": 5_000, "medium": 15_000, "long": 30_000}[length]  # longer: more
  config = algorithmic_config("sort", length, num_train_steps=steps)
  config.decode_max_len_a = 1.0  # outputs are as long as the source ...
  config.decode_max_len_b = 5.0  # ... plus EOS and some slack
  if "quick" in variants:
    make_quick(config)
  return config
