"""Which attention scorer, with the decoder held fixed: the score functions Luong et al. 2015
compare (their Section 3.1: dot, general, location, concat), Bahdanau's additive scorer, scaled
dot product and cosine similarity, as functions rather than initialisations.

    python scripts/reproduce.py scorers --preset=cpu                  # sweep + report, < 60 min
    python scripts/run_sweep.py --sweep=experiments/scorers.py --root=runs/scorers   # full size
    python scripts/summarize.py --root=runs/scorers

Six scorers (`dot`, `scaled_dot`, `general`, `additive`, `cosine`, `location`) with the `luong`
decoder on `reverse`. The encoder gives each direction hidden_size / 2 units
(`model.split_directions`, OpenNMT-py's `brnn` convention), so the keys are as wide as the
decoder's query and `dot` is Luong's parameter-free h_t . h_s: with full-width directions the dot
family first maps the keys to the query size with a learned matrix, which makes `dot` and
`general` one function class that differs only by initialisation. Now `dot` and `scaled_dot`
have no parameters, `general` its W_a, `cosine` a learned temperature, `additive` its MLP,
`location` a position layer; the report prints each count.

Each scorer gets the same tuning budget and trains to its own plateau: the learning rate is
chosen per scorer from LR_GRID on validation exact match (one trial per value with seed 0), then
seeds 1 and 2 train at the chosen value; early stopping on validation exact match (every 500
steps, patience 3, min_delta 0.001) with a cap; constant learning rate after a 100-step warmup.
So the scorers start from different logit scales (cosine's temperature, scaled_dot's 1/sqrt(d))
but each gets the learning rate that suits it, and the report gives final quality apart from
sample efficiency (steps and seconds to 0.95 validation exact match) and alignment quality (gold
attention mass, AER). `location` scores positions from the decoder state alone, with one output
per source position up to `max_src_len`: positions past the training lengths never receive a
gradient, so it cannot extrapolate to test_long by construction.

Variants (comma-separated after the colon): `cpu`, the preset published in docs/results/scorers/
(below); `bahdanau` for the Bahdanau decoder (previous state as query) instead of Luong's;
`quick`, a 6-run smoke test (one per scorer, quick config, seed 0, one learning rate).

The `cpu` preset (30 runs) uses sources of 1-20 symbols (configs/reverse.py:short, test_long
21-40), hidden size 32 (16 units per encoder direction) and a cap of 8,000 steps; the full
preset sources of 1-50 at hidden sizes 64 and 128. Sized from the previous preset's
measurements on the 2-core machine (AMD EPYC, 2026-11-30), where hidden 32 did not saturate any
scorer within 1,500 steps, so the scorers can still differ in final quality at this size.
"""

from attn_seq2seq.experiment_config import parse_variants
from attn_seq2seq.models import SCORERS
from attn_seq2seq.sweeps import define

LR_GRID = (3e-4, 1e-3, 3e-3)  # every scorer's learning-rate trials (seed 0), chosen on validation
SEEDS = (0, 1, 2)  # seed 0 tunes; 1 and 2 train at the chosen learning rate
TRAINING = {
  "model.split_directions": True,
  "lr_schedule": "constant",
  "warmup_steps": 100,
  "eval_every_steps": 500,
  "checkpoint_every_steps": 500,
  "early_stopping.metric": "exact_match",
  "early_stopping.patience": 3,
  "early_stopping.min_delta": 0.001,
  "extra_evaluations": "test_long/oracle_length",
}
CPU_OVERRIDES = {"num_train_steps": 8_000, "length_bucket_width": 5}
# Luong et al. 2015, Table 4 (WMT'14 En-De, BLEU of the global/local attention variants).
LUONG_ORDER = ("dot", "location", "general")


def get_sweep(arg: str | None = None) -> list[dict]:
  variants = parse_variants(arg, ("bahdanau", "cpu", "quick"))
  decoder = "bahdanau" if "bahdanau" in variants else "luong"
  quick, cpu = "quick" in variants, "cpu" in variants
  config = (
    "configs/reverse.py:" + ("short" if cpu or quick else "medium") + (",quick" if quick else "")
  )
  hidden_sizes = (16,) if quick else ((32,) if cpu else (64, 128))
  grid, seeds = ((1e-3,), (0,)) if quick else (LR_GRID, SEEDS)
  preset = {**TRAINING, **(CPU_OVERRIDES if cpu and not quick else {})}
  return [
    run
    for scorer in SCORERS
    for hidden in hidden_sizes
    for run in define.tuned_group(
      f"{decoder}_{scorer}_h{hidden}",
      config,
      {
        "model.decoder": decoder,
        "model.scorer": scorer,
        "model.hidden_size": hidden,
        "model.attention_size": hidden,
        **preset,
      },
      grid={"learning_rate": grid},
      seeds=seeds,
    )
  ]


# -- the report (scripts/reproduce.py) ------------------------------------------------------------


def findings(summary) -> list[str]:
  """Per hidden size: the scorers ranked by test exact match, which of them the 95% intervals
  separate, and how the order compares with Luong et al.'s. Computed from `summary`."""
  paragraphs = []
  for hidden in sorted({g.runs[0].config["model.hidden_size"] for g in summary.groups}):
    groups = summary.find(model__hidden_size=hidden)  # ranked best first
    stats = {g.runs[0].config["model.scorer"]: g.stats("test", "exact_match") for g in groups}
    order = list(stats)
    best, worst = order[0], order[-1]
    tied = [
      s
      for s in order[1:]
      if stats[s]["ci95"] and stats[best]["ci95"] and stats[s]["ci95"][1] >= stats[best]["ci95"][0]
    ]
    ranking = ", ".join(f"{s} {stats[s]['mean']:.4f}" for s in order)
    text = [f"**Hidden size {hidden}.** Test exact match, best first: {ranking}."]
    text.append(
      f"The 95% interval of {best} overlaps those of {', '.join(tied)}: three seeds do not "
      "separate them."
      if tied
      else f"{best}'s 95% interval lies above every other scorer's."
    )
    luong = [s for s in order if s in LUONG_ORDER]
    agrees = tuple(luong) == LUONG_ORDER
    additive_last_half = order.index("additive") >= len(order) / 2 if "additive" in order else None
    text.append(
      f"Among Luong et al.'s content scorers the order here is {' > '.join(luong)}, "
      + (
        "as in their Table 4 (dot > location > general)"
        if agrees
        else "where their Table 4 has dot > location > general"
      )
      + "; additive (their `concat`) ranks "
      + (
        f"{order.index('additive') + 1} of {len(order)}, "
        + (
          "in the lower half, as in their setup"
          if additive_last_half
          else "in the upper half, unlike their setup, where it was poor"
        )
        if additive_last_half is not None
        else "absent"
      )
      + f". {worst} is last at {stats[worst]['mean']:.4f}."
    )
    paragraphs.append(" ".join(text) + "\n")
  paragraphs.append(
    "Luong et al. compare BLEU on WMT'14 English-German after days of GPU training; here the "
    "measure is exact match on a synthetic reversal task after 1,500 CPU steps, so this ranks "
    "how fast each scorer learns a sharp, reordering alignment, not translation quality.\n"
  )
  return paragraphs


REPORT = {
  "title": "Attention scorers: which score function, at two model sizes",
  "question": (
    "With the decoder (Luong et al.'s, input feeding on), encoder, data and training budget "
    "held fixed, how much does the score function that compares the decoder state with "
    "each encoder state matter? Six scorers: `dot` h·s, `scaled_dot` h·s/√d, `general` "
    "hᵀWs, `additive` vᵀtanh(W[h;s]) (Bahdanau's, Luong's `concat`), `cosine` with a "
    "learned temperature, and `location` (W h, positions only), on reversing a sequence "
    "of symbols."
  ),
  "reference": (
    "Luong, Pham & Manning 2015, *Effective Approaches to Attention-based Neural Machine "
    "Translation*, Table 4 (WMT'14 English-German, global attention): dot 18.6, general "
    "17.3, location 18.1 BLEU; their concat (additive) scorer performed poorly in their "
    "setup (Section 4.4)."
  ),
  "metrics": ("exact_match", "token_accuracy"),
  "split": "test",
  "findings": findings,
}
