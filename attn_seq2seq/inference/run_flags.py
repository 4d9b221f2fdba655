"""The command-line flags shared by `translate` and `evaluate`: which run, which checkpoint, which
search."""

import functools
import math
from typing import NamedTuple

from absl import flags


class RunFlags(NamedTuple):
  """Holders of the flags that select a run, a checkpoint and a search."""

  workdir: flags.FlagHolder
  checkpoint_step: flags.FlagHolder
  beam_size: flags.FlagHolder
  alpha: flags.FlagHolder


@functools.cache
def define_flags() -> RunFlags:
  """Defines the shared flags on absl's global `FLAGS` (once per process, however many CLI
  modules ask: both CLIs are imported together in tests) and returns their holders. A function,
  not import-time definitions, so that importing `load_run` defines no flags."""
  holders = RunFlags(
    workdir=flags.DEFINE_string("workdir", None, "Run directory written by attn_seq2seq.main."),
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
  )
  flags.register_validator(
    "alpha",
    lambda alpha: math.isfinite(alpha) and alpha >= 0,
    message="--alpha must be a finite number >= 0 (0: no length normalisation)",
  )
  flags.mark_flag_as_required("workdir")
  return holders
