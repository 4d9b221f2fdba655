"""What a search takes (`SearchSpec`) and what it returns (`SearchOutput`, whose `best()` is a
`Best`).

    spec = SearchSpec(beam_size=5, alpha=0.6, n_best=3, max_len_a=2.0, max_len_b=10.0)
    out = decode(model, variables, src_ids, src_lengths, spec)   # out.tokens [batch, 3, steps]
    best = out.best()                                            # best.tokens [batch, steps]

`SearchSpec.algorithm` is the one place where greedy or beam search is chosen (`beam_size` 1:
greedy). A spec is frozen and hashable: `decode` compiles once per (spec, shapes).
"""

import dataclasses
import math
import numbers
from typing import NamedTuple

import jax
import ml_collections

from attn_seq2seq.choices import check_choice
from attn_seq2seq.errors import ConfigError

# How an ensemble's next-token distributions combine (stepping.combine): the normalised geometric
# mean (average log-probability, the default) or the arithmetic mean (average probability).
ENSEMBLE_COMBINATIONS = ("log_linear", "linear")


# The largest length-normalisation exponent: GNMT's is 0.6-1; ((5 + 200) / 6) ** 10 is ~1e15,
# far past any useful value and still finite in float32 scores.
MAX_ALPHA = 10.0


@dataclasses.dataclass(frozen=True)
class SearchSpec:
  """The options of a search. Construction checks every value (a one-line `ConfigError`, also a
  `ValueError`, naming the value and what is allowed) before anything is traced or compiled.

  The output length limit of sentence b is `ceil(max_len_a * src_lengths[b] + max_len_b)` tokens,
  EOS included, clipped to `[1, max_steps]`; at that position only EOS is allowed. Its minimum
  length is `ceil(min_len_a * src_lengths[b] + min_len_b)` tokens, EOS excluded (clipped below
  the limit): until then EOS is suppressed, and PAD, which the metrics also read as the end of an
  output (their log-probabilities set to -inf for the search; the tokens chosen keep their model
  log-probabilities). Oracle-length decoding (`min_len_a=1`,
  `min_len_b=0`) asks whether a model stops early: no output is shorter than its source.
  """

  beam_size: int = 1  # 1: greedy search; K > 1: beam search keeping K hypotheses per sentence
  n_best: int = 1  # hypotheses returned per sentence, best first (1 <= n_best <= beam_size)
  alpha: float = 0.0  # GNMT length normalisation of scores, ((5 + len) / 6) ** alpha; 0: none
  coverage_penalty: float = 0.0  # GNMT coverage penalty weight beta (beam search ranking); 0: none
  max_len_a: float = 1.5  # output limit: ceil(max_len_a * source length + max_len_b) tokens,
  max_len_b: float = 10.0  # EOS included
  min_len_a: float = 0.0  # minimum output: ceil(min_len_a * source length + min_len_b) tokens,
  min_len_b: float = 0.0  # EOS excluded (EOS suppressed until then); 0, 0: none
  max_steps: int | None = None  # output buffer length (static); None: the limit of src_ids' width
  ensemble: str = "log_linear"  # how an ensemble's members combine: log_linear | linear

  def __post_init__(self):
    _check(
      _is_int(self.beam_size) and self.beam_size >= 1,
      "beam_size",
      self.beam_size,
      "an integer >= 1 (1: greedy search)",
    )
    _check(
      _is_int(self.n_best) and 1 <= self.n_best <= self.beam_size,
      "n_best",
      self.n_best,
      f"an integer from 1 to beam_size={self.beam_size}",
    )
    _check(
      _finite(self.alpha) and 0 <= self.alpha <= MAX_ALPHA,
      "alpha",
      self.alpha,
      f"a number from 0 to {MAX_ALPHA:g} (the stopping bound of beam search assumes >= 0; "
      "beyond, ((5 + len) / 6) ** alpha overflows)",
    )
    for name in ("coverage_penalty", "max_len_a", "max_len_b", "min_len_a", "min_len_b"):
      value = getattr(self, name)
      _check(_finite(value) and value >= 0, name, value, "a finite number >= 0")
    check_choice("ensemble combination", self.ensemble, ENSEMBLE_COMBINATIONS)
    _check(
      self.max_steps is None or (_is_int(self.max_steps) and self.max_steps >= 1),
      "max_steps",
      self.max_steps,
      "None or an integer >= 1",
    )

  @property
  def algorithm(self) -> str:
    """`'greedy'` for `beam_size == 1`, else `'beam'`: where the choice is made, once."""
    return "greedy" if self.beam_size == 1 else "beam"

  @property
  def has_min_len(self) -> bool:
    """Whether EOS is suppressed until a minimum output length."""
    return bool(self.min_len_a or self.min_len_b)

  @property
  def oracle_length(self) -> bool:
    """Oracle-length decoding: no output (EOS excluded) shorter than its source."""
    return self.min_len_a == 1 and self.min_len_b == 0

  @classmethod
  def of_experiment(cls, config: ml_collections.ConfigDict, **options) -> "SearchSpec":
    """The spec of a run trained with experiment `config`: its output length limit
    (`decode_max_len_a`, `decode_max_len_b`), then `options` (SearchSpec fields, which win)."""
    limits = {"max_len_a": config.decode_max_len_a, "max_len_b": config.decode_max_len_b}
    return cls(**{**limits, **options})


class Best(NamedTuple):
  """The best hypothesis of each sentence (`SearchOutput.best()`), without the n-best axis."""

  tokens: jax.Array  # [batch, max_steps] int32, ending with EOS, PAD after it
  lengths: jax.Array  # [batch] int32, output tokens including EOS
  log_probs: jax.Array  # [batch] float32
  scores: jax.Array  # [batch] float32
  attn_weights: jax.Array  # [batch, max_steps, src_len] float32


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SearchOutput:
  """What `decode` returns, for greedy and beam search alike: the `n_best` hypotheses of each
  sentence, best first (greedy: its one output).

  tokens:       `[batch, n_best, max_steps]` int32, ending with EOS, PAD after it.
  lengths:      `[batch, n_best]` int32, number of output tokens including EOS (0: an empty slot,
                when a sentence has fewer than n_best possible outputs; its log_prob is -inf).
  log_probs:    `[batch, n_best]` float32, model log-probability of the output (the sum of its
                token log-probabilities, EOS included).
  scores:       `[batch, n_best]` float32, what beam search ranks by: `log_probs /
                length_penalty(lengths, alpha)`, plus the coverage penalty of the output's
                attention when `coverage_penalty` > 0 (`scoring.coverage_penalty`).
  attn_weights: `[batch, n_best, max_steps, src_len]` float32, attention of each output token
                (0 after EOS).
  steps:        `[]` int32, decoder steps the loop ran (the longest output of the batch).
  """

  tokens: jax.Array
  lengths: jax.Array
  log_probs: jax.Array
  scores: jax.Array
  attn_weights: jax.Array
  steps: jax.Array

  def best(self) -> Best:
    """The first (best) hypothesis of each sentence, `[batch, ...]`."""
    return Best(
      self.tokens[:, 0],
      self.lengths[:, 0],
      self.log_probs[:, 0],
      self.scores[:, 0],
      self.attn_weights[:, 0],
    )


def _is_int(value) -> bool:
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _finite(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check(ok: bool, name: str, value, allowed: str) -> None:
  if not ok:
    raise ConfigError(f"{name}={value} is out of range; allowed: {allowed}")
