"""The experiment config every `configs/*.py` starts from, with every field documented.

    config = base_config('dates')           # training fields + config.model + config.data
    config.model.hidden_size = 128          # then the experiment's own choices

An experiment file (`configs/<name>.py`) defines `get_config(arg)` on top of this; `arg` is a
comma-separated list of variants such as `quick` (the smoke-test size), e.g.
`--config=configs/reverse.py:long,quick`. The config is locked, so a misspelt override
(`--config.lerning_rate=...`) is an error rather than a silently ignored field.
"""

from collections.abc import Callable, Mapping

import ml_collections
from ml_collections.config_dict import placeholder

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models.model_config import get_model_config


def base_config(data_name: str, **data_overrides) -> ml_collections.ConfigDict:
  """Training defaults for dataset `data_name` (see `attn_seq2seq.data.get_data_config`)."""
  from attn_seq2seq.data.datasets import get_data_config  # noqa: PLC0415  (TFDS; configs load this)

  config = ml_collections.ConfigDict()
  config.seed = 0  # model init, dropout and (unless data_order_seed is set) training-data order
  config.data_order_seed = placeholder(int)  # training-data order; None: follows `seed`
  config.seeds = ()  # stacked run of these seeds, e.g. --config.seeds=0,1,2 (members.py); (): solo
  config.learning_rates = ()  # per member of `seeds`, a learning-rate grid in one program; (): all
  # at learning_rate, e.g. --config.seeds=0,0,1,1 --config.learning_rates=1e-3,3e-3,1e-3,3e-3
  config.dtype = "float32"  # computation dtype: float32 | bfloat16 (accelerators); params stay f32

  config.batch_size = 64  # global: split over all devices of all hosts (must divide evenly)
  config.eval_batch_size = 128  # global batch of evaluation and greedy decoding
  config.num_train_steps = 10_000  # optimizer updates

  config.optimizer = "adam"  # adam | adamw | adadelta | sgd
  config.learning_rate = 1e-3  # peak learning rate (after warmup)
  config.lr_schedule = "constant"  # constant | warmup_rsqrt | cosine (all with linear warmup)
  config.warmup_steps = 0  # linear warmup from 0 over this many steps
  config.grad_clip_norm = 1.0  # clip gradients to this global norm (0 = no clipping)
  config.weight_decay = 0.0  # adamw only: decoupled weight decay
  config.momentum = 0.0  # sgd only: heavy-ball momentum (0 = plain SGD)
  config.adam_b1 = 0.9  # adam / adamw: first-moment decay
  config.adam_b2 = 0.999  # adam / adamw: second-moment decay
  config.adam_eps = 1e-8  # adam / adamw: denominator epsilon
  config.label_smoothing = 0.0  # uniform label smoothing of the training loss (0 = none)
  config.dropout = 0.0  # dropout rate of the model (embeddings, between layers, before output)

  config.log_every_steps = 100  # progress line + train/* scalars
  config.eval_every_steps = 1_000  # validation loss, greedy exact match, attention heatmaps
  config.checkpoint_every_steps = 1_000  # checkpoint (also at the end and on SIGTERM/SIGINT)
  config.max_checkpoints_to_keep = 3  # older checkpoints are deleted
  config.num_attention_plots = 3  # heatmaps of the first N validation examples per evaluation
  config.length_bucket_width = 10  # per-source-length results: buckets 1-9, 10-19, ...
  config.decode_max_len_a = 2.0  # output limit of every search: ceil(a * source length + b)
  config.decode_max_len_b = 10.0  # tokens (search.SearchSpec.of_experiment: max_len_a, _b)

  # Early stopping (training/early_stopping.py): evaluations every eval_every_steps; the model
  # kept and evaluated at the end is the best one by `metric`; num_train_steps stays the cap.
  config.early_stopping = early_stopping_config()
  # More evaluations at the end, named by their results keys (training/evaluation_variants.py),
  # comma-separated, e.g. "test/beam5,test_long/oracle_length,test_long/ablation_uniform"
  config.extra_evaluations = ""

  config.model = get_model_config()  # see attn_seq2seq/models/model_config.py
  config.model.dropout = config.get_ref("dropout")  # follows `config.dropout` (one knob)
  config.data = get_data_config(data_name, **data_overrides)  # see attn_seq2seq/data/datasets.py
  return config


def early_stopping_config() -> ml_collections.ConfigDict:
  """The `config.early_stopping` section; its defaults (patience 0) turn early stopping off."""
  section = ml_collections.ConfigDict()
  section.metric = "loss"  # validation metric watched: loss, exact_match, wer, bleu, ... (results)
  section.mode = "auto"  # max | min | auto: from the metric (loss, perplexity, wer, per: min)
  section.patience = 0  # stop after this many evaluations without improvement; 0 = off
  section.min_delta = 0.0  # an improvement must beat the best value by more than this
  return section


# Fields added after runs were first recorded, with the values that reproduce the behaviour of a
# run recorded without them: a config.json that lacks one matches a config holding that value
# (`training.workdir.config_differences`), so old runs resume and stay finished.
FIELDS_ADDED_LATER = {
  **{f"early_stopping.{k}": v for k, v in early_stopping_config().items()},
  "extra_evaluations": "",
  "data.reverse_source": False,
  **{
    f"model.{k}": get_model_config()[k]
    for k in (
      "split_directions",
      "decoder_layers",
      "attention_ablation",
      "coverage",
      "coverage_loss_weight",
      "local_attention",
      "local_window",
    )
  },
}


def parse_variants(arg: str | None, valid: tuple[str, ...]) -> set[str]:
  """`'long,quick'` -> {'long', 'quick'}; an unknown variant is a one-line ConfigError."""
  variants = {v.strip() for v in (arg or "").split(",") if v.strip()}
  unknown = sorted(variants - set(valid))
  if unknown:
    raise ConfigError(f"unknown config variant(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
  return variants


def one_of(variants: set[str], group: tuple[str, ...], default: str) -> str:
  """The variant of `group` among `variants` (`default` if none): a config file's mutually
  exclusive variants, e.g. lengths `short | medium | long`; two of them is a one-line ConfigError.
  """
  chosen = [v for v in group if v in variants]
  if len(chosen) > 1:
    raise ConfigError(
      f"variants {', '.join(chosen)} exclude each other; allowed: one of {', '.join(group)}"
    )
  return chosen[0] if chosen else default


ALGORITHMIC_LENGTHS = ("short", "medium", "long")
ConfigEdit = Callable[[ml_collections.ConfigDict], None]


def algorithmic_config(task: str, length: str, num_train_steps: int) -> ml_collections.ConfigDict:
  """What the algorithmic tasks (copy, reverse, sort, addition) share, for `length` in
  ALGORITHMIC_LENGTHS (see `algorithmic_task_config` for a whole `get_config`)."""
  config = base_config(f"algorithmic/{task}_{length}")
  config.data.num_buckets = 4  # few compiled shapes; padding stays modest
  config.model.embed_size = 128  # symbol embeddings
  config.model.hidden_size = 256  # per encoder direction and decoder
  config.model.attention_size = 256  # additive scorer's hidden layer
  config.batch_size = 64  # global batch
  config.learning_rate = 1e-3  # adam
  config.num_train_steps = num_train_steps  # longer sources need more updates
  return config


def algorithmic_task_config(
  task: str,
  arg: str | None,
  steps: Mapping[str, int],
  *,
  default_length: str = "medium",
  output_slack: float = 5.0,
  task_fields: ConfigEdit | None = None,
  variants: Mapping[str, ConfigEdit] | None = None,
) -> ml_collections.ConfigDict:
  """`configs/<task>.py`'s `get_config(arg)` for an algorithmic task.

  Args:
    task: copy, reverse, sort or addition.
    arg: comma-separated variants: at most one length of ALGORITHMIC_LENGTHS, `quick` (a tiny
      smoke test, applied last), and the names in `variants`.
    steps: training steps per length.
    default_length: the length without a length variant.
    output_slack: outputs are at most as long as the source plus this many tokens (EOS included).
    task_fields: sets the task's own fields on the config (before any variant).
    variants: more variants, each a function setting its fields (before `quick`).
  """
  variants = variants or {}
  chosen = parse_variants(arg, (*ALGORITHMIC_LENGTHS, *variants, "quick"))
  length = one_of(chosen, ALGORITHMIC_LENGTHS, default_length)  # at most one length
  config = algorithmic_config(task, length, num_train_steps=steps[length])
  config.decode_max_len_a = 1.0  # outputs are as long as the source ...
  config.decode_max_len_b = output_slack  # ... plus EOS and some slack
  if task_fields is not None:
    task_fields(config)
  for name, set_fields in variants.items():
    if name in chosen:
      set_fields(config)
  if "quick" in chosen:
    make_quick(config)
  return config


def make_quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks `config` in place to a smoke test: a tiny model, a few steps, little data (and for
  the generated datasets, little to generate)."""
  config.model.embed_size = 16
  config.model.hidden_size = 16
  config.model.attention_size = 16
  config.batch_size = 8
  config.eval_batch_size = 8
  config.num_train_steps = 4
  config.log_every_steps = 2
  config.eval_every_steps = 2
  config.checkpoint_every_steps = 2
  config.num_attention_plots = 1
  config.data.num_buckets = 1
  if config.data.name.split("/")[0] in ("algorithmic", "dates"):
    config.data.num_train = 200  # generated in about a second
    config.data.num_eval = 16  # pairs per evaluation split
  return config
