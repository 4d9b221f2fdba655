"""Reverse a sequence of symbols (Sutskever et al. 2014's motivating task): attention should learn
the anti-diagonal alignment, the fixed-vector baselines degrade with length.

    python -m attn_seq2seq.main --config=configs/reverse.py:medium --workdir=runs/reverse_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `benchmark`, the reference model of the speed benchmark (lengths 10-30,
100 symbols, 50,000 pairs, embed 128, bi-GRU 256 per direction, GRU decoder 256, additive
attention 256, batch 64); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.experiment_config import algorithmic_task_config

STEPS = {"short": 5_000, "medium": 10_000, "long": 20_000}  # longer sources need more updates


def reference_model_task(config):
  """The `benchmark` variant: the speed benchmark's reference task."""
  config.data.min_len = 10  # reference task: source lengths 10-30
  config.data.max_len = 30  # (test_long: 31-60)
  config.data.num_symbols = 100  # 100-symbol vocabulary
  config.data.num_train = 50_000  # 50,000 training pairs
  config.num_train_steps = 5_000  # about 6 epochs


def get_config(arg: str | None = None):
  return algorithmic_task_config(
    "reverse", arg, STEPS, variants={"benchmark": reference_model_task}
  )
