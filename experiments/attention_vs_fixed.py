r"""Attention versus a fixed-length vector, at equal parameter counts, as sources get longer: the
comparison this codebase exists for (Bahdanau et al. 2015, Fig. 2).

    python scripts/reproduce.py attention_vs_fixed --preset=cpu       # sweep + report, < 60 min
    python scripts/run_sweep.py --sweep=experiments/attention_vs_fixed.py \
        --root=runs/attention_vs_fixed                                # full size (accelerator)
    python scripts/summarize.py --root=runs/attention_vs_fixed

Arms, each with the bidirectional GRU encoder on `reverse` (configs/reverse.py; test_long holds
sources up to twice the longest training source):
  bahdanau       attention, previous state as query (additive scorer)
  luong          attention, current state as query (additive scorer), input feeding
  luong_cosine   Luong with the cosine scorer, which carried over beyond the training lengths in
                 experiments/scorers.py: does attention extrapolate, or does this scorer?
  fixed_init     Sutskever et al. 2014: the summary only initialises the decoder
  fixed_context  Cho et al. 2014: the summary initialises the decoder and enters every step
  sutskever      fixed_init as Sutskever et al. published it: a 2-layer decoder reading the
                 reversed source (`data.reverse_source`)

Equal budgets, computed rather than guessed: the budget `h<N>` is the parameter count of the
Bahdanau model with hidden size N (attention size N); every other arm gets the hidden size at
which its own count is closest to that (`define.matched_hidden_sizes`, exact from the parameter
shapes). Each run records which arm it was matched to (`size_matched_to`, in ROOT/sweep.json) and
its config.json its real count.

Every arm gets the same tuning budget and is trained to its own best (../shared/SCIENCE.md):
the learning rate is chosen per arm from LR_GRID on validation exact match (one trial per value
with seed 0, `define.tuned_group`), then seeds 1 and 2 train at the chosen value; every run stops
early when validation exact match has not improved by more than 0.001 in 3 evaluations (every
500 steps; the best checkpoint is evaluated), with a cap of `num_train_steps`, and its learning
curve is published so a reader sees whether the cap was hit. The learning rate is constant after
a 100-step warmup: a decay schedule would tie the rate to the cap. At the end every run is also
decoded with oracle lengths (EOS suppressed until the output is as long as the source: does the
model stop early?), and the attention arms with their attention ablated (uniform weights,
shuffled weights, zero context: how much does the model rely on it?).

Variants (comma-separated after the colon): `cpu`, the preset published in
docs/results/attention_vs_fixed/ (below); `copy` instead of `reverse`; `short` / `long` for the
length ranges 1-20 / 1-100 instead of 1-50; `quick`, a smoke test (quick configs, one tiny budget,
one learning rate, seeds 0 and 1); `stacked` / `solo`: each group's learning-rate x seed grid as one
stacked run (one compiled program, training/members.py; the default of the full size, made for an
accelerator) or as one run per trial and seed (the default of `cpu` and `quick`).

The `cpu` preset asks the question at laptop scale: `reverse` with sources of 1-20 symbols
(test_long: 21-40), one budget (Bahdanau at hidden 64; the others matched to its count), a cap of
8,000 steps, length buckets 5 symbols wide (4 points in distribution, 4 beyond). 30 runs. Sized
from the previous preset's measurements on the 2-core machine (AMD EPYC, 2026-11-30: Bahdanau at
hidden 64 trains about 90 steps/s and reached 1.000 test exact match within 3,000 steps; the
fixed-vector arms were still improving at 3,000): the attention arms stop early, the
fixed-vector arms run up to the cap, about 2 minutes each.
"""

import re

from attn_seq2seq.data import algorithmic
from attn_seq2seq.experiment_config import ALGORITHMIC_LENGTHS, parse_variants
from attn_seq2seq.sweeps import define, sweep
from attn_seq2seq.sweeps import findings as say
from attn_seq2seq.sweeps.summary import length_curve
from attn_seq2seq.tokens import RESERVED_TOKENS

REFERENCE = "bahdanau"  # the arm whose parameter count sets each budget
# Arm -> the ModelConfig fields that make it.
ARMS = {
  "bahdanau": {"decoder": "bahdanau"},
  "luong": {"decoder": "luong"},
  "luong_cosine": {"decoder": "luong", "scorer": "cosine"},
  "fixed_init": {"decoder": "fixed_init"},
  "fixed_context": {"decoder": "fixed_context"},
  "sutskever": {"decoder": "fixed_init", "decoder_layers": 2},
}
ATTENTION = ("bahdanau", "luong", "luong_cosine")
FIXED = ("fixed_init", "fixed_context", "sutskever")
ARM_DATA = {"sutskever": {"data.reverse_source": True}}  # what an arm changes beyond the model
LR_GRID = (3e-4, 1e-3, 3e-3)  # every arm's learning-rate trials (seed 0), chosen on validation
SEEDS = (0, 1, 2)  # seed 0 tunes; 1 and 2 train at the chosen learning rate
# Training to each run's own best: early stopping on validation exact match, the cap the config's
# num_train_steps (the `cpu` preset sets its own).
TRAINING = define.trained_to_best("exact_match", patience=3, min_delta=0.001, every=500, warmup=100)
CPU_OVERRIDES = {"num_train_steps": 8_000, "length_bucket_width": 5}
ORACLE = "test/oracle_length,test_long/oracle_length"
ABLATIONS = ",".join(
  f"{split}/ablation_{kind}"
  for split in ("test", "test_long")
  for kind in ("uniform", "shuffled", "zero_context")
)


def get_sweep(arg: str | None = None) -> list[dict]:
  variants = parse_variants(arg, ("copy", *ALGORITHMIC_LENGTHS, "cpu", "quick", "stacked", "solo"))
  task = "copy" if "copy" in variants else "reverse"
  cpu, quick = "cpu" in variants, "quick" in variants
  # the full size stacks each group's learning-rate x seed grid into one run (an accelerator)
  stacked = define.stacks_seeds(variants, solo_by_default=cpu or quick)
  length = next((v for v in ALGORITHMIC_LENGTHS if v in variants), "short" if cpu else "medium")
  config = f"configs/{task}.py:{length}" + (",quick" if quick else "")
  budgets = (16,) if quick else ((64,) if cpu else (128, 256))
  grid, seeds = ((1e-3,), (0, 1)) if quick else (LR_GRID, SEEDS)
  preset = {**TRAINING, **(CPU_OVERRIDES if cpu and not quick else {})}
  runs = []
  for budget in budgets:
    hidden_sizes = matched_hidden_sizes(config, budget)
    for arm, fields in ARMS.items():
      extra = ORACLE + ("," + ABLATIONS if arm in ATTENTION else "")
      overrides = {
        **{f"model.{k}": v for k, v in fields.items()},
        "model.hidden_size": hidden_sizes[arm],
        "model.attention_size": budget,
        **ARM_DATA.get(arm, {}),
        **preset,
        "extra_evaluations": extra,
      }
      runs += define.tuned_group(
        f"{arm}_h{budget}",
        config,
        overrides,
        grid={"learning_rate": grid},
        seeds=seeds,
        stacked=stacked,
        size_matched_to=f"{REFERENCE}_h{budget}",
      )
  return runs


def matched_hidden_sizes(config: str, budget: int) -> dict[str, int]:
  """Arm -> the hidden size at which it has as many parameters as the reference arm at hidden
  (and attention) size `budget`."""
  vocab = vocab_size(sweep.run_config({"name": "vocab", "config": config, "overrides": {}}))
  return define.matched_hidden_sizes(config, budget, ARMS, vocab, vocab, REFERENCE)


def vocab_size(config) -> int:
  """Source (= target) vocabulary size of a copy/reverse config: every symbol (the training split
  contains them all) plus the reserved tokens. tests/test_sweeps.py checks it against the
  vocabulary a trained run builds."""
  preset = algorithmic.Algorithmic.builder_configs[config.data.name.split("/")[1]]
  return (config.data.num_symbols or preset.num_symbols) + len(RESERVED_TOKENS)


# -- the report (scripts/reproduce.py) ------------------------------------------------------------

LEVELS = (0.5, 0.9, 0.99)  # validation exact match levels whose cost the report tabulates


def arm_of(group) -> str | None:
  """The arm (ARMS) a group of runs is: its runs are named `<arm>_h<budget>_...` (solo) or
  `<arm>_h<budget>/members/...` (a stacked grid's members)."""
  match = re.match(r"(.+)_h[0-9]+[_/]", group.runs[0].name)  # a stack's member: <arm>_h<N>/...
  return match.group(1) if match and match.group(1) in ARMS else None


def findings(summary) -> list[str]:
  """What the numbers show, per budget: in distribution, how the fixed-vector arms were trained,
  by length, beyond the training lengths and why (diagnostics), and how that compares with
  Bahdanau et al. Every number and verdict is computed from `summary`."""
  paragraphs = []
  for budget in sorted({g.runs[0].config["model.attention_size"] for g in summary.arms}):
    arms = {
      arm_of(g): g for g in summary.arms if g.runs[0].config["model.attention_size"] == budget
    }
    arms.pop(None, None)
    paragraphs += [
      _in_distribution(summary, arms, budget),
      say.trained_to_best(
        summary,
        {a: arms[a] for a in (*ATTENTION, *FIXED) if a in arms},
        "exact_match",
        "the gap to attention is partly training budget",
      ),
      _beyond(summary, arms),
    ]
  paragraphs.append(_paper())
  return [p for p in paragraphs if p]


def _in_distribution(summary, arms, budget) -> str:
  attention = [a for a in ATTENTION if a in arms]
  fixed = [a for a in FIXED if a in arms]
  params = next(iter(arms.values())).runs[0].num_params
  listed = lambda names, split: "; ".join(
    f"{a} {say.value(arms[a], split, 'exact_match')}" for a in names
  )
  text = [
    f"**Budget h{budget}** (about {params:,} parameters each). In distribution (test, exact "
    f"match): attention {listed(attention, 'test')}; fixed vector {listed(fixed, 'test')}."
  ]
  if attention and fixed:
    best = max(attention, key=lambda a: say.mean(arms[a], "test", "exact_match"))
    text.append(
      "Differences: "
      + "; ".join(
        say.compared(summary, arms[best], arms[f], "test", "exact_match", best, f) for f in fixed
      )
      + "."
    )
  curves = {a: summary_curve(arms[a], "test") for a in arms}
  if attention and fixed and all(curves.values()):
    labels = curves[attention[0]][0]
    falls = "; ".join(
      f"{a} from {curves[a][1][0]:.3f} ({labels[0]} symbols) to {curves[a][1][-1]:.3f} "
      f"({labels[-1]})"
      for a in fixed
    )
    lowest = min(min(curves[a][1]) for a in attention)
    text.append(
      f"By source length, exact match falls for {falls}; no attention arm's length bucket is "
      f"below {lowest:.3f}."
    )
    degrades = all(curves[a][1][-1] < curves[a][1][0] - 0.1 for a in fixed)
    text.append(
      "This is the shape of Bahdanau et al.'s Fig. 2 within the training lengths: the "
      "fixed-length vector degrades as sources get longer and attention does not."
      if degrades and lowest >= 0.95
      else "This is not the shape of Bahdanau et al.'s Fig. 2, where the fixed-vector model "
      "degrades with length and the attention model does not."
    )
  return " ".join(text) + "\n"


def _beyond(summary, arms) -> str:
  long = [a for a in (*ATTENTION, *FIXED) if a in arms]
  text = [
    "**Beyond the training lengths** (test_long, exact match): "
    + "; ".join(f"{a} {say.value(arms[a], 'test_long', 'exact_match')}" for a in long)
    + "."
  ]
  if "luong" in arms and "luong_cosine" in arms:
    text.append(
      "The scorer matters here: "
      + say.compared(
        summary,
        arms["luong_cosine"],
        arms["luong"],
        "test_long",
        "exact_match",
        "cosine",
        "additive (both Luong)",
      )
      + "."
    )
  diagnosed = (say.diagnosis(arms[arm], arm) for arm in ATTENTION if arm in arms)
  text += [d for d in diagnosed if d is not None]
  return " ".join(text) + "\n"


def _paper() -> str:
  return (
    "**Against the paper.** Bahdanau et al. 2015 (Fig. 2 and its discussion) describe "
    "RNNsearch-30 as more robust to sentence length than RNNencdec-30 and RNNsearch-50 as showing "
    "no deterioration up to and beyond 50 words; RNNsearch-30 also degrades beyond the lengths it "
    "was trained on. Their figure is BLEU on English-French translation; here the measure is "
    "exact match on reversal at laptop scale, so only the shape is comparable. (The paper could "
    "not be opened from the machine that wrote this report; its figure is described as it was "
    "given to this project.)\n"
  )


def summary_curve(group, split: str) -> tuple[list[str], list[float]] | None:
  """(bucket labels, mean exact match over the group's seeds) on `split`, or None."""
  curve = length_curve(group, split, "exact_match")
  return None if curve is None else (list(curve), [c["mean"] for c in curve.values()])


REPORT = {
  "title": "Attention versus a fixed-length vector, by source length",
  "question": (
    "Does a decoder that attends to every encoder state keep working as sources get longer, "
    "where one that sees only a fixed-length summary of the source does not? Six arms share the "
    "bidirectional GRU encoder and have equal parameter counts (each arm's hidden size is "
    "solved for the Bahdanau model's count): attention (`bahdanau`, `luong`, `luong_cosine`) "
    "and one summary vector (`fixed_init` = Sutskever et al. 2014, `fixed_context` = Cho et al. "
    "2014, `sutskever` = fixed_init with a 2-layer decoder reading the reversed source, as "
    "Sutskever et al. published it). Every arm gets the same learning-rate search and trains to "
    "its own best. The task is reversing a sequence of symbols."
  ),
  "reference": (
    "Bahdanau, Cho & Bengio 2015, *Neural Machine Translation by Jointly Learning to Align "
    "and Translate*, Fig. 2: BLEU against sentence length for RNNencdec-30/50 (fixed vector) and "
    "RNNsearch-30/50 (attention) on English-French. RNNencdec falls steadily with length; "
    "RNNsearch-50 does not deteriorate; RNNsearch-30 is more robust than RNNencdec but also "
    "degrades beyond its training lengths. Sutskever et al. 2014 reversed the source and used "
    "deep (4-layer) LSTMs; the `sutskever` arm here has 2 GRU layers at the shared budget."
  ),
  "metrics": ("exact_match", "token_accuracy"),
  "split": "test",
  "findings": findings,
  "levels": LEVELS,
  "diagnose": "test_long",
  "compute": True,
}
