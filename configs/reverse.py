"""Reverse a sequence of symbols (Sutskever et al. 2014's motivating task): attention should learn
the anti-diagonal alignment, the fixed-vector baselines degrade with length.

    python -m attn_seq2seq.main --config=configs/reverse.py:medium --workdir=runs/reverse_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `benchmark`, the reference model of the speed benchmark (lengths 10-30,
100 symbols, 50,000 pairs, embed 128, bi-GRU 256 per direction, GRU decoder 256, additive
attention 256, batch 64); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.config_checks import one_of
from attn_seq2seq.experiment_config import ALGORITHMIC_LENGTHS as LENGTHS
from attn_seq2seq.experiment_config import algorithmic_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, (*LENGTHS, "benchmark", "quick"))
  length = one_of(variants, LENGTHS, "medium")  # at most one length
  steps = {"short": 5_000, "medium": 10_000, "long": 20_000}[length]  # longer: more
  config = algorithmic_config("reverse", length, num_train_steps=steps)
  config.decode_max_len_a = 1.0  # outputs are as long as the source ...
  config.decode_max_len_b = 5.0  # ... plus EOS and some slack
  if "benchmark" in variants:
    config.data.min_len = 10  # reference task: source lengths 10-30
    config.data.max_len = 30  # (test_long: 31-60)
    config.data.num_symbols = 100  # 100-symbol vocabulary
    config.data.num_train = 50_000  # 50,000 training pairs
    config.num_train_steps = 5_000  # about 6 epochs
  if "quick" in variants:
    make_quick(config)
  return config
