"""Copy a sequence of symbols: the easiest alignment (the diagonal), a sanity check of attention
and of the fixed-vector baselines' capacity limit as sequences grow.

    python -m attn_seq2seq.main --config=configs/copy.py:medium --workdir=runs/copy_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.experiment_config import algorithmic_task_config

STEPS = {"short": 5_000, "medium": 10_000, "long": 20_000}  # longer sources need more updates


def get_config(arg: str | None = None):
  return algorithmic_task_config("copy", arg, STEPS)
