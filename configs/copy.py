"""Copy a sequence of symbols: the easiest alignment (the diagonal), a sanity check of attention
and of the fixed-vector baselines' capacity limit as sequences grow.

    python -m attn_seq2seq.main --config=configs/copy.py:medium --workdir=runs/copy_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.config import base_config, make_quick, parse_variants

LENGTHS = ("short", "medium", "long")


def get_config(arg: str | None = None):
  variants = parse_variants(arg, (*LENGTHS, "quick"))
  length = next((v for v in LENGTHS if v in variants), "medium")
  config = base_config(f"algorithmic/copy_{length}")
  config.data.num_buckets = 4  # few compiled shapes; padding stays modest
  config.model.embed_size = 128  # symbol embeddings
  config.model.hidden_size = 256  # per encoder direction and decoder
  config.model.attention_size = 256  # additive scorer's hidden layer
  config.batch_size = 64  # global batch
  config.learning_rate = 1e-3  # adam
  config.num_train_steps = {"short": 5_000, "medium": 10_000, "long": 20_000}[length]  # longer sources need more updates
  config.decode_max_len_a = 1.0  # outputs are as long as the source ...
  config.decode_max_len_b = 5.0  # ... plus EOS and some slack
  if "quick" in variants:
    make_quick(config)
    config.data.num_train = 200  # generated in well under a second
    config.data.num_eval = 16  # pairs per evaluation split
  return config
