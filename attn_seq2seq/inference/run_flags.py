"""The command-line flags that `python -m attn_seq2seq.translate` and `python -m
attn_seq2seq.evaluate` share (which run, which checkpoint, which search), and how their `main`
runs (`command`).

Only those entry points call `define_flags()`; importing this module (or anything in inference/)
defines no flag. It lives here, below the entry points, because the layering forbids one entry
point importing another, and both need the same definitions.
"""

import contextlib
import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from absl import flags, logging

from attn_seq2seq import cli
from attn_seq2seq.errors import ConfigError
from attn_seq2seq.inference import ensembles
from attn_seq2seq.models.attention_ablation import ATTENTION_ABLATIONS, with_ablation
from attn_seq2seq.search import ENSEMBLE_COMBINATIONS, MAX_ALPHA


class RunFlags(NamedTuple):
  """Holders of the flags that select a run, a checkpoint and a search."""

  workdir: flags.FlagHolder
  checkpoint_step: flags.FlagHolder
  beam_size: flags.FlagHolder
  alpha: flags.FlagHolder
  coverage_penalty: flags.FlagHolder
  oracle_length: flags.FlagHolder
  ensemble: flags.FlagHolder
  ablation: flags.FlagHolder

  def load_runs(self) -> list:
    """The run, or the ensemble's runs, that --workdir names, at --checkpoint_step, each model
    with --ablation applied (one-line errors for a bad run, runs that cannot form an ensemble, or
    --ensemble with one run)."""
    runs = ensembles.load_runs(self.workdir.value, self.checkpoint_step.value)
    if len(runs) == 1 and self.ensemble.value != "log_linear":
      raise ConfigError(
        f"--ensemble={self.ensemble.value} combines several runs; --workdir names one run"
      )
    if self.ablation.value == "none":
      return runs
    ablation = self.ablation.value
    return [dataclasses.replace(r, model=with_ablation(r.model, ablation)) for r in runs]

  def search_options(self) -> dict:
    """The search flags' values as `SearchSpec` fields (`SearchSpec.of_experiment(run.config,
    **options)` adds the run's output length limit)."""
    options = {
      "beam_size": self.beam_size.value,
      "alpha": self.alpha.value,
      "coverage_penalty": self.coverage_penalty.value,
      "ensemble": self.ensemble.value,
    }
    if self.oracle_length.value:
      options.update(min_len_a=1.0, min_len_b=0.0)
    return options


@functools.cache
def define_flags() -> RunFlags:
  """Defines the shared flags on absl's global `FLAGS` (once per process, however many entry
  points ask: the tests import both) and returns their holders."""
  holders = RunFlags(
    workdir=flags.DEFINE_string(
      "workdir",
      None,
      "Run directory written by attn_seq2seq.main; several, comma-separated, or a stacked run's "
      "root (all its members): an ensemble.",
    ),
    checkpoint_step=flags.DEFINE_integer(
      "checkpoint_step", None, "Checkpoint step to load (default: the latest)."
    ),
    beam_size=flags.DEFINE_integer(
      "beam_size", 1, "1: greedy search; K > 1: beam search keeping K hypotheses.", lower_bound=1
    ),
    alpha=flags.DEFINE_float(
      "alpha",
      0.0,
      "Beam search length normalisation ((5 + len) / 6) ** alpha; 0: none.",
      lower_bound=0.0,
    ),
    coverage_penalty=flags.DEFINE_float(
      "coverage_penalty",
      0.0,
      "Beam search coverage penalty weight beta (GNMT): beta * sum_j log(min(attention received "
      "by source position j, 1)) joins the score; 0: none.",
      lower_bound=0.0,
    ),
    oracle_length=flags.DEFINE_boolean(
      "oracle_length",
      False,
      "Oracle-length decoding: EOS is suppressed until the output (EOS excluded) is as long as "
      "the source (does the model stop early?).",
    ),
    ensemble=flags.DEFINE_enum(
      "ensemble",
      "log_linear",
      ENSEMBLE_COMBINATIONS,
      "How an ensemble's next-token distributions combine: log_linear (average log-probability, "
      "renormalised) or linear (average probability).",
    ),
    ablation=flags.DEFINE_enum(
      "ablation",
      "none",
      ATTENTION_ABLATIONS,
      "Decode with the attention replaced at every step: uniform over the source, the model's "
      "weights shuffled over positions, or zero_context (no context); none: the model's own. How "
      "much does the model rely on its attention? (Fixed-vector decoders have none to replace.)",
    ),
  )
  flags.register_validator(
    "alpha",
    lambda alpha: math.isfinite(alpha) and 0 <= alpha <= MAX_ALPHA,
    message=f"--alpha must be a finite number from 0 to {MAX_ALPHA:g} (0: no length normalisation)",
  )
  flags.register_validator(
    "coverage_penalty",
    math.isfinite,
    message="--coverage_penalty must be a finite number >= 0 (0: no coverage penalty)",
  )
  flags.mark_flag_as_required("workdir")
  return holders


@contextlib.contextmanager
def command(argv: Sequence[str]) -> Iterator[None]:
  """The body of translate's and evaluate's `main`: flags only (a positional argument is an
  error), log records on stderr from warnings up unless --verbosity is given, and every user
  error one `error:` line (`cli.user_errors`)."""
  cli.flags_only(argv)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # stderr: warnings and errors only
  with cli.user_errors():
    yield
