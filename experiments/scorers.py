"""Which attention scorer, with the decoder held fixed: the score functions Luong et al. 2015
compare (their Section 3.1: dot, general, location, and Bahdanau's additive `concat`), plus scaled
dot product and cosine similarity.

    python scripts/run_sweep.py --sweep=experiments/scorers.py --root=runs/scorers
    python scripts/summarize.py --root=runs/scorers

Six scorers (`dot`, `scaled_dot`, `general`, `additive`, `cosine`, `location`) x hidden size
64, 128 (attention size the same) x seeds 0, 1, 2 = 36 runs of the `luong` decoder on `dates`
(configs/dates.py): short character sequences whose alignment reorders fields (day, month name,
year -> year, month, day), so content-based scorers should beat `location`, which scores source
positions from the decoder state alone. The sizes bracket the config's 128. Parameter counts
differ by a few percent between scorers (additive has an MLP, location a position layer);
summarize.py prints them.

Variants (comma-separated after the colon): `bahdanau` for the Bahdanau decoder (previous state
as query) instead of Luong's; `quick`, a 6-run smoke test (one per scorer, quick config, seed 0).
"""

from attn_seq2seq.config import parse_variants
from attn_seq2seq.models import SCORERS


def get_sweep(arg: str | None = None) -> list[dict]:
  variants = parse_variants(arg, ("bahdanau", "quick"))
  decoder = "bahdanau" if "bahdanau" in variants else "luong"
  quick = "quick" in variants
  config = "configs/dates.py" + (":quick" if quick else "")
  hidden_sizes, seeds = ((16,), (0,)) if quick else ((64, 128), (0, 1, 2))
  return [
      {"name": f"{decoder}_{scorer}_h{hidden}_s{seed}",
       "config": config,
       "overrides": {"model.decoder": decoder, "model.scorer": scorer,
                     "model.hidden_size": hidden, "model.attention_size": hidden, "seed": seed}}
      for scorer in SCORERS for hidden in hidden_sizes for seed in seeds
  ]
