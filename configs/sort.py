"""Sort a sequence of symbols: the alignment is a permutation that depends on the content, so
attention has to search rather than sweep (a harder test than copy or reverse).

    python -m attn_seq2seq.main --config=configs/sort.py:medium --workdir=runs/sort_medium

Variants (comma-separated after the colon): `short` (lengths 1-20), `medium` (1-50, the
default), `long` (1-100); `quick`, a tiny smoke test. test_long has sources up to twice the
longest training source.
"""

from attn_seq2seq.experiment_config import algorithmic_task_config

STEPS = {"short": 5_000, "medium": 15_000, "long": 30_000}  # longer sources need more updates


def get_config(arg: str | None = None):
  return algorithmic_task_config("sort", arg, STEPS)
