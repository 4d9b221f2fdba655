"""The embedded default: the dates task (DeepLearning.ai's "monday 14 august 1995" ->
"1995-08-14") with a bidirectional GRU encoder and additive (Bahdanau) attention, sized to reach
>= 99% exact match on the test split within 10 minutes on 2 CPU cores, data generation and
compilation included. `make run` trains it:

    python -m attn_seq2seq.main --config=configs/default.py --workdir=runs/default

and prints the results table and the path of an attention heatmap. (configs/dates.py is the
same task at a research size.) Variants: `quick`, a tiny smoke test.
"""

from attn_seq2seq.experiment_config import base_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, ("quick",))
  config = base_config("dates")  # 100,000 train / 5,000 validation / 5,000 test, characters
  config.data.num_buckets = 2  # sources are 8-27 characters, targets 10 + EOS: 2 compiled shapes
  config.model.cell = "gru"  # GRU encoder and decoder
  config.model.bidirectional = True  # bi-GRU encoder
  config.model.decoder = "bahdanau"  # previous decoder state queries the source
  config.model.scorer = "additive"  # Bahdanau et al. 2015's MLP scorer
  config.model.embed_size = 32  # about 40 characters on each side
  config.model.hidden_size = 64  # per encoder direction and decoder: small and fast on CPU
  config.model.attention_size = 64  # additive scorer's hidden layer
  config.batch_size = 64  # global batch
  config.learning_rate = 2e-3  # adam peak
  config.lr_schedule = "cosine"  # decays to 0 at num_train_steps
  config.warmup_steps = 100  # linear warmup
  config.num_train_steps = 2_000  # ~1.3 epochs; 100% validation exact match is usual by step 500
  config.log_every_steps = 100  # progress line interval
  config.eval_every_steps = 500  # validation exact match and heatmaps
  config.checkpoint_every_steps = 500  # orbax checkpoint interval
  config.eval_batch_size = 500  # 10 greedy-decoding batches per 5,000-example split
  config.decode_max_len_a = 0.0  # the output is always 10 characters + EOS ...
  config.decode_max_len_b = 12.0  # ... so a fixed limit of 12 tokens
  if "quick" in variants:
    make_quick(config)
  return config
