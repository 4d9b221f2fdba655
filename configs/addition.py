"""Add two decimal numbers, character by character ("123+4567" -> "4690"): the output is
aligned with the source right to left, with carries, and is shorter than the source.

    python -m attn_seq2seq.main --config=configs/addition.py:short --workdir=runs/addition_short

Variants (comma-separated after the colon): `short` (sources of 3-20 characters, the default),
`medium` (3-50), `long` (3-100); `quick`, a tiny smoke test. test_long has sources up to twice
the longest training source.
"""

from attn_seq2seq.config_checks import one_of
from attn_seq2seq.experiment_config import ALGORITHMIC_LENGTHS as LENGTHS
from attn_seq2seq.experiment_config import algorithmic_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, (*LENGTHS, "quick"))
  length = one_of(variants, LENGTHS, "short")  # at most one length
  steps = {"short": 10_000, "medium": 20_000, "long": 40_000}[length]  # longer: more
  config = algorithmic_config("addition", length, num_train_steps=steps)
  config.model.embed_size = 64  # 10 digits and '+': small embeddings suffice
  config.decode_max_len_a = 1.0  # a sum has at most as many digits as its source ...
  config.decode_max_len_b = 2.0  # ... plus a carry and EOS
  if "quick" in variants:
    make_quick(config)
  return config
