"""Evaluations beyond the plain one, named by the results.json key they write: a split decoded
with another search, or by the trained model with its attention ablated.

    config.extra_evaluations = "test/beam5,test_long/oracle_length,test_long/ablation_uniform"

A key is `<split>` followed by parts, in this order:
  beam<K>               beam search with K hypotheses (`/alpha<A>`: GNMT length normalisation)
  oracle_length         no output ends before its source's length (EOS suppressed until then):
                        does the model stop early?
  ablation_<kind>       the model's attention replaced at every step (uniform, shuffled,
                        zero_context; models/attention_ablation.py): how much it relies on it
The search parts spell what `inference/evaluate.py`'s `results_key` writes for the same search,
so a run's results.json reads the same whichever command evaluated it. The final evaluation of
`train_and_evaluate` runs each key after the plain splits, with the selected step's parameters,
and writes its metrics and per-example outcomes under it.
"""

import dataclasses
import re
from collections.abc import Sequence

from attn_seq2seq.errors import ConfigError
from attn_seq2seq.models.attention_ablation import ATTENTION_ABLATIONS

_PARTS = (
  ("beam", re.compile(r"beam([1-9][0-9]*)")),
  ("alpha", re.compile(r"alpha([0-9]+(?:\.[0-9]+)?)")),
  ("oracle_length", re.compile(r"oracle_length")),
  ("ablation", re.compile(r"ablation_([a-z_]+)")),
)
_GRAMMAR = "<split>[/beam<K>[/alpha<A>]][/oracle_length][/ablation_<kind>]"


@dataclasses.dataclass(frozen=True)
class Variant:
  """One extra evaluation: what to decode and how."""

  key: str  # its results.json key, e.g. 'test_long/oracle_length'
  split: str
  beam_size: int = 1
  alpha: float = 0.0
  oracle_length: bool = False
  ablation: str = "none"  # ModelConfig.attention_ablation of the evaluated model

  def search_changes(self) -> dict:
    """The SearchSpec fields this variant changes (min_len 1 x source + 0: oracle length)."""
    changes = {"beam_size": self.beam_size, "alpha": self.alpha}
    if self.oracle_length:
      changes.update(min_len_a=1.0, min_len_b=0.0)
    return changes


def parse_variant(key: str, splits: tuple[str, ...]) -> Variant:
  """The Variant a key names (see the module docstring); a one-line ConfigError naming the key,
  the grammar and the splits for anything else (an unknown split or part, parts out of order,
  a plain split, which the final evaluation scores anyway)."""
  split, *parts = str(key).split("/")
  if split not in splits:
    raise ConfigError(
      f"extra_evaluations: {key!r} names no evaluation split; splits: {', '.join(splits)}"
    )
  values, last = {}, -1
  for part in parts:
    found = [(i, name, m) for i, (name, rx) in enumerate(_PARTS) if (m := rx.fullmatch(part))]
    if not found or found[0][0] <= last:
      raise ConfigError(f"extra_evaluations: {key!r} is not {_GRAMMAR} (parts in that order)")
    last, name, match = found[0]
    values[name] = match.group(1) if match.groups() else True
  if not values:
    raise ConfigError(f"extra_evaluations: {key!r} is the plain split, evaluated anyway")
  if "alpha" in values and "beam" not in values:
    raise ConfigError(f"extra_evaluations: {key!r}: alpha only applies to beam search")
  ablation = values.get("ablation", "none")
  if "ablation" in values and (ablation not in ATTENTION_ABLATIONS or ablation == "none"):
    valid = ", ".join(a for a in ATTENTION_ABLATIONS if a != "none")
    raise ConfigError(f"extra_evaluations: {key!r}: unknown ablation {ablation!r}; valid: {valid}")
  return Variant(
    key=key,
    split=split,
    beam_size=int(values.get("beam", 1)),
    alpha=float(values.get("alpha", 0.0)),
    oracle_length=bool(values.get("oracle_length", False)),
    ablation=ablation,
  )


def parse_variants(keys: str | Sequence[str], splits: tuple[str, ...]) -> list[Variant]:
  """Every key of `config.extra_evaluations` (comma-separated, or a sequence) parsed; a repeated
  key is a one-line error."""
  keys = [k.strip() for k in keys.split(",") if k.strip()] if isinstance(keys, str) else list(keys)
  if len(set(keys)) != len(keys):
    raise ConfigError(f"extra_evaluations repeats a key: {keys}")
  return [parse_variant(key, splits) for key in keys]
