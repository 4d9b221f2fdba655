"""Human-readable dates to ISO dates ("monday 14 august 1995" -> "1995-08-14"), the attention
example of the DeepLearning.ai sequence-models course, at a research size (see default.py for
the CPU-sized run that `make run` trains).

    python -m attn_seq2seq.main --config=configs/dates.py --workdir=runs/dates

Variants: `quick`, a tiny smoke test.
"""

from attn_seq2seq.experiment_config import base_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, ("quick",))
  config = base_config("dates")  # 100,000 train / 5,000 validation / 5,000 test, characters
  config.data.num_buckets = 3  # sources are 8-40 characters, targets always 10 + EOS
  config.model.embed_size = 64  # about 40 characters on each side
  config.model.hidden_size = 128  # per encoder direction and decoder
  config.model.attention_size = 128  # additive scorer's hidden layer
  config.batch_size = 128  # global batch
  config.learning_rate = 2e-3  # adam
  config.lr_schedule = "cosine"  # decays to 0 at num_train_steps
  config.warmup_steps = 100  # linear warmup
  config.num_train_steps = 5_000  # about 6 epochs
  config.eval_every_steps = 1_000  # validation exact match and heatmaps
  config.checkpoint_every_steps = 1_000  # orbax checkpoint interval
  config.decode_max_len_a = 0.0  # the output is always 10 characters + EOS
  config.decode_max_len_b = 12.0  # (greedy limit: ceil(a * len + b))
  if "quick" in variants:
    make_quick(config)
  return config
