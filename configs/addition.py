"""Add two decimal numbers, character by character ("123+4567" -> "4690"): the output is
aligned with the source right to left, with carries, and is shorter than the source.

    python -m attn_seq2seq.main --config=configs/addition.py:short --workdir=runs/addition_short

Variants (comma-separated after the colon): `short` (sources of 3-20 characters, the default),
`medium` (3-50), `long` (3-100); `quick`, a tiny smoke test. test_long has sources up to twice
the longest training source.
"""

from attn_seq2seq.experiment_config import algorithmic_task_config

STEPS = {"short": 10_000, "medium": 20_000, "long": 40_000}  # longer sources need more updates


def small_embeddings(config):
  config.model.embed_size = 64  # 10 digits and '+': small embeddings suffice


def get_config(arg: str | None = None):
  # A sum has at most as many digits as its source, plus a carry and EOS.
  return algorithmic_task_config(
    "addition", arg, STEPS, default_length="short", output_slack=2.0, task_fields=small_embeddings
  )
