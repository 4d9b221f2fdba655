"""Attention versus a fixed-length vector, at equal parameter counts, as sources get longer: the
comparison this codebase exists for (Bahdanau et al. 2015, Fig. 2).

    python scripts/run_sweep.py --sweep=experiments/attention_vs_fixed.py \
        --root=runs/attention_vs_fixed
    python scripts/summarize.py --root=runs/attention_vs_fixed

Compares the four decoders (`bahdanau`, `luong`, `fixed_init` = Sutskever et al. 2014,
`fixed_context` = Cho et al. 2014) on `reverse` (configs/reverse.py, sources of 1-50 symbols;
test_long has 51-100, longer than anything seen in training), at two parameter budgets x seeds
0, 1, 2: 4 x 2 x 3 = 24 runs. The question is whether the gap between attention and a single
summary vector grows with source length, in distribution (test) and beyond it (test_long);
summarize.py draws exact match against source length, one line per decoder and budget.

Equal budgets, computed rather than guessed: the budget `h<N>` is the parameter count of the
Bahdanau model with hidden size N (attention size N, embeddings as in the config); every other
decoder gets the hidden size at which its own count is closest to that
(`attn_seq2seq.models.matching_hidden_size`, exact from the parameter shapes), e.g. about 1.5 N
for `fixed_init`. Luong is matched too: at equal hidden size it has about 20% fewer parameters
than Bahdanau, which would confound placement with size. Each run records which run it was matched
to (`size_matched_to`, in ROOT/sweep.json), and its config.json records its real count. The scorer
stays `additive` for both attention decoders, so they differ only in where attention sits.

Variants (comma-separated after the colon): `copy` instead of `reverse`; `short` / `long` for
the length ranges 1-20 / 1-100 instead of 1-50; `quick`, a 4-run smoke test (quick configs, one
tiny budget, seed 0).
"""

from attn_seq2seq import sweep
from attn_seq2seq.config import ALGORITHMIC_LENGTHS, parse_variants
from attn_seq2seq.data import algorithmic
from attn_seq2seq.data.vocab import RESERVED_TOKENS
from attn_seq2seq.models import count_params, matching_hidden_size
from attn_seq2seq.models.params import abstract_params

REFERENCE = "bahdanau"  # the model whose parameter count sets each budget
DECODERS = (REFERENCE, "luong", "fixed_init", "fixed_context")


def get_sweep(arg: str | None = None) -> list[dict]:
  variants = parse_variants(arg, ("copy", *ALGORITHMIC_LENGTHS, "quick"))
  task = "copy" if "copy" in variants else "reverse"
  length = next((v for v in ALGORITHMIC_LENGTHS if v in variants), "medium")
  quick = "quick" in variants
  config = f"configs/{task}.py:{length}" + (",quick" if quick else "")
  budgets, seeds = ((16,), (0,)) if quick else ((128, 256), (0, 1, 2))

  runs = []
  for budget in budgets:
    hidden_sizes = matched_hidden_sizes(config, budget)
    for decoder in DECODERS:
      for seed in seeds:
        runs.append({
            "name": f"{decoder}_h{budget}_s{seed}",
            "config": config,
            "overrides": {"model.decoder": decoder, "model.hidden_size": hidden_sizes[decoder],
                          "model.attention_size": budget, "seed": seed},
            "size_matched_to": f"{REFERENCE}_h{budget}_s{seed}",
        })
  return runs


def matched_hidden_sizes(config: str, budget: int) -> dict[str, int]:
  """decoder -> the hidden size at which it has as many parameters as the reference decoder at
  hidden (and attention) size `budget`."""
  reference = sweep.run_config({"name": f"{REFERENCE}_h{budget}", "config": config, "overrides": {
      "model.decoder": REFERENCE, "model.hidden_size": budget, "model.attention_size": budget}})
  model = reference.model.copy_and_resolve_references()
  vocab = vocab_size(reference)
  target = count_params(abstract_params(model, vocab, vocab))
  sizes = {REFERENCE: budget}
  for decoder in DECODERS[1:]:
    model.decoder = decoder
    sizes[decoder] = matching_hidden_size(model, target, vocab, vocab)
  return sizes


def vocab_size(config) -> int:
  """Source (= target) vocabulary size of a copy/reverse config: every symbol (the training split
  contains them all) plus the reserved tokens. tests/test_sweeps.py checks it against the
  vocabulary a trained run builds."""
  preset = algorithmic.Algorithmic.builder_configs[config.data.name.split("/")[1]]
  return (config.data.num_symbols or preset.num_symbols) + len(RESERVED_TOKENS)
