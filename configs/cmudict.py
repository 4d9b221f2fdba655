"""Grapheme-to-phoneme conversion on the CMU Pronouncing Dictionary (letters -> ARPAbet phones),
scored by word and phone error rate (WER/PER; any listed pronunciation counts as correct).

    python -m attn_seq2seq.main --config=configs/cmudict.py --workdir=runs/cmudict

Variants (comma-separated after the colon): `with_stress` (keep the stress digits; default: the
39 phones without stress, as most of the G2P literature reports); `quick`, a tiny smoke test
(the dictionary is always read in full).
"""

from attn_seq2seq.experiment_config import base_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, ("with_stress", "quick"))
  config = base_config(
    "cmudict_g2p/" + ("with_stress" if "with_stress" in variants else "no_stress")
  )
  config.data.num_buckets = 4  # words of 1-30+ letters
  config.model.embed_size = 128  # letters and phones
  config.model.hidden_size = 256  # per encoder direction and decoder
  config.model.attention_size = 256  # additive scorer's hidden layer
  config.dropout = 0.2  # ~113k training words: regularise
  config.batch_size = 128  # global batch
  config.learning_rate = 1e-3  # adam
  config.lr_schedule = "cosine"  # decays to 0 at num_train_steps
  config.warmup_steps = 500  # linear warmup
  config.num_train_steps = 30_000  # about 30 epochs
  config.eval_every_steps = 2_000  # validation WER/PER and heatmaps
  config.checkpoint_every_steps = 2_000  # orbax checkpoint interval
  config.decode_max_len_a = 1.5  # phones per letter, with slack
  config.decode_max_len_b = 5.0  # (greedy limit: ceil(a * len + b))
  if "quick" in variants:
    make_quick(config)
  return config
