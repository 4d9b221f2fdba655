r"""Early stopping: each model trained to its own best validation score, `num_train_steps` the cap.

    python -m attn_seq2seq.main --config=configs/reverse.py --workdir=runs/reverse_es \
        --config.early_stopping.metric=exact_match --config.early_stopping.patience=5

`config.early_stopping` (experiment_config.py): `metric`, a headline validation metric of the
task (`loss`, `exact_match`, `wer`, `bleu`, ...); `mode`, which way it improves (`auto`: from the
metric, `config_checks.METRIC_MODES`); `patience`, evaluations without improvement before the
model stops (0: early stopping off, the default); `min_delta`, by how much an evaluation must beat
the best value to count as an improvement.

The validation split is evaluated every `eval_every_steps` and at `num_train_steps`. A `Tracker`
per model (one per member of a stacked run) keeps the best value and its step. The best step's
checkpoint is saved and kept (checkpoint.py's `keep`) and is the model evaluated on every split at
the end. A model stops after `patience` evaluations in a row without improvement; training ends
when every model has stopped, or at `num_train_steps`. The trackers are saved in every checkpoint
(`to_json`), so a resumed run takes the decisions an uninterrupted one takes.

Off, nothing is tracked: the model evaluated at the end is the last one, as before.
"""

import dataclasses
import math

import ml_collections

from attn_seq2seq import config_checks

STOPPED = "early_stopping"  # results.json `stop_reason` of a model that stopped early
CAPPED = "num_train_steps"  # ... of a model trained to the cap


@dataclasses.dataclass(frozen=True)
class Rule:
  """When an evaluation improves on the best one, and how long a model waits for one."""

  metric: str  # a headline validation metric, e.g. 'exact_match'
  mode: str  # 'max' (higher is better) or 'min'
  patience: int  # evaluations without improvement before stopping; 0: off
  min_delta: float  # an improvement beats the best value by more than this

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "Rule":
    """The rule of `config.early_stopping` (off for a config without that section)."""
    section = config.get("early_stopping")
    if section is None:
      return cls("loss", "min", 0, 0.0)
    mode = config_checks.early_stopping_mode(section)
    return cls(section.metric, mode, int(section.patience), float(section.min_delta))

  @property
  def enabled(self) -> bool:
    return self.patience > 0

  def improves(self, value: float, best: float | None) -> bool:
    """Whether `value` beats `best` (None: nothing yet) by more than min_delta; NaN never does."""
    if not math.isfinite(value):
      return False
    if best is None:
      return True
    return value > best + self.min_delta if self.mode == "max" else value < best - self.min_delta

  def describe(self) -> dict:
    """The rule, as results.json records it."""
    return dataclasses.asdict(self)


@dataclasses.dataclass
class Tracker:
  """One model's early-stopping state; `to_json` / `from_json` for the checkpoints."""

  best_step: int | None = None  # the step of the best evaluation so far
  best_value: float | None = None  # its value of the rule's metric
  best_totals: dict | None = None  # the run's `progress.Totals` at best_step (as JSON)
  evals_since_best: int = 0  # evaluations since best_step
  stopped_step: int | None = None  # the step this model stopped at; None: still training
  stopped_totals: dict | None = None  # the run's totals at stopped_step (as JSON)

  @property
  def stopped(self) -> bool:
    return self.stopped_step is not None

  def update(self, rule: Rule, step: int, value: float, totals: dict) -> bool:
    """Records the evaluation of `step` (`value` of the metric, the run's `totals` then);
    returns whether it is the new best. Stops the model once patience has run out."""
    improved = rule.improves(value, self.best_value)
    if improved:
      self.best_step, self.best_value, self.best_totals = step, float(value), totals
      self.evals_since_best = 0
    else:
      self.evals_since_best += 1
    if self.evals_since_best >= rule.patience:
      self.stopped_step, self.stopped_totals = step, totals
    return improved

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, record: dict) -> "Tracker":
    return cls(**record)
