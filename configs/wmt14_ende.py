"""WMT'14 translation with a Bahdanau et al. 2015 (RNNsearch) sized model, for accelerators.

    python -m attn_seq2seq.main --config=configs/wmt14_ende.py --workdir=runs/wmt14

English -> German, as in Luong et al. 2015 (Bahdanau et al. 2015 used English -> French):
the TFDS builder `wmt14_translate/de-en` read in the direction `src_lang='en'`.
The first run downloads and prepares the corpus (network needed) and fits a joint SentencePiece
model on the training split; both are reused after. Scored by BLEU and chrF (sacrebleu).

Variants: `quick`, a tiny smoke test (still needs the prepared corpus; tests use TFDS mock data).
"""

from attn_seq2seq.experiment_config import base_config, make_quick, parse_variants


def get_config(arg: str | None = None):
  variants = parse_variants(arg, ("quick",))
  config = base_config("wmt14_translate/de-en")
  config.data.src_lang = "en"  # English -> German (the builder's own direction is de -> en)
  config.dtype = "bfloat16"  # accelerators: bf16 compute, f32 params and loss
  config.data.spm_vocab_size = 32_000  # joint German-English SentencePiece pieces
  config.data.max_src_len = 80  # drop longer training pairs (in pieces)
  config.data.max_tgt_len = 80  # (pieces)
  config.data.num_buckets = 8  # compiled shapes
  config.data.bucket_multiple = 8  # TPU/GPU-friendly padded lengths
  config.model.embed_size = 620  # RNNsearch-50 (Bahdanau et al. 2015, A.2)
  config.model.hidden_size = 1000  # per encoder direction and decoder
  config.model.attention_size = 1000  # additive scorer's hidden layer
  config.dropout = 0.2  # embeddings, between layers, before the output layer
  config.batch_size = 256  # global batch (over all devices)
  config.eval_batch_size = 256  # global evaluation / greedy decoding batch
  config.optimizer = "adam"  # the paper used adadelta; adam converges faster
  config.learning_rate = 5e-4  # peak, reached at the end of the warmup
  config.lr_schedule = "warmup_rsqrt"  # peak at the end of the warmup, then 1/sqrt(step)
  config.warmup_steps = 4_000  # linear warmup
  config.label_smoothing = 0.1  # Szegedy et al. 2016
  config.num_train_steps = 200_000  # about 10 epochs of WMT'14 at batch 256
  config.log_every_steps = 200  # progress line interval
  config.eval_every_steps = 5_000  # validation BLEU/chrF and heatmaps
  config.checkpoint_every_steps = 5_000  # orbax checkpoint interval
  config.decode_max_len_a = 1.5  # output pieces per source piece, with slack
  config.decode_max_len_b = 10.0  # (greedy limit: ceil(a * len + b))
  if "quick" in variants:
    make_quick(config)
    config.dtype = "float32"  # CPU
    config.data.spm_vocab_size = 100  # mock data has few sentences
    config.data.bucket_multiple = 1  # no padding to multiples of 8 on CPU
  return config
